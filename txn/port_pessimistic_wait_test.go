package txn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tikvgo/tikv/txn"
)

// TestPortLockWaitTimeLimit ports client-go integration_tests/lock_test.go
// TestLockWaitTimeLimit (scenario S23): with T1 holding k1 and k2, a
// no-wait lock of k1 fails at once with kv.ErrLockAcquireFailAndNoWait,
// and a 200 ms wait for k2 fails with kv.ErrLockWaitTimeout after 200 ms.
func TestPortLockWaitTimeLimit(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			p := newPortCluster(t, grpc, nil)
			t1 := p.beginPessimistic()
			mustLock(t, t1, nil, "k1", "k2")
			t2 := p.beginPessimistic()
			start := time.Now()
			err := t2.LockKeys(context.Background(), &txn.LockCtx{Wait: txn.LockNoWait}, []byte("k1"))
			if !isNoWait(err) {
				t.Fatalf("no-wait lock = %v, want a no-wait *kv.LockWaitError", err)
			}
			if d := time.Since(start); d >= 500*time.Millisecond {
				t.Fatalf("no-wait lock took %v", d)
			}
			start = time.Now()
			err = t2.LockKeys(context.Background(), &txn.LockCtx{Wait: 200 * time.Millisecond}, []byte("k2"))
			d := time.Since(start)
			if !isWaitTimeout(err) {
				t.Fatalf("bounded lock = %v, want a wait-timeout *kv.LockWaitError", err)
			}
			if d < 200*time.Millisecond || d >= 800*time.Millisecond {
				t.Fatalf("bounded lock failed after %v, want [200ms, 800ms)", d)
			}
			// T2 holds nothing: T1 commits its locks.
			if err := t1.Commit(context.Background()); err != nil {
				t.Fatalf("t1 commit: %v", err)
			}
			if err := t2.Rollback(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPortAcquireFalseTimeoutLock ports client-go
// integration_tests/lock_test.go TestAcquireFalseTimeoutLock, pessimistic
// variant (scenario S24): with a 1 s lock TTL, T1 locks k1 (primary) then
// k2; once k2's own TTL has passed while T1's heartbeats keep k1 alive,
// T2 still cannot take k2: no wait fails, a 200 ms wait times out.
func TestPortAcquireFalseTimeoutLock(t *testing.T) {
	p := newPortCluster(t, false, nil, txn.WithCommitOptions(txn.CommitOptions{ManagedLockTTL: time.Second}))
	t1 := p.beginPessimistic()
	mustLock(t, t1, nil, "k1")
	mustLock(t, t1, nil, "k2")
	l := p.lockOf("k2")
	// Wait until k2's lock has expired by its own TTL, as TiKV judges it
	// (from its start ts's physical time).
	expiry := time.UnixMilli(int64(l.LockVersion>>18) + int64(l.LockTtl))
	time.Sleep(time.Until(expiry) + 50*time.Millisecond)
	if pl := p.lockOf("k1"); pl == nil || pl.LockTtl <= l.LockTtl {
		t.Fatalf("primary lock %v: its TTL was not extended past %d ms", pl, l.LockTtl)
	}
	t2 := p.beginPessimistic()
	if err := t2.LockKeys(context.Background(), &txn.LockCtx{Wait: txn.LockNoWait}, []byte("k2")); !isNoWait(err) {
		t.Fatalf("no-wait lock of k2 = %v, want a no-wait *kv.LockWaitError", err)
	}
	if err := t2.LockKeys(context.Background(), &txn.LockCtx{Wait: 200 * time.Millisecond}, []byte("k2")); !isWaitTimeout(err) {
		t.Fatalf("bounded lock of k2 = %v, want a wait-timeout *kv.LockWaitError", err)
	}
	if err := t1.Rollback(); err != nil {
		t.Fatal(err)
	}
	_ = t2.Rollback()
}

// TestPortPessimisticLockPrimary ports client-go
// integration_tests/lock_test.go TestPessimisticLockPrimary (scenario
// S25): T2's LockKeys(k1, k2) blocked on T1's k1 never locks k2 while it
// waits (the primary is locked first, alone): T3 locks k2 with no wait,
// and T2's requests name k1 only until it times out.
func TestPortPessimisticLockPrimary(t *testing.T) {
	p := newPortCluster(t, false, nil)
	t1 := p.beginPessimistic()
	mustLock(t, t1, nil, "k1")
	t2 := p.beginPessimistic()
	done := make(chan error, 1)
	go func() {
		done <- t2.LockKeys(context.Background(), &txn.LockCtx{Wait: 400 * time.Millisecond}, []byte("k1"), []byte("k2"))
	}()
	// T2 is blocked once its request for k1 was sent.
	for !t2Sent(p, t2.StartTS()) {
		time.Sleep(time.Millisecond)
	}
	t3 := p.beginPessimistic()
	mustLock(t, t3, &txn.LockCtx{Wait: txn.LockNoWait}, "k2")
	if err := <-done; !isWaitTimeout(err) {
		t.Fatalf("t2 lock = %v, want a wait-timeout *kv.LockWaitError", err)
	}
	for _, r := range p.log.lockRequests() {
		if r.StartVersion != t2.StartTS() {
			continue
		}
		for _, m := range r.Mutations {
			if !bytes.Equal(m.Key, []byte("k1")) {
				t.Fatalf("t2 sent a lock request for %q while its primary k1 was not locked", m.Key)
			}
		}
	}
	for _, tx := range []*txn.Txn{t1, t2, t3} {
		_ = tx.Rollback()
	}
}

// t2Sent reports whether a lock request of the transaction startTS was
// sent.
func t2Sent(p *portCluster, startTS uint64) bool {
	for _, r := range p.log.lockRequests() {
		if r.StartVersion == startTS {
			return true
		}
	}
	return false
}

// TestPessimisticLockWaitsForRelease: a lock request that waits (the
// default: as long as ctx lasts) gets the key once its holder commits,
// at a for-update ts above the holder's commit (TiKV's wake-up answers a
// write conflict, and LockKeys locks again at a fresh ts); it returns the
// committed value.
func TestPessimisticLockWaitsForRelease(t *testing.T) {
	p := newPortCluster(t, false, nil)
	t1 := p.beginPessimistic()
	mustLock(t, t1, nil, "k")
	if err := t1.Set([]byte("k"), []byte("v1")); err != nil {
		t.Fatal(err)
	}
	t2 := p.beginPessimistic()
	lc := &txn.LockCtx{ReturnValues: true}
	done := make(chan error, 1)
	go func() { done <- t2.LockKeys(context.Background(), lc, []byte("k")) }()
	for !t2Sent(p, t2.StartTS()) {
		time.Sleep(time.Millisecond)
	}
	if err := t1.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("waiting lock: %v", err)
	}
	if v := lc.Values["k"]; !v.Exists || string(v.Value) != "v1" || lc.ForUpdateTS <= t1.CommitTS() {
		t.Fatalf("lock read %+v at for update ts %d, want v1 above commit ts %d", v, lc.ForUpdateTS, t1.CommitTS())
	}
	if err := t2.Set([]byte("k"), []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if err := t2.Commit(context.Background()); err != nil {
		t.Fatalf("t2 commit: %v", err)
	}
	p.mustGet("k", "v2")
}

// TestPessimisticLockCtxCancel: a wait ends with the caller's ctx, and
// the failed call rolls back the lock it took (k0, its primary, locked
// before it blocked on k1).
func TestPessimisticLockCtxCancel(t *testing.T) {
	p := newPortCluster(t, false, nil)
	t1 := p.beginPessimistic()
	mustLock(t, t1, nil, "k1")
	t2 := p.beginPessimistic()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	err := t2.LockKeys(ctx, nil, []byte("k1"), []byte("k0"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock = %v, want the ctx's deadline", err)
	}
	if l := p.lockOf("k0"); l != nil {
		t.Fatalf("k0 still locked after the failed call: %v", l)
	}
	_ = t1.Rollback()
	_ = t2.Rollback()
}

// TestPortPkNotFound ports the client-level part of client-go
// integration_tests/2pc_test.go TestPkNotFound (scenario S28): with a
// 100 ms lock TTL, T1 locks k1 (primary), then k2 and k3, and its client
// dies (heartbeats stop, nothing rolled back). T2's lock of k2 resolves
// T1 through its expired primary (a pessimistic rollback) instead of
// looping, and T3's no-wait lock of k3 then finds the primary gone and
// takes k3 at once.
func TestPortPkNotFound(t *testing.T) {
	opts := txn.WithCommitOptions(txn.CommitOptions{ManagedLockTTL: 100 * time.Millisecond})
	p := newPortCluster(t, false, nil, opts)
	dying := txn.NewClient(p.cluster, opts)
	t1, err := dying.Begin(context.Background(), txn.WithPessimistic())
	if err != nil {
		t.Fatal(err)
	}
	mustLock(t, t1, nil, "k1")
	mustLock(t, t1, nil, "k2", "k3")
	if err := dying.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l := p.lockOf("k1"); l == nil || l.LockVersion != t1.StartTS() {
		t.Fatalf("k1 lock %v, want t1's left behind", l)
	}
	t2 := p.beginPessimistic()
	mustLock(t, t2, &txn.LockCtx{Wait: 5 * time.Second}, "k2")
	if l := p.lockOf("k1"); l != nil {
		t.Fatalf("t1's primary still locked after t2 resolved it: %v", l)
	}
	t3 := p.beginPessimistic()
	mustLock(t, t3, &txn.LockCtx{Wait: txn.LockNoWait}, "k3")
	if l := p.lockOf("k3"); l == nil || l.LockVersion != t3.StartTS() {
		t.Fatalf("k3 lock %v, want t3's", l)
	}
	_ = t2.Rollback()
	_ = t3.Rollback()
}

// TestPortStartHeartBeatAfterLockingPrimary ports client-go
// integration_tests/lock_test.go TestStartHeartBeatAfterLockingPrimary:
// the primary's heartbeats start once it is locked, while the rest of the
// call still waits (here for T0's lock on b); when that call fails, its
// locks are rolled back and the next call's first key becomes the
// primary, heartbeated in turn.
func TestPortStartHeartBeatAfterLockingPrimary(t *testing.T) {
	const managed = 500 * time.Millisecond
	p := newPortCluster(t, false, nil, txn.WithCommitOptions(txn.CommitOptions{ManagedLockTTL: managed}))
	t0 := p.beginPessimistic()
	mustLock(t, t0, nil, "b")
	tx := p.beginPessimistic()
	done := make(chan error, 1)
	go func() {
		done <- tx.LockKeys(context.Background(), &txn.LockCtx{Wait: 1500 * time.Millisecond}, []byte("a"), []byte("b"))
	}()
	growing := func(key string, above uint64) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			if l := p.lockOf(key); l != nil && l.LockVersion == tx.StartTS() && l.LockTtl > above {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: lock %v never got a TTL above %d ms", key, p.lockOf(key), above)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	growing("a", 600) // heartbeats while the call waits for b
	if err := <-done; !isWaitTimeout(err) {
		t.Fatalf("lock a, b = %v, want a wait timeout", err)
	}
	if l := p.lockOf("a"); l != nil {
		t.Fatalf("a still locked after the failed call: %v", l)
	}
	mustLock(t, tx, nil, "c", "d")
	if l := p.lockOf("d"); l == nil || string(l.PrimaryLock) != "c" {
		t.Fatalf("d lock %v, want primary c", l)
	}
	growing("c", p.lockOf("c").LockTtl) // beyond the TTL it was locked with
	_ = tx.Rollback()
	_ = t0.Rollback()
}
