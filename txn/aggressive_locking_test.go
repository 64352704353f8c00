package txn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestAggressiveLockingMisuse: where client-go panics, the calls fail
// with typed errors and change nothing; Commit and Rollback of a stage
// that still holds locks fail with ErrAggressiveLockingPending and roll
// the transaction back, releasing them (client-go leaves them to expire).
func TestAggressiveLockingMisuse(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		ctx := context.Background()

		opt := p.begin()
		if err := opt.StartAggressiveLocking(); !errors.Is(err, txn.ErrAggressiveLockingOptimistic) || !errors.Is(err, kv.ErrInvalidArgument) {
			t.Fatalf("start in an optimistic txn: %v", err)
		}

		tx := p.beginPessimistic()
		for name, call := range map[string]func(context.Context) error{
			"retry": tx.RetryAggressiveLocking, "cancel": tx.CancelAggressiveLocking, "done": tx.DoneAggressiveLocking,
		} {
			if err := call(ctx); !errors.Is(err, txn.ErrAggressiveLockingNotStarted) {
				t.Fatalf("%s before start: %v", name, err)
			}
		}
		if err := tx.LockKeys(ctx, &txn.LockCtx{AtForUpdateTS: tx.StartTS() - 1}, []byte("k")); !errors.Is(err, kv.ErrInvalidArgument) {
			t.Fatalf("lock below the start ts: %v", err)
		}
		mustOK(t, "start", tx.StartAggressiveLocking())
		if err := tx.StartAggressiveLocking(); !errors.Is(err, txn.ErrAggressiveLockingStarted) {
			t.Fatalf("second start: %v", err)
		}
		fairLock(t, tx, nil, "k")
		mustOK(t, "done", tx.DoneAggressiveLocking(ctx))
		mustOK(t, "set", tx.Set([]byte("k"), []byte("v")))
		mustOK(t, "commit", tx.Commit(ctx))
		p.mustGet("k", "v")

		// Commit, then Rollback, with a pending stage.
		for _, end := range []string{"commit", "rollback"} {
			tx = p.beginPessimistic()
			mustLock(t, tx, nil, "a")
			mustOK(t, "start", tx.StartAggressiveLocking())
			fairLock(t, tx, nil, "k")
			mustOK(t, "set", tx.Set([]byte("k"), []byte("lost")))
			var err error
			if end == "commit" {
				err = tx.Commit(ctx)
			} else {
				err = tx.Rollback()
			}
			if !errors.Is(err, txn.ErrAggressiveLockingPending) || tx.Valid() || tx.IsInAggressiveLockingMode() {
				t.Fatalf("%s with a pending stage: %v (valid %v), want ErrAggressiveLockingPending and the txn ended", end, err, tx.Valid())
			}
			p.checkLocked(false, "a", "k")
			p.mustGet("k", "v")
		}

		// A retry below the conflict ts its last attempt met.
		tx = p.beginPessimistic()
		w := p.commit("c", "w")
		mustOK(t, "start", tx.StartAggressiveLocking())
		fairLock(t, tx, &txn.LockCtx{AtForUpdateTS: tx.StartTS()}, "c")
		mustOK(t, "retry", tx.RetryAggressiveLocking(ctx))
		if err := tx.LockKeys(ctx, &txn.LockCtx{AtForUpdateTS: w.CommitTS() - 1}, []byte("c")); !errors.Is(err, kv.ErrInvalidArgument) {
			t.Fatalf("retry below the conflict ts: %v, want kv.ErrInvalidArgument", err)
		}
		if tx.ProbePrimary() != nil || tx.IsInAggressiveLockingStage([]byte("c")) {
			t.Fatalf("a refused lock chose primary %q or entered the stage", tx.ProbePrimary())
		}
		fairLock(t, tx, &txn.LockCtx{AtForUpdateTS: w.CommitTS()}, "c")
		mustOK(t, "cancel", tx.CancelAggressiveLocking(ctx))
		mustOK(t, "rollback", tx.Rollback())
		p.checkLocked(false, "c")

		// A stage that holds nothing is cancelled by Commit, releasing the
		// last attempt's locks.
		tx = p.beginPessimistic()
		mustOK(t, "start", tx.StartAggressiveLocking())
		fairLock(t, tx, nil, "k")
		mustOK(t, "retry", tx.RetryAggressiveLocking(ctx))
		mustOK(t, "commit", tx.Commit(ctx))
		p.checkLocked(false, "k")
		p.mustGet("k", "v")
	})
}

// TestAggressiveLockingConflictTSNotAboveForUpdateTS: a force-lock answer
// whose conflict ts is not above the request's for_update_ts (which TiKV
// never sends) fails the call with a *txn.LockedWithConflictTSError; the
// key is held in the stage all the same, and Cancel releases it.
func TestAggressiveLockingConflictTSNotAboveForUpdateTS(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		ctx := context.Background()
		h := p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPessimisticLock, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Respond(
			func(req transport.Message) transport.Message {
				r := req.(*kvrpcpb.PessimisticLockRequest)
				return &kvrpcpb.PessimisticLockResponse{Results: []*kvrpcpb.PessimisticLockKeyResult{{
					Type: kvrpcpb.PessimisticLockKeyResultType_LockResultLockedWithConflict, LockedWithConflictTs: r.ForUpdateTs,
				}}}
			}))}})
		defer h.Remove()
		tx := p.beginPessimistic()
		mustOK(t, "start", tx.StartAggressiveLocking())
		lc := &txn.LockCtx{AtForUpdateTS: tx.StartTS()}
		err := tx.LockKeys(ctx, lc, []byte("k"))
		var bad *txn.LockedWithConflictTSError
		if !errors.As(err, &bad) || !errors.Is(err, kv.ErrProtocol) || bad.LockedWithConflictTS != tx.StartTS() || bad.ForUpdateTS != tx.StartTS() {
			t.Fatalf("lock err %v, want a *txn.LockedWithConflictTSError at %d", err, tx.StartTS())
		}
		if !tx.IsInAggressiveLockingStage([]byte("k")) {
			t.Fatal("the key is not held in the stage")
		}
		mustOK(t, "cancel", tx.CancelAggressiveLocking(ctx))
		mustOK(t, "rollback", tx.Rollback())
	})
}

// TestLockKeysAtForUpdateTS: outside aggressive locking, LockCtx's
// AtForUpdateTS locks at the caller's ts: a write committed after it is a
// *kv.WriteConflictError the call does not retry past, and without one
// the keys are locked at that ts.
func TestLockKeysAtForUpdateTS(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		ctx := context.Background()
		tx := p.beginPessimistic()
		w := p.commit("k1", "v1")
		lc := &txn.LockCtx{AtForUpdateTS: tx.StartTS()}
		err := tx.LockKeys(ctx, lc, []byte("k1"))
		var wc *kv.WriteConflictError
		if !errors.As(err, &wc) || wc.ConflictCommitTS != w.CommitTS() {
			t.Fatalf("lock over a newer write: %v, want a write conflict with commit ts %d", err, w.CommitTS())
		}
		if n := len(p.log.lockRequests()); n != 1 {
			t.Fatalf("%d lock requests, want the one at the caller's ts", n)
		}
		mustLock(t, tx, lc, "k2", "k3")
		for _, k := range []string{"k2", "k3"} {
			if l := p.lockOf(k); l == nil || l.LockForUpdateTs != tx.StartTS() {
				t.Fatalf("lock of %s = %v, want it at for update ts %d", k, l, tx.StartTS())
			}
		}
		mustOK(t, "rollback", tx.Rollback())
		p.checkLocked(false, "k1", "k2", "k3")
	})
}

// TestAggressiveLockingRetryRelocksAfterManagedLockTTL: a retry reuses
// the last attempt's lock without an RPC only while that attempt started
// less than ManagedLockTTL ago (client-go's
// mayAggressiveLockingLastLockedKeysExpire); later the key is locked
// again, its lock possibly having expired meanwhile.
func TestAggressiveLockingRetryRelocksAfterManagedLockTTL(t *testing.T) {
	const managed = 300 * time.Millisecond
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil, txn.WithCommitOptions(txn.CommitOptions{ManagedLockTTL: managed}))
		ctx := context.Background()
		tx := p.beginPessimistic()
		mustOK(t, "start", tx.StartAggressiveLocking())
		fairLock(t, tx, nil, "k")
		mustOK(t, "retry", tx.RetryAggressiveLocking(ctx))
		p.log.reset()
		fairLock(t, tx, nil, "k") // the attempt before started just now
		if n := len(p.log.lockRequests()); n != 0 {
			t.Fatalf("%d lock requests for a fresh lock of the last attempt, want none", n)
		}
		attempt := time.Now()
		mustOK(t, "retry", tx.RetryAggressiveLocking(ctx))
		time.Sleep(managed - time.Since(attempt) + 10*time.Millisecond)
		fairLock(t, tx, nil, "k")
		if n := len(p.log.lockRequests()); n != 1 {
			t.Fatalf("%d lock requests once ManagedLockTTL passed, want 1", n)
		}
		mustOK(t, "done", tx.DoneAggressiveLocking(ctx))
		mustOK(t, "rollback", tx.Rollback())
		p.checkLocked(false, "k")
	})
}
