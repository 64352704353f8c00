package txn

import (
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
)

// BatchGetSize caps the keys of one KvBatchGet RPC (client-go's
// txnsnapshot batchGetSize); a larger batch for one region is cut into
// several RPCs, sent in parallel.
const BatchGetSize = 5120

// snapshotPlans are one snapshot's compiled reads. They are compiled per
// snapshot because the resolve-lock stage records what it learns in that
// snapshot's seenLocks; compiling is building a few closures.
type snapshotPlans struct {
	get      pipeline.Plan[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse]
	batchGet pipeline.Plan[*kvrpcpb.BatchGetRequest, []*kvrpcpb.KvPair]
	scan     pipeline.StreamPlan[*kvrpcpb.ScanRequest, *kvrpcpb.ScanResponse]
}

func compileSnapshotPlans(e *pipeline.Env, r pipeline.LockResolver, locks *seenLocks, batchSize int) snapshotPlans {
	return snapshotPlans{
		get: pipeline.Single(pipeline.Shard(e, pipeline.ByKey((*kvrpcpb.GetRequest).GetKey),
			resolving(e, r, locks, plans.KvGet, getWithContext), pipeline.Named("TxnGet"))),
		batchGet: pipeline.Collect(pipeline.Shard(e, batchGetSplit,
			resolving(e, r, locks, plans.KvBatchGet, batchGetWithContext), pipeline.Named("TxnBatchGet")),
			(*kvrpcpb.BatchGetResponse).GetPairs),
		scan: pipeline.Stream(e, scanCursor, resolving(e, r, locks, plans.KvScan, scanWithContext),
			pipeline.PageSize(batchSize), pipeline.Named("TxnScan")),
	}
}

// resolving is the per-region step of a snapshot read: Retry of m under
// the resolve-lock stage, which hands the locks TiKV reports to r and
// sends the piece again as a copy whose Context (replaced by with) carries
// what r found in resolved_locks and committed_locks. Without a resolver,
// locks come back as the read's *kv.LockedError.
func resolving[Req interface {
	transport.Message
	GetVersion() uint64
	GetContext() *kvrpcpb.Context
}, Resp pipeline.Response](e *pipeline.Env, r pipeline.LockResolver, locks *seenLocks,
	m pipeline.Method[Req, Resp], with func(Req, *kvrpcpb.Context) Req) pipeline.Step[Req, Resp] {
	step := pipeline.Retry(e, m)
	if r == nil {
		return step
	}
	seeThrough := func(req Req, res pipeline.ResolveResult) Req {
		return with(req, locks.learn(req.GetContext(), res))
	}
	return pipeline.ResolveLocks(e, r, Req.GetVersion, seeThrough, step, pipeline.ForReads())
}

// The request copies the resolve-lock stage sends again: the caller's
// request may be shared and is never modified.
func getWithContext(r *kvrpcpb.GetRequest, c *kvrpcpb.Context) *kvrpcpb.GetRequest {
	cp := *r
	cp.Context = c
	return &cp
}

func batchGetWithContext(r *kvrpcpb.BatchGetRequest, c *kvrpcpb.Context) *kvrpcpb.BatchGetRequest {
	cp := *r
	cp.Context = c
	return &cp
}

func scanWithContext(r *kvrpcpb.ScanRequest, c *kvrpcpb.Context) *kvrpcpb.ScanRequest {
	cp := *r
	cp.Context = c
	return &cp
}

var batchGetSplit = pipeline.ByKeys((*kvrpcpb.BatchGetRequest).GetKeys, func(k []byte) []byte { return k },
	func(r *kvrpcpb.BatchGetRequest, keys [][]byte) *kvrpcpb.BatchGetRequest {
		c := *r
		c.Keys = keys
		return &c
	}, pipeline.Limit[[]byte]{Keys: BatchGetSize})

// scanCursor pages KvScan. Like a raw reverse scan, TiKV reads a reverse
// txn scan's start_key as the exclusive upper bound and end_key as the
// inclusive lower one (src/storage/mod.rs scan; semantics §3.3). The
// request's Limit is the overall limit (0: none); each page asks for the
// page size.
var scanCursor = pipeline.Cursor[*kvrpcpb.ScanRequest, *kvrpcpb.ScanResponse]{
	Bounds: func(r *kvrpcpb.ScanRequest) ([]byte, []byte, bool, int) {
		if r.GetReverse() {
			return r.GetEndKey(), r.GetStartKey(), true, int(r.GetLimit())
		}
		return r.GetStartKey(), r.GetEndKey(), false, int(r.GetLimit())
	},
	With: func(r *kvrpcpb.ScanRequest, lower, upper []byte, limit int) *kvrpcpb.ScanRequest {
		c := *r
		if c.Reverse {
			c.StartKey, c.EndKey = upper, lower
		} else {
			c.StartKey, c.EndKey = lower, upper
		}
		c.Limit = uint32(limit)
		return &c
	},
	Count: func(r *kvrpcpb.ScanResponse) int { return len(r.GetPairs()) },
	Last: func(r *kvrpcpb.ScanResponse) []byte {
		ps := r.GetPairs()
		return ps[len(ps)-1].GetKey()
	},
}

// readContext applies the snapshot's replica choice to a call's context.
func (s *Snapshot) readContext(ctx context.Context) context.Context {
	if !s.cfg.replicaSet {
		return ctx
	}
	ro := pipeline.ReadOptionsFrom(ctx)
	ro.ReplicaRead = s.cfg.replicaRead
	return pipeline.WithReadOptions(ctx, ro)
}
