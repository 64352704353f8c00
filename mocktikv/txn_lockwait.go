package mocktikv

import (
	"context"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/mocktikv/internal/lockwait"
	"github.com/tikvgo/tikv/mocktikv/internal/mvcc"
)

// txnState is the cluster's transactional state: the MVCC engine and the
// lock manager (lock-wait queues and deadlock detector) of pessimistic
// locking. It is shared by all stores, as data is; TiKV's deadlock detector
// is cluster-wide too (one detector leader).
type txnState struct {
	store *mvcc.Store
	waits *lockwait.Manager
}

// newTxnState returns an empty state whose lock manager has TiKV's default
// settings unless opts change them (tests do).
func newTxnState(opts ...lockwait.Option) *txnState {
	t := &txnState{waits: lockwait.New(opts...)}
	t.store = mvcc.New(mvcc.Options{
		OnLockReleased: t.lockReleased,
		// The scheduler hands each command's new locks to
		// LockWaitQueues::update_lock_wait: waiters on the key now wait for
		// the new holder (and are re-checked for deadlock in force mode).
		OnLockAcquired: t.waits.LockAcquired,
	})
	return t
}

// lockReleased is called by the engine after a command removed a lock
// (commitTS 0: rolled back), with no engine lock held but possibly under
// c.mu's read lock; it does not block. It wakes the head of the key's
// lock-wait queue, as TiKV's scheduler does for every released lock
// (commit, rollback, pessimistic rollback, ResolveLock, CheckTxnStatus and
// CheckSecondaryLocks rollbacks, 1PC over a pessimistic lock).
func (t *txnState) lockReleased(key []byte, startTS, commitTS uint64) {
	t.waits.Released(key, startTS, commitTS)
}

// close ends every lock wait and stops the lock manager's timers; the
// cluster's Close calls it. Later waits end at once with the no-wait answer.
func (t *txnState) close() { t.waits.Close() }

// kvPessimisticLock is KvPessimisticLock with TiKV's lock waiting
// (commands/acquire_pessimistic_lock.rs, acquire_pessimistic_lock_resumed.rs,
// src/storage/lock_manager). A request that meets another transaction's
// lock is queued on that key while the engine still holds its lock table
// (so the release cannot be missed), then waits with no mutex held, c.mu
// included, until one of:
//   - the lock is released: a legacy request (WakeUpModeNormal) answers
//     WriteConflict(PessimisticRetry) and is not retried; a force-lock
//     request (WakeUpModeForceLock) re-checks its region and re-runs, and
//     waits again, with the same deadline, if it meets another lock;
//   - its wait_timeout (0: 1 s, capped at 1 s) passes: KeyError.locked;
//   - waiting would close a cycle of waits: KeyError.deadlock with the
//     wait chain, at once;
//   - the RPC's ctx ends, or the cluster closes: the no-wait answer.
//
// A negative wait_timeout answers at once with the blocking lock.
func (c *Cluster) kvPessimisticLock(ctx context.Context, storeID uint64, req *kvrpcpb.PessimisticLockRequest) *kvrpcpb.PessimisticLockResponse {
	if e := c.apiError(req.Context, "acquire_pessimistic_lock", mutationKeys(req.Mutations)...); e != nil {
		return &kvrpcpb.PessimisticLockResponse{Errors: []*kvrpcpb.KeyError{e}}
	}
	var w *lockwait.Waiter
	resp := withRegion(c, storeID, true, req.Context,
		func(e *errorpb.Error) *kvrpcpb.PessimisticLockResponse {
			return &kvrpcpb.PessimisticLockResponse{RegionError: e}
		},
		func(r *metapb.Region) (*kvrpcpb.PessimisticLockResponse, *errorpb.Error) {
			if k := firstKeyOutside(mutationKeys(req.Mutations), r); k != nil {
				return &kvrpcpb.PessimisticLockResponse{Errors: []*kvrpcpb.KeyError{outOfRegionKeyError(k, r)}}, nil
			}
			resp, _ := c.txn.store.PessimisticLockOrWait(req, func(b *mvcc.Blocked) {
				w = c.txn.waits.Enqueue(lockWaitRequest(req, b))
			})
			return resp, nil
		})
	if w == nil {
		return resp
	}
	return c.waitForLock(ctx, storeID, req, w, resp)
}

// lockWaitRequest describes req's wait for the lock b as the lock manager
// needs it.
func lockWaitRequest(req *kvrpcpb.PessimisticLockRequest, b *mvcc.Blocked) lockwait.Request {
	return lockwait.Request{
		Key:                   b.Key,
		StartTS:               req.StartVersion,
		Primary:               req.PrimaryLock,
		Lock:                  b.Lock,
		WaitTimeout:           req.WaitTimeout,
		IsFirstLock:           req.IsFirstLock,
		AllowLockWithConflict: forceLock(req),
		// A shared-lock request: when the last holder of what it waits for
		// goes, it is woken together with the shared requests queued right
		// behind it (lock_waiting_queue.rs pop_for_waking_up).
		Shared:           b.Shared,
		ResourceGroupTag: req.GetContext().GetResourceGroupTag(),
	}
}

// forceLock reports whether req is in allow_lock_with_conflict mode.
func forceLock(req *kvrpcpb.PessimisticLockRequest) bool {
	return req.WakeUpMode == kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock
}

// waitForLock waits on w, which the request's last execution queued, and
// turns the end of the wait into the response; noWait is that execution's
// answer (errors=[locked], plus results=[Failed] in force mode). It must be
// called with no mutex held.
func (c *Cluster) waitForLock(ctx context.Context, storeID uint64, req *kvrpcpb.PessimisticLockRequest, w *lockwait.Waiter, noWait *kvrpcpb.PessimisticLockResponse) *kvrpcpb.PessimisticLockResponse {
	defer w.Done()
	for {
		res := w.Wait(ctx)
		switch res.Outcome {
		case lockwait.Woken:
			// The legacy wake-up: the request ends with the conflict of
			// the release that woke it (scheduler.rs
			// wake_up_legacy_pessimistic_locks).
			return &kvrpcpb.PessimisticLockResponse{Errors: []*kvrpcpb.KeyError{mvcc.WriteConflictError(res.Conflict)}}
		case lockwait.LockTimeout:
			return lockFailed(req, &kvrpcpb.KeyError{Locked: res.Lock})
		case lockwait.Deadlock:
			// extract_key_error sets only deadlock (deadlock_key is never
			// filled).
			return lockFailed(req, &kvrpcpb.KeyError{Deadlock: res.Deadlock})
		case lockwait.Resume:
			resp, requeued := c.resumePessimisticLock(storeID, req, w)
			if !requeued {
				return resp
			}
			noWait = resp
		default:
			// Canceled: the RPC's ctx ended (its answer is dropped) or the
			// cluster closed. TiKV would drop the request; answering what
			// the no-wait mode does lets an in-process caller resolve the
			// lock and retry.
			return noWait
		}
	}
}

// lockFailed is the answer of a request whose wait failed with e: just the
// error in legacy mode; with results=[LockResultFailed] in force mode
// (kv.rs future_acquire_pessimistic_lock).
func lockFailed(req *kvrpcpb.PessimisticLockRequest, e *kvrpcpb.KeyError) *kvrpcpb.PessimisticLockResponse {
	resp := &kvrpcpb.PessimisticLockResponse{Errors: []*kvrpcpb.KeyError{e}}
	if forceLock(req) {
		resp.Results = []*kvrpcpb.PessimisticLockKeyResult{{Type: kvrpcpb.PessimisticLockKeyResultType_LockResultFailed}}
	}
	return resp
}

// resumePessimisticLock re-executes a woken force-lock request as TiKV's
// AcquirePessimisticLockResumed does: its region is checked again (it may
// have split or moved while the request waited), then the lock is
// acquired, every key exclusively. If it meets a lock again, w is requeued
// on it while the engine still holds its lock table, and requeued is true;
// but a SharedLocks met after resuming fails the key with KeyIsLocked at
// once (scheduler.rs on_wait_for_lock_after_resuming): the answer is then
// the no-wait one, errors=[locked] and results=[Failed].
func (c *Cluster) resumePessimisticLock(storeID uint64, req *kvrpcpb.PessimisticLockRequest, w *lockwait.Waiter) (resp *kvrpcpb.PessimisticLockResponse, requeued bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, rerr := c.checkRegionLocked(storeID, true, req.Context)
	if rerr != nil {
		// The only response mixing a region error with data (§7.4): the
		// resumed key's result is Failed.
		return &kvrpcpb.PessimisticLockResponse{
			RegionError: rerr,
			Results:     []*kvrpcpb.PessimisticLockKeyResult{{Type: kvrpcpb.PessimisticLockKeyResultType_LockResultFailed}},
		}, false
	}
	if k := firstKeyOutside(mutationKeys(req.Mutations), r.meta); k != nil {
		return &kvrpcpb.PessimisticLockResponse{Errors: []*kvrpcpb.KeyError{outOfRegionKeyError(k, r.meta)}}, false
	}
	resp, _ = c.txn.store.PessimisticLockResumedOrWait(req, func(b *mvcc.Blocked) {
		if b.Lock.GetLockType() == kvrpcpb.Op_SharedLock {
			return
		}
		w.Requeue(b.Lock)
		requeued = true
	})
	return resp, requeued
}
