package txn_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// fairLock locks key in tx with lc in aggressive locking, or fails the
// test.
func fairLock(t *testing.T, tx *txn.Txn, lc *txn.LockCtx, key string) {
	t.Helper()
	if err := tx.LockKeys(context.Background(), lc, []byte(key)); err != nil {
		t.Fatalf("lock %q: %v", key, err)
	}
}

// mustOK fails the test on err, naming what failed.
func mustOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// checkLocked fails the test unless each key's pessimistic lock is held
// (want true) or not; it first waits for the client's background work,
// which releases the locks aggressive locking gives up.
func (p *portCluster) checkLocked(want bool, keys ...string) {
	p.t.Helper()
	if err := p.client.WaitBackground(context.Background()); err != nil {
		p.t.Fatal(err)
	}
	for _, k := range keys {
		if l := p.lockOf(k); (l != nil) != want {
			p.t.Fatalf("lock of %q = %v, want locked %v", k, l, want)
		}
	}
}

// checkPrimary fails the test unless key holds a pessimistic lock whose
// primary is primary.
func (p *portCluster) checkPrimary(key, primary string) {
	p.t.Helper()
	l := p.lockOf(key)
	if l == nil || l.LockType != kvrpcpb.Op_PessimisticLock || string(l.PrimaryLock) != primary {
		p.t.Fatalf("lock of %q = %v, want a pessimistic lock with primary %q", key, l, primary)
	}
}

// TestPessimisticLockAllowLockWithConflict ports client-go's
// TestPessimisticLockAllowLockWithConflict (integration_tests/2pc_test.go):
// in aggressive locking a key without newer write locks normally, reading
// what the LockCtx asks for; a key written after the for-update ts is
// locked all the same and reports the write's commit ts, with its value,
// whatever the LockCtx asked.
func TestPessimisticLockAllowLockWithConflict(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		ctx := context.Background()
		p.commit("key", "key")
		for _, returnValues := range []bool{false, true} {
			for _, checkExistence := range []bool{false, true} {
				t.Run(fmt.Sprintf("no conflict/values=%v,existence=%v", returnValues, checkExistence), func(t *testing.T) {
					tx := p.beginPessimistic()
					mustOK(t, "start", tx.StartAggressiveLocking())
					lc := &txn.LockCtx{AtForUpdateTS: tx.StartTS(), ReturnValues: returnValues, CheckExistence: checkExistence}
					fairLock(t, tx, lc, "key")
					v := lc.Values["key"]
					if returnValues || checkExistence {
						if len(lc.Values) != 1 || !v.Exists {
							t.Fatalf("values %v, want key existing", lc.Values)
						}
					} else if len(lc.Values) != 0 {
						t.Fatalf("values %v, want none", lc.Values)
					}
					if want := map[bool]string{true: "key"}[returnValues]; string(v.Value) != want {
						t.Fatalf("value %q, want %q", v.Value, want)
					}
					if v.LockedWithConflictTS != 0 || lc.MaxLockedWithConflictTS != 0 {
						t.Fatalf("conflict ts %d, max %d, want 0", v.LockedWithConflictTS, lc.MaxLockedWithConflictTS)
					}
					mustOK(t, "done", tx.DoneAggressiveLocking(ctx))
					mustOK(t, "rollback", tx.Rollback())
				})
			}
		}
		for _, returnValues := range []bool{false, true} {
			for _, checkExistence := range []bool{false, true} {
				t.Run(fmt.Sprintf("conflict/values=%v,existence=%v", returnValues, checkExistence), func(t *testing.T) {
					value := fmt.Sprintf("value-%v-%v", returnValues, checkExistence)
					tx0 := p.beginPessimistic()
					mustOK(t, "set", tx0.Set([]byte("key"), []byte(value)))
					tx := p.beginPessimistic()
					mustOK(t, "start", tx.StartAggressiveLocking())
					mustOK(t, "commit tx0", tx0.Commit(ctx))
					if tx0.CommitTS() <= tx.StartTS() {
						t.Fatalf("tx0 committed at %d, not after tx's start %d", tx0.CommitTS(), tx.StartTS())
					}
					lc := &txn.LockCtx{AtForUpdateTS: tx.StartTS(), ReturnValues: returnValues, CheckExistence: checkExistence}
					fairLock(t, tx, lc, "key")
					v := lc.Values["key"]
					if lc.MaxLockedWithConflictTS != tx0.CommitTS() || v.LockedWithConflictTS != tx0.CommitTS() {
						t.Fatalf("conflict ts %d, max %d, want tx0's commit ts %d", v.LockedWithConflictTS, lc.MaxLockedWithConflictTS, tx0.CommitTS())
					}
					if !v.Exists || string(v.Value) != value {
						t.Fatalf("value %+v, want %q existing", v, value)
					}
					if l := p.lockOf("key"); l == nil || l.LockForUpdateTs != tx0.CommitTS() {
						t.Fatalf("lock %v, want it at for update ts %d", l, tx0.CommitTS())
					}
					mustOK(t, "cancel", tx.CancelAggressiveLocking(ctx))
					mustOK(t, "rollback", tx.Rollback())
					p.checkLocked(false, "key")
				})
			}
		}
	})
}

// TestPessimisticLockAllowLockWithConflictError ports the lock-wait part
// of client-go's TestPessimisticLockAllowLockWithConflictError
// (integration_tests/2pc_test.go): a force-lock request that waits its
// whole wait time fails with the lock-wait timeout and records nothing in
// the stage; once the blocker is gone the key locks, through a NotLeader
// answer, which is retried.
func TestPessimisticLockAllowLockWithConflictError(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		ctx := context.Background()
		for _, returnValues := range []bool{false, true} {
			for _, checkExistence := range []bool{false, true} {
				t.Run(fmt.Sprintf("values=%v,existence=%v", returnValues, checkExistence), func(t *testing.T) {
					tx0 := p.beginPessimistic()
					mustLock(t, tx0, nil, "key")
					tx := p.beginPessimistic()
					mustOK(t, "start", tx.StartAggressiveLocking())
					lc := &txn.LockCtx{Wait: 10 * time.Millisecond, ReturnValues: returnValues, CheckExistence: checkExistence}
					err := tx.LockKeys(ctx, lc, []byte("key"))
					if !isWaitTimeout(err) {
						t.Fatalf("lock err %v, want lock wait timeout", err)
					}
					if tx.IsInAggressiveLockingStage([]byte("key")) {
						t.Fatal("a lock that timed out is in the stage")
					}
					mustOK(t, "rollback tx0", tx0.Rollback())
					p.checkLocked(false, "key")
					// A NotLeader answer is retried.
					h := p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPessimisticLock,
						Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{NotLeader: &errorpb.NotLeader{}}))}})
					fairLock(t, tx, lc, "key")
					if h.Hits() != 1 {
						t.Fatalf("NotLeader fault hit %d times, want 1", h.Hits())
					}
					h.Remove()
					if !tx.IsInAggressiveLockingStage([]byte("key")) {
						t.Fatal("key not in the stage")
					}
					mustOK(t, "cancel", tx.CancelAggressiveLocking(ctx))
					mustOK(t, "rollback", tx.Rollback())
					p.checkLocked(false, "key")
				})
			}
		}
	})
}

// TestAggressiveLocking ports client-go's TestAggressiveLocking
// (integration_tests/2pc_test.go): keys locked before the stage stay
// outside it; a retry keeps the last attempt's locks, and the next retry
// releases those the attempt between did not take again; Done keeps the
// final attempt's locks, Cancel releases them (not the ones from before
// the stage).
func TestAggressiveLocking(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		for _, finalIsDone := range []bool{false, true} {
			t.Run(fmt.Sprintf("done=%v", finalIsDone), func(t *testing.T) {
				p := newPortCluster(t, grpc, nil)
				ctx := context.Background()
				tx := p.beginPessimistic()
				if tx.IsInAggressiveLockingMode() {
					t.Fatal("in aggressive locking before starting it")
				}
				at := &txn.LockCtx{AtForUpdateTS: tx.StartTS()}
				mustLock(t, tx, at, "k1", "k2")
				p.checkLocked(true, "k1", "k2")

				mustOK(t, "start", tx.StartAggressiveLocking())
				for _, k := range []string{"k2", "k3", "k4"} {
					fairLock(t, tx, &txn.LockCtx{AtForUpdateTS: tx.StartTS()}, k)
					p.checkLocked(true, k)
				}
				for k, want := range map[string]bool{"k2": false, "k3": true, "k4": true} {
					if got := tx.IsInAggressiveLockingStage([]byte(k)); got != want {
						t.Fatalf("%s in stage = %v, want %v", k, got, want)
					}
				}

				mustOK(t, "retry", tx.RetryAggressiveLocking(ctx))
				p.checkLocked(true, "k1", "k2", "k3", "k4")
				fairLock(t, tx, &txn.LockCtx{AtForUpdateTS: tx.StartTS()}, "k4")
				fairLock(t, tx, &txn.LockCtx{AtForUpdateTS: tx.StartTS()}, "k5")
				p.checkLocked(true, "k4", "k5")

				mustOK(t, "retry", tx.RetryAggressiveLocking(ctx))
				p.checkLocked(true, "k1", "k2", "k4", "k5")
				p.checkLocked(false, "k3")

				for _, k := range []string{"k2", "k5", "k6"} {
					fairLock(t, tx, &txn.LockCtx{AtForUpdateTS: tx.StartTS()}, k)
				}
				if finalIsDone {
					mustOK(t, "done", tx.DoneAggressiveLocking(ctx))
					p.checkLocked(true, "k1", "k2", "k5", "k6")
					p.checkLocked(false, "k3", "k4")
				} else {
					mustOK(t, "cancel", tx.CancelAggressiveLocking(ctx))
					p.checkLocked(true, "k1", "k2")
					p.checkLocked(false, "k3", "k4", "k5", "k6")
				}
				if tx.IsInAggressiveLockingMode() {
					t.Fatal("still in aggressive locking")
				}
				mustOK(t, "rollback", tx.Rollback())
				p.checkLocked(false, "k1", "k2", "k3", "k4", "k5", "k6")
			})
		}
	})
}

// TestAggressiveLockingInsert ports client-go's TestAggressiveLockingInsert
// (integration_tests/2pc_test.go): an Insert of a key locked before the
// stage fails when its lock saw a value; a new force lock of an inserted
// key fails on an existing value; with a newer write than the for-update
// ts, one that left a value is a write conflict and one that removed it
// locks with conflict; at a newer for-update ts the first is a key-exists
// error and the second is already locked.
func TestAggressiveLockingInsert(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		ctx := context.Background()
		p.commit("k1", "v1", "k3", "v3", "k6", "v6", "k8", "v8")

		tx := p.beginPessimistic()
		mustLock(t, tx, &txn.LockCtx{AtForUpdateTS: tx.StartTS(), ReturnValues: true}, "k1", "k2")
		mustOK(t, "set", tx.Set([]byte("k5"), []byte("v5")))
		mustOK(t, "delete", tx.Delete([]byte("k6")))
		insert := func(lc *txn.LockCtx, key string) error {
			if err := tx.Insert([]byte(key), []byte("new")); err != nil {
				t.Fatal(err)
			}
			if lc == nil {
				lc = &txn.LockCtx{AtForUpdateTS: tx.StartTS()}
			}
			return tx.LockKeys(ctx, lc, []byte(key))
		}
		mustExist := func(err error, key string) {
			t.Helper()
			var ae *kv.AlreadyExistError
			if !errors.As(err, &ae) || string(ae.Key) != key {
				t.Fatalf("insert %s: %v, want it already exists", key, err)
			}
		}

		mustOK(t, "start", tx.StartAggressiveLocking())
		mustExist(insert(nil, "k1"), "k1")
		mustOK(t, "insert k2", insert(nil, "k2"))
		mustExist(insert(nil, "k3"), "k3")
		mustOK(t, "insert k4", insert(nil, "k4"))

		tx2 := p.begin()
		mustOK(t, "set", tx2.Set([]byte("k7"), []byte("v7")))
		mustOK(t, "delete", tx2.Delete([]byte("k8")))
		mustOK(t, "commit tx2", tx2.Commit(ctx))
		err := insert(nil, "k7")
		if !errors.Is(err, kv.ErrWriteConflict) {
			t.Fatalf("insert k7 over a newer write: %v, want a write conflict", err)
		}
		lc := &txn.LockCtx{AtForUpdateTS: tx.StartTS()}
		mustOK(t, "insert k8", insert(lc, "k8"))
		if lc.MaxLockedWithConflictTS != tx2.CommitTS() || lc.Values["k8"].LockedWithConflictTS != tx2.CommitTS() {
			t.Fatalf("k8 conflict ts %d, max %d, want %d", lc.Values["k8"].LockedWithConflictTS, lc.MaxLockedWithConflictTS, tx2.CommitTS())
		}

		// A statement retry at a newer for-update ts.
		newTS, err := p.client.CurrentTimestamp(ctx)
		mustOK(t, "ts", err)
		lc = &txn.LockCtx{AtForUpdateTS: newTS}
		mustExist(insert(lc, "k7"), "k7")
		mustOK(t, "insert k8 again", insert(lc, "k8"))

		mustOK(t, "cancel", tx.CancelAggressiveLocking(ctx))
		mustOK(t, "rollback", tx.Rollback())
		p.checkLocked(false, "k1", "k2", "k3", "k4", "k7", "k8")
	})
}

// TestAggressiveLockingLockOnlyIfExists ports client-go's
// TestAggressiveLockingLockOnlyIfExists (integration_tests/2pc_test.go):
// LockOnlyIfExists over a newer write that left a value locks with
// conflict and reads it; over a newer write that removed it, it is a
// write conflict and the key is neither reported nor in the stage.
func TestAggressiveLockingLockOnlyIfExists(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		ctx := context.Background()

		tx := p.beginPessimistic()
		tx0 := p.commit("k1", "v1")
		mustOK(t, "start", tx.StartAggressiveLocking())
		lc := &txn.LockCtx{AtForUpdateTS: tx.StartTS(), ReturnValues: true, LockOnlyIfExists: true}
		fairLock(t, tx, lc, "k1")
		v := lc.Values["k1"]
		if !v.Exists || v.AlreadyLocked || string(v.Value) != "v1" || v.LockedWithConflictTS != tx0.CommitTS() {
			t.Fatalf("k1 read %+v, want v1 locked with conflict ts %d", v, tx0.CommitTS())
		}
		if !tx.IsInAggressiveLockingStage([]byte("k1")) {
			t.Fatal("k1 not in the stage")
		}
		mustOK(t, "cancel", tx.CancelAggressiveLocking(ctx))
		mustOK(t, "rollback", tx.Rollback())

		tx = p.beginPessimistic()
		tx0 = p.begin()
		mustOK(t, "delete", tx0.Delete([]byte("k1")))
		mustOK(t, "commit", tx0.Commit(ctx))
		mustOK(t, "start", tx.StartAggressiveLocking())
		lc = &txn.LockCtx{AtForUpdateTS: tx.StartTS(), ReturnValues: true, LockOnlyIfExists: true}
		err := tx.LockKeys(ctx, lc, []byte("k1"))
		if !errors.Is(err, kv.ErrWriteConflict) {
			t.Fatalf("lock of a key deleted after the for update ts: %v, want a write conflict", err)
		}
		if _, ok := lc.Values["k1"]; ok || tx.IsInAggressiveLockingStage([]byte("k1")) {
			t.Fatalf("k1 recorded (values %v) after a failed lock", lc.Values)
		}
		mustOK(t, "cancel", tx.CancelAggressiveLocking(ctx))
		mustOK(t, "rollback", tx.Rollback())
		p.checkLocked(false, "k1")
	})
}

// TestAggressiveLockingSwitchPrimary ports client-go's
// TestAggressiveLockingSwitchPrimary (integration_tests/2pc_test.go): the
// primary is the first key an attempt locks; an attempt that chooses
// another one locks its keys again with it; a primary chosen before the
// stage never changes.
func TestAggressiveLockingSwitchPrimary(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		ctx := context.Background()
		tx := p.beginPessimistic()
		ts := tx.StartTS()
		at := func() *txn.LockCtx { return &txn.LockCtx{AtForUpdateTS: ts} }
		retry := func() {
			t.Helper()
			ts++
			mustOK(t, "retry", tx.RetryAggressiveLocking(ctx))
		}

		mustOK(t, "start", tx.StartAggressiveLocking())
		fairLock(t, tx, at(), "k1")
		fairLock(t, tx, at(), "k2")
		p.checkPrimary("k1", "k1")
		p.checkPrimary("k2", "k1")

		// Primary unchanged.
		retry()
		fairLock(t, tx, at(), "k1")
		fairLock(t, tx, at(), "k3")
		p.checkPrimary("k1", "k1")
		p.checkPrimary("k3", "k1")

		// A new primary the last attempt did not lock.
		retry()
		fairLock(t, tx, at(), "k4")
		fairLock(t, tx, at(), "k5")
		p.checkPrimary("k4", "k4")
		p.checkPrimary("k5", "k4")
		p.checkLocked(false, "k2")

		// A new primary the last attempt locked.
		retry()
		fairLock(t, tx, at(), "k5")
		fairLock(t, tx, at(), "k6")
		p.checkPrimary("k5", "k5")
		p.checkPrimary("k6", "k5")
		p.checkLocked(false, "k1", "k3")

		// A new primary locked two attempts ago.
		retry()
		fairLock(t, tx, at(), "k7")
		retry()
		fairLock(t, tx, at(), "k6")
		fairLock(t, tx, at(), "k5")
		p.checkPrimary("k5", "k6")
		p.checkPrimary("k6", "k6")

		mustOK(t, "cancel", tx.CancelAggressiveLocking(ctx))
		p.checkLocked(false, "k1", "k2", "k3", "k4", "k5", "k6", "k7")
		mustOK(t, "rollback", tx.Rollback())

		// A primary chosen before the stage.
		tx = p.beginPessimistic()
		ts = tx.StartTS()
		mustLock(t, tx, at(), "k1", "k2")
		p.checkPrimary("k1", "k1")
		p.checkPrimary("k2", "k1")
		mustOK(t, "start", tx.StartAggressiveLocking())
		fairLock(t, tx, at(), "k2")
		fairLock(t, tx, at(), "k3")
		p.checkPrimary("k2", "k1")
		p.checkPrimary("k3", "k1")
		retry()
		fairLock(t, tx, at(), "k3")
		fairLock(t, tx, at(), "k4")
		p.checkPrimary("k3", "k1")
		p.checkPrimary("k4", "k1")
		mustOK(t, "cancel", tx.CancelAggressiveLocking(ctx))
		p.checkLocked(true, "k1", "k2")
		p.checkLocked(false, "k3", "k4")
		mustOK(t, "rollback", tx.Rollback())
		p.checkLocked(false, "k1", "k2")
	})
}

// TestAggressiveLockingLoadValueOptionChanges ports client-go's
// TestAggressiveLockingLoadValueOptionChanges
// (integration_tests/2pc_test.go): a retry that asks for more than the
// last attempt's lock read locks the key again (unless it was locked with
// conflict, which read the value), and reads what it asks.
func TestAggressiveLockingLoadValueOptionChanges(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		ctx := context.Background()
		p.commit("k2", "v2")
		for _, conflict := range []bool{false, true} {
			t.Run(fmt.Sprintf("conflict=%v", conflict), func(t *testing.T) {
				tx := p.beginPessimistic()
				// A primary chosen before the stage keeps its choice out of
				// the way.
				mustLock(t, tx, &txn.LockCtx{AtForUpdateTS: tx.StartTS()}, "k0")
				ts := tx.StartTS()
				mustOK(t, "start", tx.StartAggressiveLocking())
				var tx2 *txn.Txn
				if conflict {
					tx2 = p.begin()
					mustOK(t, "delete", tx2.Delete([]byte("k1")))
					mustOK(t, "set", tx2.Set([]byte("k2"), []byte("v2")))
					mustOK(t, "commit", tx2.Commit(ctx))
				}
				lc := &txn.LockCtx{AtForUpdateTS: ts}
				fairLock(t, tx, lc, "k1")
				fairLock(t, tx, lc, "k2")
				if conflict {
					c := tx2.CommitTS()
					if lc.MaxLockedWithConflictTS != c || lc.Values["k1"].LockedWithConflictTS != c || lc.Values["k2"].LockedWithConflictTS != c {
						t.Fatalf("values %+v max %d, want both locked with conflict ts %d", lc.Values, lc.MaxLockedWithConflictTS, c)
					}
					ts = c + 1
				} else {
					ts++
				}

				p.log.reset()
				lc = &txn.LockCtx{AtForUpdateTS: ts, CheckExistence: true}
				mustOK(t, "retry", tx.RetryAggressiveLocking(ctx))
				fairLock(t, tx, lc, "k1")
				fairLock(t, tx, lc, "k2")
				if lc.MaxLockedWithConflictTS != 0 || lc.Values["k1"].Exists || !lc.Values["k2"].Exists {
					t.Fatalf("values %+v max %d, want k1 absent, k2 existing, no conflict", lc.Values, lc.MaxLockedWithConflictTS)
				}
				// The locks taken with conflict read the values already.
				if n := len(p.log.lockRequests()); (n == 0) != conflict {
					t.Fatalf("%d lock requests on retry, want none only after conflicts", n)
				}

				ts++
				lc = &txn.LockCtx{AtForUpdateTS: ts, ReturnValues: true}
				mustOK(t, "retry", tx.RetryAggressiveLocking(ctx))
				fairLock(t, tx, lc, "k1")
				fairLock(t, tx, lc, "k2")
				if lc.MaxLockedWithConflictTS != 0 || lc.Values["k1"].Exists || !lc.Values["k2"].Exists || string(lc.Values["k2"].Value) != "v2" {
					t.Fatalf("values %+v max %d, want k1 absent, k2 = v2, no conflict", lc.Values, lc.MaxLockedWithConflictTS)
				}
				mustOK(t, "cancel", tx.CancelAggressiveLocking(ctx))
				mustOK(t, "rollback", tx.Rollback())
				p.checkLocked(false, "k0", "k1", "k2")
			})
		}
	})
}

// TestAggressiveLockingExitIfInapplicable ports client-go's
// TestAggressiveLockingExitIfInapplicable (integration_tests/2pc_test.go):
// a LockKeys of several keys leaves aggressive locking as Done does
// (releasing the last attempt's locks the current one did not take again)
// and locks them normally.
func TestAggressiveLockingExitIfInapplicable(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		ctx := context.Background()
		tx := p.beginPessimistic()
		mustOK(t, "start", tx.StartAggressiveLocking())
		fairLock(t, tx, nil, "k1")
		mustOK(t, "retry", tx.RetryAggressiveLocking(ctx))
		fairLock(t, tx, nil, "k2")
		if !tx.IsInAggressiveLockingMode() {
			t.Fatal("left aggressive locking on a one-key lock")
		}
		mustLock(t, tx, nil, "k3", "k4")
		if tx.IsInAggressiveLockingMode() {
			t.Fatal("still in aggressive locking after a lock of two keys")
		}
		p.checkLocked(false, "k1")
		p.checkLocked(true, "k2", "k3", "k4")
		mustOK(t, "rollback", tx.Rollback())
		p.checkLocked(false, "k2", "k3", "k4")
	})
}

// TestAggressiveLockingResumeAfterBlocker ports the blocked half of
// client-go's TestAggressiveLockingResetTTLManager
// (integration_tests/2pc_test.go): a force lock blocked by another
// transaction's lock resumes when that one commits and takes the lock
// with its commit ts as conflict ts; a retry at a newer for-update ts
// locks it again, and Cancel releases it.
func TestAggressiveLockingResumeAfterBlocker(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		ctx := context.Background()
		tx := p.beginPessimistic()
		mustOK(t, "start", tx.StartAggressiveLocking())
		tx2 := p.beginPessimistic()
		mustLock(t, tx2, nil, "k1")

		lc := &txn.LockCtx{AtForUpdateTS: tx.StartTS()}
		res := make(chan error, 1)
		go func() { res <- tx.LockKeys(ctx, lc, []byte("k1")) }()
		// Once sent, the request waits behind tx2's lock (were it to reach
		// TiKV after tx2's commit, it would meet the same conflict).
		for !t2Sent(p, tx.StartTS()) {
			time.Sleep(time.Millisecond)
		}
		select {
		case err := <-res:
			t.Fatalf("lock returned %v while blocked", err)
		default:
		}
		mustOK(t, "set", tx2.Set([]byte("k1"), []byte("v1")))
		mustOK(t, "commit tx2", tx2.Commit(ctx))
		mustOK(t, "blocked lock", <-res)
		if lc.MaxLockedWithConflictTS != tx2.CommitTS() || lc.MaxLockedWithConflictTS <= tx.StartTS() {
			t.Fatalf("max conflict ts %d, want tx2's commit ts %d", lc.MaxLockedWithConflictTS, tx2.CommitTS())
		}
		p.checkPrimary("k1", "k1")

		mustOK(t, "retry", tx.RetryAggressiveLocking(ctx))
		fairLock(t, tx, &txn.LockCtx{}, "k1")
		p.checkPrimary("k1", "k1")
		mustOK(t, "cancel", tx.CancelAggressiveLocking(ctx))
		p.checkLocked(false, "k1")
		mustOK(t, "rollback", tx.Rollback())
	})
}
