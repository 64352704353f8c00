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
			resolving(e, r, locks, plans.KvGet), pipeline.Named("TxnGet"))),
		batchGet: pipeline.Collect(pipeline.Shard(e, batchGetSplit,
			resolving(e, r, locks, plans.KvBatchGet), pipeline.Named("TxnBatchGet")),
			(*kvrpcpb.BatchGetResponse).GetPairs),
		scan: pipeline.Stream(e, scanCursor, resolving(e, r, locks, plans.KvScan),
			pipeline.PageSize(batchSize), pipeline.Named("TxnScan")),
	}
}

// resolving is the per-region step of a snapshot read: Retry of m under
// the resolve-lock stage, which hands the locks TiKV reports to r and
// sends the piece again as a copy (Cmd.WithContext: the caller's request
// may be shared and is never modified) whose Context carries what r found
// in resolved_locks and committed_locks. Without a resolver, locks come
// back as the read's *kv.LockedError.
func resolving[Req interface {
	transport.Message
	GetVersion() uint64
	GetContext() *kvrpcpb.Context
}, Resp pipeline.Response](e *pipeline.Env, r pipeline.LockResolver, locks *seenLocks,
	m pipeline.Method[Req, Resp]) pipeline.Step[Req, Resp] {
	step := pipeline.Retry(e, m)
	if r == nil {
		return step
	}
	seeThrough := func(req Req, res pipeline.ResolveResult) Req {
		return m.Cmd.WithContext(req, locks.learn(req.GetContext(), res)).(Req)
	}
	return pipeline.ResolveLocks(e, r, Req.GetVersion, seeThrough, step, pipeline.ForReads())
}

var batchGetSplit = pipeline.ByKeys((*kvrpcpb.BatchGetRequest).GetKeys, func(k []byte) []byte { return k },
	func(r *kvrpcpb.BatchGetRequest, keys [][]byte) *kvrpcpb.BatchGetRequest {
		c := *r
		c.Keys = keys
		return &c
	}, pipeline.Limit[[]byte]{Keys: BatchGetSize})

// scanCursor pages KvScan (TiKV's scan in src/storage/mod.rs; semantics
// §3.3).
var scanCursor = plans.ScanCursor((*kvrpcpb.ScanResponse).GetPairs,
	func(r *kvrpcpb.ScanRequest, start, end []byte, limit uint32) *kvrpcpb.ScanRequest {
		c := *r
		c.StartKey, c.EndKey, c.Limit = start, end, limit
		return &c
	})

// readContext applies the snapshot's replica choice, its retry knobs
// (WithVariables) and its runtime stats to a call's context.
func (s *Snapshot) readContext(ctx context.Context) context.Context {
	ctx = s.statsContext(s.withVariables(ctx))
	if !s.cfg.replicaSet {
		return ctx
	}
	ro := pipeline.ReadOptionsFrom(ctx)
	ro.ReplicaRead = s.cfg.replicaRead
	return pipeline.WithReadOptions(ctx, ro)
}
