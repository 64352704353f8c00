package txn_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tikvgo/tikv/txn"
)

// TestAggressiveLockingKeepAliveAfterMultiLockKeysOperation ports
// client-go's TestAggressiveLockingKeepAliveAfterMultiLockKeysOperation
// (integration_tests/2pc_test.go): after Done the stage's locks stay held,
// and the primary's heartbeats keep them alive past their TTL, whether
// the stage was retried with the same primary, retried with another, or
// not retried.
func TestAggressiveLockingKeepAliveAfterMultiLockKeysOperation(t *testing.T) {
	const managed = 400 * time.Millisecond
	bothWays(t, func(t *testing.T, grpc bool) {
		for _, c := range []struct {
			name                    string
			retried, primaryChanged bool
		}{{"not retried", false, false}, {"retried", true, false}, {"retried with another primary", true, true}} {
			t.Run(c.name, func(t *testing.T) {
				p := newPortCluster(t, grpc, nil, txn.WithCommitOptions(txn.CommitOptions{ManagedLockTTL: managed}))
				ctx := context.Background()
				tx := p.beginPessimistic()
				mustOK(t, "start", tx.StartAggressiveLocking())
				lc := &txn.LockCtx{Wait: time.Second}
				if c.retried {
					last := map[bool]string{false: "k1", true: "k0"}[c.primaryChanged]
					fairLock(t, tx, lc, last)
					p.checkPrimary(last, last)
					mustOK(t, "retry", tx.RetryAggressiveLocking(ctx))
				}
				fairLock(t, tx, lc, "k1")
				fairLock(t, tx, lc, "k2")
				if !tx.IsInAggressiveLockingStage([]byte("k1")) || !tx.IsInAggressiveLockingStage([]byte("k2")) {
					t.Fatal("k1, k2 not in the stage")
				}
				p.checkPrimary("k1", "k1")
				p.checkPrimary("k2", "k1")
				mustOK(t, "done", tx.DoneAggressiveLocking(ctx))
				if c.primaryChanged {
					p.checkLocked(false, "k0")
				}

				// The heartbeats push the primary's TTL past a whole
				// ManagedLockTTL beyond what it was locked with.
				first := p.lockOf("k1").LockTtl
				deadline := time.Now().Add(10 * time.Second)
				for l := p.lockOf("k1"); l == nil || l.LockTtl < first+uint64(managed.Milliseconds()); l = p.lockOf("k1") {
					if l == nil || time.Now().After(deadline) {
						t.Fatalf("primary lock %v not kept alive (locked with ttl %d)", l, first)
					}
					time.Sleep(10 * time.Millisecond)
				}

				tx2 := p.beginPessimistic()
				for _, k := range []string{"k1", "k2"} {
					if err := tx2.LockKeys(ctx, &txn.LockCtx{Wait: 100 * time.Millisecond}, []byte(k)); !isWaitTimeout(err) {
						t.Fatalf("lock %s in another txn: %v, want a lock wait timeout", k, err)
					}
				}
				mustOK(t, "rollback tx2", tx2.Rollback())
				mustOK(t, "rollback", tx.Rollback())
				p.checkLocked(false, "k0", "k1", "k2")
			})
		}
	})
}

// TestAggressiveLockingResetPrimaryAndTTLManagerAfterExit ports
// client-go's TestAggressiveLockingResetPrimaryAndTTLManagerAfterExit
// (integration_tests/2pc_test.go): leaving the mode (Done or Cancel) right
// after Start, after the first lock, after a retry, or after the retried
// attempt's lock (of the same key or another) leaves the primary, its
// heartbeats and the count of locks as the locks actually kept say.
func TestAggressiveLockingResetPrimaryAndTTLManagerAfterExit(t *testing.T) {
	const (
		exitOnStart = iota
		exitOnFirstLock
		exitOnRetry
		exitOnSecondLock
	)
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		ctx := context.Background()
		for _, done := range []bool{false, true} {
			for phase := exitOnStart; phase <= exitOnSecondLock; phase++ {
				for _, otherKey := range []bool{false, true} {
					t.Run(fmt.Sprintf("done=%v,phase=%d,otherKey=%v", done, phase, otherKey), func(t *testing.T) {
						tx := p.beginPessimistic()
						defer func() { mustOK(t, "rollback", tx.Rollback()) }()
						exit := func() {
							t.Helper()
							if done {
								mustOK(t, "done", tx.DoneAggressiveLocking(ctx))
							} else {
								mustOK(t, "cancel", tx.CancelAggressiveLocking(ctx))
							}
							if tx.IsInAggressiveLockingMode() {
								t.Fatal("still in aggressive locking")
							}
						}
						check := func(running bool, locked int, primary string) {
							t.Helper()
							if got := tx.ProbeKeepAliveRunning(); got != running {
								t.Fatalf("heartbeats running %v, want %v", got, running)
							}
							if got := tx.ProbeLockedCount(); got != locked {
								t.Fatalf("%d locks counted, want %d", got, locked)
							}
							if got := string(tx.ProbePrimary()); got != primary {
								t.Fatalf("primary %q, want %q", got, primary)
							}
						}
						mustOK(t, "start", tx.StartAggressiveLocking())
						if phase == exitOnStart {
							exit()
							check(false, 0, "")
							return
						}
						fairLock(t, tx, nil, "k1")
						check(true, 1, "k1")
						if phase == exitOnFirstLock {
							exit()
							if done {
								check(true, 1, "k1")
							} else {
								check(false, 0, "")
							}
							return
						}
						mustOK(t, "retry", tx.RetryAggressiveLocking(ctx))
						if phase == exitOnRetry {
							exit()
							check(false, 0, "")
							p.checkLocked(false, "k1")
							return
						}
						key := map[bool]string{false: "k1", true: "k2"}[otherKey]
						fairLock(t, tx, nil, key)
						// The last attempt's k1 is released only when the
						// stage moves on.
						check(true, map[bool]int{false: 1, true: 2}[otherKey], key)
						exit()
						if done {
							check(true, 1, key)
							p.checkLocked(true, key)
						} else {
							check(false, 0, "")
							p.checkLocked(false, key)
						}
						if otherKey {
							p.checkLocked(false, "k1")
						}
					})
				}
			}
		}
	})
}

// TestAggressiveLockingResetTTLManager ports client-go's
// TestAggressiveLockingResetTTLManager (integration_tests/2pc_test.go):
// the primary's heartbeats start with the stage's first lock and stop on
// Cancel; after a force lock that resumed behind a committed blocker they
// run, and keep running across a retry that locks the key again.
func TestAggressiveLockingResetTTLManager(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		ctx := context.Background()
		tx := p.beginPessimistic()
		mustOK(t, "start", tx.StartAggressiveLocking())
		if tx.ProbeKeepAliveRunning() {
			t.Fatal("heartbeats before any lock")
		}
		fairLock(t, tx, nil, "k1")
		if !tx.ProbeKeepAliveRunning() {
			t.Fatal("no heartbeats after locking the primary")
		}
		mustOK(t, "cancel", tx.CancelAggressiveLocking(ctx))
		if tx.IsInAggressiveLockingMode() || tx.ProbeKeepAliveRunning() {
			t.Fatal("heartbeats or the mode survive Cancel")
		}
		mustOK(t, "rollback", tx.Rollback())

		tx = p.beginPessimistic()
		mustOK(t, "start", tx.StartAggressiveLocking())
		tx2 := p.beginPessimistic()
		mustLock(t, tx2, nil, "k1")
		lc := &txn.LockCtx{AtForUpdateTS: tx.StartTS()}
		res := make(chan error, 1)
		go func() { res <- tx.LockKeys(ctx, lc, []byte("k1")) }()
		for !t2Sent(p, tx.StartTS()) {
			time.Sleep(time.Millisecond)
		}
		mustOK(t, "set", tx2.Set([]byte("k1"), []byte("v1")))
		mustOK(t, "commit tx2", tx2.Commit(ctx))
		mustOK(t, "resumed lock", <-res)
		if lc.MaxLockedWithConflictTS != tx2.CommitTS() {
			t.Fatalf("max conflict ts %d, want %d", lc.MaxLockedWithConflictTS, tx2.CommitTS())
		}
		if !tx.ProbeKeepAliveRunning() {
			t.Fatal("no heartbeats after the resumed lock")
		}
		mustOK(t, "retry", tx.RetryAggressiveLocking(ctx))
		if !tx.ProbeKeepAliveRunning() {
			t.Fatal("Retry stopped the heartbeats")
		}
		ts, err := p.client.CurrentTimestamp(ctx)
		mustOK(t, "ts", err)
		fairLock(t, tx, &txn.LockCtx{AtForUpdateTS: ts}, "k1")
		if !tx.ProbeKeepAliveRunning() {
			t.Fatal("no heartbeats after locking the same primary again")
		}
		mustOK(t, "cancel", tx.CancelAggressiveLocking(ctx))
		if tx.ProbeKeepAliveRunning() || tx.ProbeLockedCount() != 0 {
			t.Fatalf("after Cancel: heartbeats %v, %d locks counted", tx.ProbeKeepAliveRunning(), tx.ProbeLockedCount())
		}
		p.checkLocked(false, "k1")
		mustOK(t, "rollback", tx.Rollback())
	})
}
