package txn

import (
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

func compileSnapshotPlans(e *pipeline.Env, r pipeline.LockResolver, locks *seenLocks, batchSize int, g readGuard) snapshotPlans {
	getKeys := func(*kvrpcpb.GetRequest) int { return 1 }
	batchKeys := func(r *kvrpcpb.BatchGetRequest) int { return len(r.GetKeys()) }
	return snapshotPlans{
		get: pipeline.Single(pipeline.ShardByKey(e, (*kvrpcpb.GetRequest).GetKey,
			resolving(e, r, locks, guarded(g, getKeys, pipeline.Retry(e, plans.KvGet)), plans.KvGet), pipeline.Named("TxnGet"))),
		batchGet: pipeline.Collect(pipeline.Shard(e, batchGetSplit,
			resolving(e, r, locks, guarded(g, batchKeys, pipeline.Retry(e, plans.KvBatchGet)), plans.KvBatchGet), pipeline.Named("TxnBatchGet")),
			(*kvrpcpb.BatchGetResponse).GetPairs),
		// A scan asks no adjuster (client-go's scanner does not either).
		scan: pipeline.Stream(e, scanCursor, resolving(e, r, locks, guarded(g, nil, pipeline.Retry(e, plans.KvScan)), plans.KvScan),
			pipeline.PageSize(batchSize), pipeline.Named("TxnScan")),
	}
}

// resolving is the per-region step of a snapshot read: step (Retry of m,
// guarded) under the resolve-lock stage, which hands the locks TiKV reports to r and
// sends the piece again as a copy (Cmd.WithContext: the caller's request
// may be shared and is never modified) whose Context carries what r found
// in resolved_locks and committed_locks. Without a resolver, locks come
// back as the read's *kv.LockedError.
func resolving[Req interface {
	transport.Message
	GetVersion() uint64
	GetContext() *kvrpcpb.Context
}, Resp pipeline.Response](e *pipeline.Env, r pipeline.LockResolver, locks *seenLocks,
	step pipeline.Step[Req, Resp], m pipeline.Method[Req, Resp]) pipeline.Step[Req, Resp] {
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
