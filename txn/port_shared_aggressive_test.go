package txn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/txn"
)

// TestPortPessimisticSharedRejectsAggressiveLocking ports the
// PessimisticSharedRejectsAggressiveLocking case of client-go's TestLockKeys
// (txnkv/transaction/txn_test.go): in aggressive locking, a share-mode
// LockKeys is refused (client-go: "shared lock is not supported in
// aggressive/fair locking mode"), nothing is sent, and the transaction
// stays in the mode.
func TestPortPessimisticSharedRejectsAggressiveLocking(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		tx := p.beginWithPrimary("k2")
		if err := tx.StartAggressiveLocking(); err != nil {
			t.Fatal(err)
		}
		sent := len(p.log.lockRequests())
		err := tx.LockKeys(context.Background(), &txn.LockCtx{Wait: txn.LockNoWait, InShareMode: true}, []byte("k1"))
		if !errors.Is(err, txn.ErrSharedLockAggressive) || !errors.Is(err, kv.ErrInvalidArgument) {
			t.Fatalf("share-mode LockKeys in aggressive locking = %v, want ErrSharedLockAggressive", err)
		}
		if n := len(p.log.lockRequests()); n != sent {
			t.Fatalf("the refused LockKeys sent %d lock requests", n-sent)
		}
		if !tx.IsInAggressiveLockingMode() {
			t.Fatal("the refusal ended aggressive locking")
		}
		if err := tx.CancelAggressiveLocking(context.Background()); err != nil {
			t.Fatal(err)
		}
		end(t, tx, false)
	})
}

// TestPortForceLockRetryOnSharedLock ports client-go's
// TestForceLockRetryOnSharedLock (integration_tests/shared_lock_test.go):
// T1 holds a shared lock on key; T2, in aggressive locking, locks key
// exclusively in force-lock mode and blocks on the shared lock instead of
// failing; once T1 rolls back, T2's lock goes through, and after Done T2
// holds key's only lock.
func TestPortForceLockRetryOnSharedLock(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		const key = "force_key"
		t1 := p.beginWithPrimary("pk1")
		mustLock(t, t1, shareMode(), key)
		p.waitLocks(key, 1)

		t2 := p.beginWithPrimary("pk2")
		if err := t2.StartAggressiveLocking(); err != nil {
			t.Fatal(err)
		}
		done := lockAsync(t2, &txn.LockCtx{}, key)
		// T2's request reaches TiKV and waits there.
		deadline := time.Now().Add(5 * time.Second)
		for !p.lockSent(t2.StartTS(), key, 1) {
			if time.Now().After(deadline) {
				t.Fatal("T2's force lock was never sent")
			}
			time.Sleep(5 * time.Millisecond)
		}
		select {
		case err := <-done:
			t.Fatalf("T2's force lock returned %v while T1's shared lock is held, want it to wait", err)
		case <-time.After(100 * time.Millisecond):
		}

		end(t, t1, false)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("T2's force lock after T1 rolled back = %v, want it taken", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("T2's force lock still waits 10 s after T1 rolled back")
		}
		if err := t2.DoneAggressiveLocking(context.Background()); err != nil {
			t.Fatal(err)
		}
		locks := p.waitLocks(key, 1)
		if locks[0].StartTS != t2.StartTS() || locks[0].IsShared() {
			t.Fatalf("lock of %q = %+v, want T2's (%d) exclusive lock", key, locks[0], t2.StartTS())
		}
		if f, _ := t2.MemBuffer().GetFlags([]byte(key)); !f.HasLocked() || f.HasLockedInShareMode() {
			t.Fatalf("T2's flags of %q = %b, want locked exclusively", key, f)
		}
		end(t, t2, false)
	})
}
