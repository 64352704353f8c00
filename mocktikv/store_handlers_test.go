package mocktikv

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// TestGetStoreSafeTS: a store reports the smallest safe ts of its peers in
// the key range (all regions for an empty range), skipping peers whose safe
// ts is 0; it has no Context, so no region checks apply. It is a unary
// RPC only (BatchCommands cannot carry it).
func TestGetStoreSafeTS(t *testing.T) {
	for _, v := range []via{viaUnary, viaSender} {
		t.Run(string(v), func(t *testing.T) {
			c := Start(t, WithStores(2), WithSplitKeys([]byte("g"), []byte("p")))
			ids := func(key string) uint64 { r, _ := c.RegionByKey([]byte(key)); return r.Id }
			noErr(t, c.SetSafeTS(ids("a"), 300))
			noErr(t, c.SetSafeTS(ids("h"), 200))
			noErr(t, c.SetSafeTS(ids("q"), 0)) // uninitialised
			safeTS := func(store uint64, start, end string) uint64 {
				resp, err := callVia(timeout(t), t, c, v, store, transport.CmdStoreSafeTS,
					&kvrpcpb.StoreSafeTSRequest{KeyRange: &kvrpcpb.KeyRange{StartKey: []byte(start), EndKey: []byte(end)}})
				noErr(t, err)
				return resp.(*kvrpcpb.StoreSafeTSResponse).SafeTs
			}
			cases := []struct {
				name       string
				store      uint64
				start, end string
				want       uint64
			}{
				{"whole store", 1, "", "", 200},
				{"followers count too", 2, "", "", 200},
				{"first region", 1, "", "g", 300},
				{"range ends at a boundary", 1, "a", "h", 200},
				{"only the uninitialised region", 1, "q", "", 0},
				{"open end", 1, "h", "", 200},
			}
			for _, tc := range cases {
				eq(t, safeTS(tc.store, tc.start, tc.end), tc.want, "%s", tc.name)
			}

			// The default follows the TSO: not below a timestamp issued
			// before the query.
			c.ResetSafeTS(ids("q"))
			before := c.currentTS()
			if got := safeTS(1, "q", ""); got <= before {
				t.Fatalf("default safe ts %d, want above %d", got, before)
			}
		})
	}
}
