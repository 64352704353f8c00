package gc

import (
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/rangetask"
	"github.com/tikvgo/tikv/txn/txnlock"
)

// lockSweep settles the locks at or below maxVersion in a range: the
// rangetask handler of a GC round.
type lockSweep struct {
	env        *pipeline.Env
	resolver   *txnlock.Resolver
	maxVersion uint64
	limit      int
}

// scanLockCursor pages KvScanLock through regions: a full page continues
// after its last lock within the region.
var scanLockCursor = pipeline.Cursor[*kvrpcpb.ScanLockRequest, *kvrpcpb.ScanLockResponse]{
	Bounds: func(r *kvrpcpb.ScanLockRequest) ([]byte, []byte, bool, int) { return r.StartKey, r.EndKey, false, 0 },
	With: func(r *kvrpcpb.ScanLockRequest, lower, upper []byte, limit int) *kvrpcpb.ScanLockRequest {
		c := &kvrpcpb.ScanLockRequest{MaxVersion: r.MaxVersion, StartKey: lower, EndKey: upper, Limit: uint32(limit)}
		return c
	},
	Count: func(r *kvrpcpb.ScanLockResponse) int { return len(r.GetLocks()) },
	Last: func(r *kvrpcpb.ScanLockResponse) []byte {
		l := r.GetLocks()
		if len(l) == 0 {
			return nil
		}
		return l[len(l)-1].GetKey()
	},
}

// run scans r's locks page by page (one region per page; stale routing
// re-locates and scans again, inside the stream) and settles each page's
// locks before the next page is read, as client-go's
// ResolveLocksForRange does: a region counts as completed once its last
// page (one not full) is settled.
func (s *lockSweep) run(ctx context.Context, r kv.KeyRange) (rangetask.Stat, error) {
	var st rangetask.Stat
	scan := pipeline.Stream(s.env, scanLockCursor, pipeline.Retry(s.env, plans.KvScanLock), pipeline.PageSize(s.limit))
	for part, err := range scan(ctx, &kvrpcpb.ScanLockRequest{MaxVersion: s.maxVersion, StartKey: r.Start, EndKey: r.End}) {
		if err != nil {
			return st, err
		}
		locks := sweepLocks(part.Resp.GetLocks())
		if err := s.resolver.BatchResolveLocks(ctx, locks); err != nil {
			st.FailedRegions++
			return st, err
		}
		if len(part.Resp.GetLocks()) < s.limit {
			st.CompletedRegions++
		}
	}
	return st, nil
}

// sweepLocks turns scanned lock infos into the resolver's locks. A shared
// lock stands for the transactions that hold it, each listed in its
// SharedLockInfos (TiKV's shared locks; client-go's
// scanLocksInOneRegionWithRange expands them the same way): each holder's
// lock is resolved on its own, the container never (the resolver refuses
// it).
func sweepLocks(infos []*kvrpcpb.LockInfo) []*kv.Lock {
	out := make([]*kv.Lock, 0, len(infos))
	for _, li := range infos {
		out = append(out, plans.LocksFromInfo(li)...)
	}
	return out
}
