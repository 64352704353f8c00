package mocktikv

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/pingcap/kvproto/pkg/debugpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/mocktikv/internal/mvcc"
)

// commitTxn writes muts in one transaction at (start, commit) straight
// into the engine: the test is about what the debug service reads back.
func commitTxn(t *testing.T, c *Cluster, start, commit uint64, muts ...*kvrpcpb.Mutation) {
	t.Helper()
	pw := c.txn.store.Prewrite(&kvrpcpb.PrewriteRequest{PrimaryLock: muts[0].Key, StartVersion: start, LockTtl: 3000, Mutations: muts})
	eq(t, len(pw.Errors), 0, "prewrite errors")
	keys := make([][]byte, len(muts))
	for i, m := range muts {
		keys[i] = m.Key
	}
	cm := c.txn.store.Commit(&kvrpcpb.CommitRequest{StartVersion: start, CommitVersion: commit, Keys: keys})
	eq(t, cm.Error == nil, true, "commit error %v", cm.Error)
}

func put(k string, v []byte) *kvrpcpb.Mutation {
	return &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: v}
}

// TestDebugGetRegionProperties: debugpb.Debug/GetRegionProperties reports
// TiKV's MVCC property names for the region's range only, on every store
// holding a peer (TiKV's debugger reads the store's own engine, leader or
// not), the same over gRPC and in process.
func TestDebugGetRegionProperties(t *testing.T) {
	for _, v := range []via{viaUnary, viaSender} {
		t.Run(string(v), func(t *testing.T) {
			c := Start(t, WithStores(2), WithSplitKeys(mvcc.EncodeKey([]byte("m"))))
			long := bytes.Repeat([]byte("x"), 300) // over TiKV's 255-byte short value
			commitTxn(t, c, 10, 11, put("a", []byte("1")), put("b", long))
			commitTxn(t, c, 20, 25, put("a", []byte("2")), &kvrpcpb.Mutation{Op: kvrpcpb.Op_Del, Key: []byte("b")})
			commitTxn(t, c, 30, 31, &kvrpcpb.Mutation{Op: kvrpcpb.Op_Lock, Key: []byte("a")})
			commitTxn(t, c, 40, 41, put("z", []byte("other region"))) // right of the split

			left, _ := c.RegionByKey(mvcc.EncodeKey([]byte("a")))
			for _, store := range c.StoreIDs() {
				resp, err := callVia(timeout(t), t, c, v, store, cmdDebugGetRegionProperties,
					&debugpb.GetRegionPropertiesRequest{RegionId: left.Id})
				noErr(t, err)
				got := map[string]string{}
				for _, p := range resp.(*debugpb.GetRegionPropertiesResponse).Props {
					got[p.Name] = p.Value
				}
				want := map[string]string{
					"mvcc.min_ts":           "11",
					"mvcc.max_ts":           "31",
					"mvcc.num_rows":         "2",
					"mvcc.num_puts":         "3",
					"mvcc.num_deletes":      "1",
					"mvcc.num_versions":     "5", // a: put, put, lock; b: put, delete
					"mvcc.max_row_versions": "3",
					"writecf.num_entries":   "5",
					"writecf.num_deletes":   "0",
					"defaultcf.num_entries": "1", // b's long value
					"region.start_key":      "",
					"region.end_key":        hex.EncodeToString(mvcc.EncodeKey([]byte("m"))),
				}
				eq(t, len(got), len(want), "store %d: number of properties in %v", store, got)
				for name, w := range want {
					eq(t, got[name], w, "store %d: %s", store, name)
				}
			}
		})
	}
}

// TestDebugGetRegionPropertiesNotFound: a store without a peer of the
// region answers gRPC NotFound "region <id>", as TiKV's debugger does when
// the region's state is missing from the store's engine.
func TestDebugGetRegionPropertiesNotFound(t *testing.T) {
	for _, v := range []via{viaUnary, viaSender} {
		t.Run(string(v), func(t *testing.T) {
			c := Start(t, WithStores(2))
			r, leader := c.RegionByKey(nil)
			follower := c.StoreIDs()[0]
			if follower == leader.StoreId {
				follower = c.StoreIDs()[1]
			}
			noErr(t, c.RemovePeer(r.Id, follower))
			for _, tc := range []struct {
				name          string
				store, region uint64
			}{
				{"unknown region", leader.StoreId, 424242},
				{"no peer on the store", follower, r.Id},
			} {
				_, err := callVia(timeout(t), t, c, v, tc.store, cmdDebugGetRegionProperties,
					&debugpb.GetRegionPropertiesRequest{RegionId: tc.region})
				eq(t, status.Code(err), codes.NotFound, "%s: code of %v", tc.name, err)
				eq(t, status.Convert(err).Message(), fmt.Sprintf("region %d", tc.region), "%s: message", tc.name)
			}
		})
	}
}

// TestDebugGetRegionPropertiesFault: the debug command goes through the
// same fault table as the tikvpb commands, on both transports: a scripted
// Fail reaches the caller with its status, then the store answers again.
func TestDebugGetRegionPropertiesFault(t *testing.T) {
	for _, v := range []via{viaUnary, viaSender} {
		t.Run(string(v), func(t *testing.T) {
			c := Start(t)
			r, leader := c.RegionByKey(nil)
			c.Inject(Fault{Cmd: cmdDebugGetRegionProperties, Steps: []Step{Times(1, Fail(status.Error(codes.Unavailable, "injected")))}})
			req := &debugpb.GetRegionPropertiesRequest{RegionId: r.Id}
			_, err := callVia(timeout(t), t, c, v, leader.StoreId, cmdDebugGetRegionProperties, req)
			eq(t, status.Code(err), codes.Unavailable, "first call: code of %v", err)
			resp, err := callVia(timeout(t), t, c, v, leader.StoreId, cmdDebugGetRegionProperties, req)
			noErr(t, err)
			eq(t, len(resp.(*debugpb.GetRegionPropertiesResponse).Props) > 0, true, "second call answers properties")
		})
	}
}
