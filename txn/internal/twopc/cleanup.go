package twopc

import (
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
)

// queueRollback hands the rollback of every key the transaction may have
// locked to the Group (client-go's cleanup, run in the background after a
// failed commit whose primary is known not to have committed). Keys never
// prewritten get a rollback record, which TiKV writes for a missing lock
// (actions/cleanup.rs) and which also stops a prewrite of this
// transaction still in flight from locking them later. CheckNotExists keys
// left no lock and are skipped.
//
// A rollback that fails leaves locks that expire with their TTL and are
// rolled back by the readers that meet them.
func (c *Committer) queueRollback(t *txn, d *CommitDetails) {
	t.stopHeartbeat() // a heartbeat must not race the rollback of its lock
	if len(t.commitKeys) == 0 {
		return
	}
	req := &kvrpcpb.BatchRollbackRequest{Context: t.rollbackCtx, StartVersion: t.startTS, Keys: t.commitKeys}
	err := c.group.goCaused(t.ctx, func(ctx context.Context) error {
		outs, _ := c.rollback(ctx, req)
		return piecesFailed("rollback", t.startTS, outs)
	})
	d.RollbackQueued = err == nil
}

func (c *Committer) buildRollback() {
	c.rollback = pipeline.ShardEach(c.env, keysSplit[*kvrpcpb.BatchRollbackRequest](
		func(r *kvrpcpb.BatchRollbackRequest) [][]byte { return r.Keys },
		func(r *kvrpcpb.BatchRollbackRequest, keys [][]byte) *kvrpcpb.BatchRollbackRequest {
			c := *r
			c.Keys = keys
			return &c
		}, c.opts.BatchSize), pipeline.Retry(c.env, plans.KvBatchRollback), pipeline.Named("Rollback"))
}

func (c *Committer) buildPlans() {
	c.buildPrewrite()
	c.buildCommit()
	c.buildRollback()
	c.buildHeartbeat()
	c.buildPessimistic()
	c.buildSettle()
}
