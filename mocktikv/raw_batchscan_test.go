package mocktikv

import (
	"slices"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

func TestRawBatchScan(t *testing.T) {
	// Storage::raw_batch_scan: ranges scanned in order with each_limit
	// each, like RawScan (reverse: start is the exclusive upper bound, end
	// the inclusive lower one); an empty end of a range but the last is the
	// next range's start; results are concatenated; ranges whose end does
	// not lie after (forward) or before (reverse) the start are refused
	// with "Invalid KeyRanges"; the region bounds every range.
	for _, api := range storageVersions {
		t.Run(api.String(), func(t *testing.T) {
			e := newRawEnv(t, api, WithSplitKeys(e0(api, "f")))
			k := e.key
			for _, key := range []string{"a", "b", "c", "d", "e", "f", "g"} {
				e.put(k(key), key+key, 0)
			}
			kr := func(s, end string) *kvrpcpb.KeyRange {
				r := &kvrpcpb.KeyRange{StartKey: []byte(k(s))}
				if end != "" {
					r.EndKey = []byte(k(end))
				}
				return r
			}
			cases := []struct {
				name    string
				ranges  []*kvrpcpb.KeyRange
				limit   uint32
				keyOnly bool
				reverse bool
				want    []string
				wantErr string
			}{
				{name: "two ranges", ranges: []*kvrpcpb.KeyRange{kr("a", "b"), kr("c", "e")}, limit: 10,
					want: []string{"a=aa", "c=cc", "d=dd"}},
				{name: "each limit", ranges: []*kvrpcpb.KeyRange{kr("a", "c"), kr("c", "f")}, limit: 1,
					want: []string{"a=aa", "c=cc"}},
				{name: "empty end is the next start", ranges: []*kvrpcpb.KeyRange{kr("a", ""), kr("d", "e")}, limit: 10,
					want: []string{"a=aa", "b=bb", "c=cc", "d=dd"}},
				{name: "key only", ranges: []*kvrpcpb.KeyRange{kr("b", "d")}, limit: 10, keyOnly: true,
					want: []string{"b=", "c="}},
				{name: "clipped to the region", ranges: []*kvrpcpb.KeyRange{kr("d", "z")}, limit: 10,
					want: []string{"d=dd", "e=ee"}},
				{name: "reverse", ranges: []*kvrpcpb.KeyRange{kr("e", "c"), kr("b", "a")}, limit: 10, reverse: true,
					want: []string{"d=dd", "c=cc", "a=aa"}},
				{name: "reverse, empty end is the next start", ranges: []*kvrpcpb.KeyRange{kr("e", ""), kr("b", "a")}, limit: 1, reverse: true,
					want: []string{"d=dd", "a=aa"}},
				{name: "zero limit", ranges: []*kvrpcpb.KeyRange{kr("a", "e")}, limit: 0},
				{name: "inverted", ranges: []*kvrpcpb.KeyRange{kr("c", "a")}, limit: 10, wantErr: "Invalid KeyRanges"},
				{name: "empty", ranges: []*kvrpcpb.KeyRange{kr("c", "c")}, limit: 10, wantErr: "Invalid KeyRanges"},
				{name: "reverse, ascending", ranges: []*kvrpcpb.KeyRange{kr("a", "c")}, limit: 10, reverse: true, wantErr: "Invalid KeyRanges"},
				{name: "empty end before a smaller start", ranges: []*kvrpcpb.KeyRange{kr("c", ""), kr("a", "b")}, limit: 10, wantErr: "Invalid KeyRanges"},
			}
			for _, tc := range cases {
				if api == kvrpcpb.APIVersion_V2 && slices.ContainsFunc(tc.ranges, func(r *kvrpcpb.KeyRange) bool { return len(r.EndKey) == 0 }) {
					continue // V2 refuses empty ends (TestRawV2KeyMode)
				}
				resp := at[*kvrpcpb.RawBatchScanResponse](e, transport.CmdRawBatchScan, k("a"), &kvrpcpb.RawBatchScanRequest{
					Ranges: tc.ranges, EachLimit: tc.limit, KeyOnly: tc.keyOnly, Reverse: tc.reverse,
				})
				if resp.RegionError != nil {
					t.Fatalf("%s: %v", tc.name, resp.RegionError)
				}
				if tc.wantErr != "" {
					eq(t, onlyErrorPair(t, resp.Kvs), tc.wantErr, "%s", tc.name)
					continue
				}
				var want []string
				for _, w := range tc.want {
					want = append(want, k("")+w)
				}
				eqStrings(t, pairStrings(t, resp.Kvs), want, tc.name)
			}

			// A range starting outside the region fails the whole request.
			resp := at[*kvrpcpb.RawBatchScanResponse](e, transport.CmdRawBatchScan, k("a"), &kvrpcpb.RawBatchScanRequest{
				Ranges: []*kvrpcpb.KeyRange{kr("a", "b"), kr("g", "h")}, EachLimit: 10,
			})
			wantKeyNotInRegion(t, resp.RegionError, e0(api, "g"), e.ctx(k("a")).RegionId)
			eq(t, len(resp.Kvs), 0, "pairs beside the region error")
		})
	}
}

func TestRawScanV2(t *testing.T) {
	// Under V2 scans compare the stored (memcomparable) keys with the
	// region, return user keys, and resume at region boundaries in stored
	// form, as client-go's codec expects.
	e := newRawEnv(t, kvrpcpb.APIVersion_V2, WithSplitKeys(e0(kvrpcpb.APIVersion_V2, "c")))
	k := e.key
	for _, key := range []string{"a", "b", "c", "d"} {
		e.put(k(key), key, 0)
	}
	eqStrings(t, e.scan(k("a"), k("z")), []string{k("a") + "=a", k("b") + "=b"}, "first region")
	eqStrings(t, e.scan(k("c"), k("z")), []string{k("c") + "=c", k("d") + "=d"}, "second region")
	r, _ := e.c.RegionByKey(e0(kvrpcpb.APIVersion_V2, "a"))
	eqBytes(t, r.EndKey, e0(kvrpcpb.APIVersion_V2, "c"), "region end in stored form")

	// Reverse from the region's end key, as a client resuming does.
	rev := call[*kvrpcpb.RawScanResponse](e, transport.CmdRawScan, e.ctx(k("a")), &kvrpcpb.RawScanRequest{
		StartKey: []byte(k("c")), EndKey: []byte(k("")), Limit: 10, Reverse: true,
	})
	eqStrings(t, pairStrings(t, rev.Kvs), []string{k("b") + "=b", k("a") + "=a"}, "reverse from the region end")

	out := call[*kvrpcpb.RawScanResponse](e, transport.CmdRawScan, e.ctx(k("a")), &kvrpcpb.RawScanRequest{
		StartKey: []byte(k("d")), EndKey: []byte(k("z")), Limit: 10,
	})
	wantKeyNotInRegion(t, out.RegionError, e0(kvrpcpb.APIVersion_V2, "d"), r.Id)
}
