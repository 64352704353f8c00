package plans

import (
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pipeline"
)

// ScanRequest is what TiKV's scan requests (RawScan, KvScan) have in
// common: a range, a direction and a limit.
type ScanRequest interface {
	GetStartKey() []byte
	GetEndKey() []byte
	GetReverse() bool
	GetLimit() uint32
}

// ScanCursor returns the pipeline.Cursor that pages a scan command
// through regions. TiKV reads a reverse scan's start_key as the exclusive
// upper bound and end_key as the inclusive lower one (src/storage/mod.rs,
// scan and raw_scan), so the cursor swaps them for reverse scans; the
// request's Limit is the overall limit (0: none), each page asking for at
// most the page size. pairs returns a page's pairs; with returns a copy of
// a request (never the request itself) with the given start key, end key
// and limit, as the command spells them.
func ScanCursor[Req ScanRequest, Resp any](pairs func(Resp) []*kvrpcpb.KvPair,
	with func(r Req, start, end []byte, limit uint32) Req) pipeline.Cursor[Req, Resp] {
	return pipeline.Cursor[Req, Resp]{
		Bounds: func(r Req) ([]byte, []byte, bool, int) {
			if r.GetReverse() {
				return r.GetEndKey(), r.GetStartKey(), true, int(r.GetLimit())
			}
			return r.GetStartKey(), r.GetEndKey(), false, int(r.GetLimit())
		},
		With: func(r Req, lower, upper []byte, limit int) Req {
			if r.GetReverse() {
				return with(r, upper, lower, uint32(limit))
			}
			return with(r, lower, upper, uint32(limit))
		},
		Count: func(resp Resp) int { return len(pairs(resp)) },
		Last: func(resp Resp) []byte {
			ps := pairs(resp)
			return ps[len(ps)-1].GetKey()
		},
	}
}
