package twopc

import (
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
)

// An async-commit or 1PC transaction may be committed by its prewrite
// alone: async commit once every lock is written (a reader that meets one
// commits it from its locks), 1PC once its one batch applied. So when a
// prewrite attempt's answer was lost and a later attempt of the same batch
// fails, the outcome is unknown, and client-go reports the whole commit
// undetermined (prewrite.go's drop sets undeterminedErr; 2pc.go's execute
// returns ErrResultUndetermined, with a TODO to return the real error
// instead). Under contention that is common: the retry meets a write
// conflict or another transaction's lock.
//
// When TiKV did answer such a retry with a key error, this committer
// settles the outcome instead, the way a reader would (txnlock's
// resolveAsyncCommit, client-go's checkAllSecondaries): one
// KvCheckSecondaryLocks over every key the transaction writes, the primary
// included. TiKV's check_secondary_locks answers per key: our lock (left in
// place), our commit record, or our rollback record, and on a key with no
// trace of us it writes a protected rollback record first, so that no
// attempt still in flight can lock the key afterwards. Hence:
//
//   - a key committed: the transaction is committed at that commit ts (a
//     reader committed it, or its 1PC batch applied): success;
//   - a key rolled back (or just marked so): the transaction can never
//     have every lock, is not committed and never will be: its locks are
//     rolled back and the prewrite's failure is returned, determined;
//   - every key locked with async commit: every prewrite applied, the
//     transaction is committed at the largest min_commit_ts (the ts any
//     reader would commit it at): success, and the commit phase is queued;
//   - every key locked, one without async commit: a batch fell back to
//     two-phase commit, so only a primary commit, never sent, could commit
//     the transaction: rolled back, determined.
//
// Answers that contradict each other, or a check that fails, leave the
// outcome kv.ErrUndetermined, as does a prewrite whose unknown batches
// never heard back from TiKV (lost answers to the end, a cancelled call,
// UndeterminedResult): client-go's cases, kept as they are.

// prewriteAnswer marks a prewrite failure TiKV answered with key errors
// (as opposed to a send that failed): prewriteStep wraps them, so that the
// committer can tell a retry that TiKV refused from one that never came
// back.
type prewriteAnswer struct{ err error }

func (e *prewriteAnswer) Error() string { return e.err.Error() }
func (e *prewriteAnswer) Unwrap() error { return e.err }

// answeredByTiKV reports whether a failed batch of the prewrite ended with
// an answer of TiKV's.
func (e *PrewriteError) answeredByTiKV() bool {
	answered := func(err error) bool {
		var a *prewriteAnswer
		return err != nil && errors.As(err, &a)
	}
	var se *pipeline.ShardError[*prewriteReq, *kvrpcpb.PrewriteResponse]
	if errors.As(e.Cause, &se) {
		for _, p := range se.Pieces {
			if answered(p.Err) {
				return true
			}
		}
		return false
	}
	return answered(e.Cause)
}

// definitelyFailedBatch reports whether some batch of the prewrite failed
// with no attempt that may have applied, or was never sent: its keys hold
// no lock of the transaction and never will (no attempt of it is left in
// flight), so an async-commit transaction can never have every lock and a
// 1PC one, a single batch, did not apply.
func (e *PrewriteError) definitelyFailedBatch() bool {
	var se *pipeline.ShardError[*prewriteReq, *kvrpcpb.PrewriteResponse]
	if !errors.As(e.Cause, &se) {
		return false
	}
	for _, p := range se.Pieces {
		if p.State == pipeline.PieceFailed || p.State == pipeline.PieceNotRun {
			return true
		}
	}
	return false
}

// buildSettle builds the status check of settlePrewrite: KvCheckSecondaryLocks
// by region, in key batches.
func (c *Committer) buildSettle() {
	c.checkLocks = pipeline.Shard(c.env, keysSplit[*kvrpcpb.CheckSecondaryLocksRequest](
		func(r *kvrpcpb.CheckSecondaryLocksRequest) [][]byte { return r.Keys },
		func(r *kvrpcpb.CheckSecondaryLocksRequest, keys [][]byte) *kvrpcpb.CheckSecondaryLocksRequest {
			c := *r
			c.Keys = keys
			return &c
		}, c.opts.BatchSize), pipeline.Retry(c.env, plans.KvCheckSecondaryLocks), pipeline.Named("CheckSecondaryLocks"))
}

// settleVerdict is what the keys' check says about the transaction.
type settleVerdict struct {
	commitTS   uint64 // a key's commit record
	rolledBack bool   // a key's rollback record
	locked     int    // keys still locked by the transaction
	nonAsync   bool   // a lock without async commit
	maxMin     uint64 // the largest min_commit_ts of the locks
	conflict   string // answers contradicting each other
}

func (v *settleVerdict) add(startTS uint64, keys int, resp *kvrpcpb.CheckSecondaryLocksResponse) {
	locks := resp.GetLocks()
	if len(locks) < keys {
		// TiKV stops at the first key committed or rolled back, and then
		// reports no lock (check_secondary_locks.rs).
		if ts := resp.GetCommitTs(); ts != 0 {
			if v.commitTS != 0 && v.commitTS != ts {
				v.conflict = fmt.Sprintf("committed at %d and at %d", v.commitTS, ts)
			}
			v.commitTS = ts
		} else {
			v.rolledBack = true
		}
	}
	for _, l := range locks {
		if l.GetLockVersion() != startTS {
			v.conflict = fmt.Sprintf("key %q answered a lock of txn %d", l.GetKey(), l.GetLockVersion())
		}
		if !l.GetUseAsyncCommit() {
			v.nonAsync = true
		}
		v.maxMin = max(v.maxMin, l.GetMinCommitTs())
		v.locked++
	}
}

// settlePrewrite decides the outcome of an async-commit or 1PC prewrite
// that ended undetermined after TiKV answered a retry with a key error (see
// the comment at the top of this file). It reports false when the outcome
// stays unknown; otherwise the commit's result: nil for a committed
// transaction (d.CommitTS set, the commit phase queued when locks are
// left), pe for one that is not committed (its rollback queued).
func (c *Committer) settlePrewrite(t *txn, pe *PrewriteError, d *CommitDetails) (bool, error) {
	if !pe.answeredByTiKV() {
		return false, nil
	}
	if len(t.commitKeys) == 0 {
		// Only CheckNotExists keys: nothing was written, nothing can be.
		d.PrewriteSettled = true
		return true, pe
	}
	req := &kvrpcpb.CheckSecondaryLocksRequest{Context: t.writeCtx, StartVersion: t.startTS, Keys: t.commitKeys}
	parts, err := c.checkLocks(t.ctx, req)
	if err != nil {
		d.PrewriteSettleErr = err
		return false, nil
	}
	var v settleVerdict
	for _, p := range parts {
		v.add(t.startTS, len(p.Req.Keys), p.Resp)
	}
	switch {
	case v.conflict == "" && v.commitTS != 0 && v.rolledBack:
		v.conflict = fmt.Sprintf("committed at %d and rolled back", v.commitTS)
	case v.conflict == "" && v.commitTS == 0 && !v.rolledBack && !v.nonAsync && v.maxMin == 0:
		v.conflict = "every key locked with no min commit ts"
	}
	if v.conflict != "" {
		d.PrewriteSettleErr = fmt.Errorf("twopc: check of txn %d's keys: %s", t.startTS, v.conflict)
		return false, nil
	}
	d.PrewriteSettled = true
	switch {
	case v.rolledBack, v.commitTS == 0 && v.nonAsync:
		c.queueRollback(t, d)
		return true, pe
	case v.commitTS != 0:
		d.CommitTS = v.commitTS
	default:
		d.CommitTS = v.maxMin
	}
	d.Protocol = t.proto.tried()
	if v.locked > 0 {
		d.Protocol = ProtocolAsyncCommit
		c.queueAsyncCommit(t, d)
	}
	return true, nil
}
