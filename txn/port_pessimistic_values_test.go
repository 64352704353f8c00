package txn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/txn"
)

// lockedKeys counts the keys tx's buffer flags as locked.
func lockedKeys(t *testing.T, tx *txn.Txn, keys ...string) int {
	t.Helper()
	n := 0
	for _, k := range keys {
		if f, ok := tx.MemBuffer().GetFlags([]byte(k)); ok && f.HasLocked() {
			n++
		}
	}
	return n
}

// TestPortPessimisticLockedKeysDedup ports client-go
// integration_tests/2pc_test.go TestPessimisticLockedKeysDedup (S29):
// locking the same keys twice locks them once, and the second call sends
// nothing.
func TestPortPessimisticLockedKeysDedup(t *testing.T) {
	p := newPortCluster(t, false, nil)
	tx := p.beginPessimistic()
	mustLock(t, tx, nil, "abc", "def", "abc")
	sent := len(p.log.lockRequests())
	lc := &txn.LockCtx{ReturnValues: true}
	mustLock(t, tx, lc, "abc", "def")
	if n := len(p.log.lockRequests()); n != sent {
		t.Fatalf("relocking sent %d lock requests", n-sent)
	}
	if v := lc.Values["abc"]; !v.AlreadyLocked {
		t.Fatalf("abc reported %+v, want AlreadyLocked", v)
	}
	if n := lockedKeys(t, tx, "abc", "def"); n != 2 {
		t.Fatalf("%d keys locked, want 2", n)
	}
	_ = tx.Rollback()
}

// TestPortPessimisticLockReturnValues ports client-go
// integration_tests/2pc_test.go TestPessimisticLockReturnValues (S29).
func TestPortPessimisticLockReturnValues(t *testing.T) {
	p := newPortCluster(t, true, nil)
	p.commit("key", "key", "key2", "key2")
	tx := p.beginPessimistic()
	lc := &txn.LockCtx{ReturnValues: true}
	mustLock(t, tx, lc, "key", "key2")
	if len(lc.Values) != 2 || string(lc.Values["key"].Value) != "key" || string(lc.Values["key2"].Value) != "key2" || !lc.Values["key"].Exists {
		t.Fatalf("values %+v", lc.Values)
	}
	_ = tx.Rollback()
}

// TestPortPessimisticLockCheckExistence ports client-go
// integration_tests/2pc_test.go TestPessimisticLockCheckExistence (S29):
// existence without values, recorded in the key flags.
func TestPortPessimisticLockCheckExistence(t *testing.T) {
	p := newPortCluster(t, false, nil)
	p.commit("key", "v")
	tx := p.beginPessimistic()
	lc := &txn.LockCtx{CheckExistence: true}
	mustLock(t, tx, lc, "key", "key2")
	if v := lc.Values["key"]; !v.Exists || v.Value != nil {
		t.Fatalf("key: %+v, want exists without value", v)
	}
	if v := lc.Values["key2"]; v.Exists {
		t.Fatalf("key2: %+v, want absent", v)
	}
	f, _ := tx.MemBuffer().GetFlags([]byte("key"))
	f2, _ := tx.MemBuffer().GetFlags([]byte("key2"))
	if !f.HasLocked() || !f.HasLockedValueExists() || !f2.HasLocked() || f2.HasLockedValueExists() {
		t.Fatalf("flags key %v key2 %v", f, f2)
	}
	_ = tx.Rollback()
}

// TestPortPessimisticLockIfExists ports client-go
// integration_tests/2pc_test.go TestPessimisticLockIfExists (S29): only
// keys with a value are locked; the misuses are typed errors.
func TestPortPessimisticLockIfExists(t *testing.T) {
	p := newPortCluster(t, false, nil)
	p.commit("key", "key", "key3", "key3")

	tx := p.beginPessimistic()
	err := tx.LockKeys(context.Background(), &txn.LockCtx{LockOnlyIfExists: true}, []byte("key"))
	if !errors.Is(err, txn.ErrLockOnlyIfExistsNoReturnValue) {
		t.Fatalf("without return values: %v", err)
	}
	err = tx.LockKeys(context.Background(), &txn.LockCtx{LockOnlyIfExists: true, ReturnValues: true}, []byte("key"), []byte("key2"))
	if !errors.Is(err, txn.ErrLockOnlyIfExistsNoPrimaryKey) {
		t.Fatalf("several keys without primary: %v", err)
	}
	if n := len(p.log.lockRequests()); n != 0 {
		t.Fatalf("misuses sent %d lock requests", n)
	}
	mustLock(t, tx, nil, "jkey")
	lc := &txn.LockCtx{LockOnlyIfExists: true, ReturnValues: true}
	mustLock(t, tx, lc, "key2", "key", "key3")
	if len(lc.Values) != 3 || lc.Values["key2"].Exists || string(lc.Values["key"].Value) != "key" || string(lc.Values["key3"].Value) != "key3" {
		t.Fatalf("values %+v", lc.Values)
	}
	if n := lockedKeys(t, tx, "jkey", "key", "key2", "key3"); n != 3 {
		t.Fatalf("%d keys locked, want 3 (key2 has no value)", n)
	}
	if l := p.lockOf("key2"); l != nil {
		t.Fatalf("key2 locked in TiKV: %v", l)
	}
	if l := p.lockOf("key3"); l == nil || string(l.PrimaryLock) != "jkey" {
		t.Fatalf("key3 lock %v, want primary jkey", l)
	}
	_ = tx.Rollback()

	// A first call that locks one absent key leaves no primary: the next
	// call's first key becomes it.
	tx = p.beginPessimistic()
	mustLock(t, tx, &txn.LockCtx{LockOnlyIfExists: true, ReturnValues: true}, "key2")
	mustLock(t, tx, nil, "key")
	if l := p.lockOf("key"); l == nil || string(l.PrimaryLock) != "key" {
		t.Fatalf("key lock %v, want its own primary", l)
	}
	_ = tx.Rollback()
}

// TestPortPessimisticTTL ports client-go integration_tests/2pc_test.go
// TestPessimisticTTL (S27): a lock taken 100 ms after the transaction
// began expires at least 100 ms after it was taken (TTL = age + managed
// TTL), and the primary's TTL keeps growing with heartbeats, never putting
// its expiry more than the managed TTL past now.
func TestPortPessimisticTTL(t *testing.T) {
	const managed = 600 * time.Millisecond
	p := newPortCluster(t, false, nil, txn.WithCommitOptions(txn.CommitOptions{ManagedLockTTL: managed}))
	tx := p.beginPessimistic()
	time.Sleep(100 * time.Millisecond)
	mustLock(t, tx, nil, "key")
	time.Sleep(100 * time.Millisecond)
	mustLock(t, tx, nil, "key2")
	l := p.lockOf("key")
	startPhys := pdclient.ExtractPhysical(tx.StartTS())
	nowPhys := pdclient.ExtractPhysical(p.now())
	if left := startPhys + int64(l.LockTtl) - nowPhys; left < 100 {
		t.Fatalf("primary lock expires in %d ms, want at least 100", left)
	}
	if l2 := p.lockOf("key2"); l2.LockTtl < l.LockTtl {
		t.Fatalf("secondary ttl %d below the primary's %d", l2.LockTtl, l.LockTtl)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		nl := p.lockOf("key")
		if nl.LockTtl > l.LockTtl {
			now := pdclient.ExtractPhysical(p.now())
			expire := startPhys + int64(nl.LockTtl)
			if expire <= now || expire-now > managed.Milliseconds() {
				t.Fatalf("heartbeat put expiry %d ms from now, want (0, %d]", expire-now, managed.Milliseconds())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("primary ttl stayed %d", nl.LockTtl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = tx.Rollback()
}

// TestPortUnsetPrimaryKey ports client-go integration_tests/2pc_test.go
// TestUnsetPrimaryKey: a first LockKeys that fails (an Insert of an
// existing key: the lock asserts the key absent, TiKV answers
// AlreadyExist) leaves no primary, and the transaction still commits with
// another one.
func TestPortUnsetPrimaryKey(t *testing.T) {
	p := newPortCluster(t, false, nil)
	p.commit("key", "key")
	tx := p.beginPessimistic()
	if err := tx.Insert([]byte("key"), []byte("key")); err != nil {
		t.Fatal(err)
	}
	err := tx.LockKeys(context.Background(), nil, []byte("key"))
	var exists *kv.AlreadyExistError
	if !errors.As(err, &exists) {
		t.Fatalf("lock of an inserted existing key = %v, want *kv.AlreadyExistError", err)
	}
	if err := tx.Delete([]byte("key")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Set([]byte("key2"), []byte("key2")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatalf("commit: %v", err)
	}
	p.mustGet("key", "")
	p.mustGet("key2", "key2")
}
