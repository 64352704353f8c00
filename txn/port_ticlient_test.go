package txn_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
	"github.com/tikvgo/tikv/txn/membuf"
)

// TestPortSingleKey ports client-go integration_tests/ticlient_test.go
// TestSingleKey: a key set and locked in one transaction commits and reads
// back; a later transaction deletes it. Also the basic introspection of a
// Txn before and after commit.
func TestPortSingleKey(t *testing.T) {
	p := newPortCluster(t, false, nil)
	ctx := t.Context()
	tx := p.begin()
	if !tx.IsReadOnly() || tx.Len() != 0 || !tx.Valid() {
		t.Fatalf("new txn: read-only %v len %d valid %v", tx.IsReadOnly(), tx.Len(), tx.Valid())
	}
	if err := tx.Set([]byte("key"), []byte("value")); err != nil {
		t.Fatal(err)
	}
	if err := tx.LockKeys(context.Background(), nil, []byte("key")); err != nil {
		t.Fatal(err)
	}
	if tx.IsReadOnly() || tx.Len() != 1 || tx.Size() != len("key")+len("value") {
		t.Fatalf("after set: read-only %v len %d size %d", tx.IsReadOnly(), tx.Len(), tx.Size())
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("second commit: %v", err)
	}
	p.mustGet("key", "value")
	del := p.begin()
	if err := del.Delete([]byte("key")); err != nil {
		t.Fatal(err)
	}
	if err := del.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	p.mustGet("key", "")
}

// TestPortMultiKeys ports client-go integration_tests/ticlient_test.go
// TestMultiKeys: 100 keys over three regions commit, read back one by one,
// and are deleted in one transaction.
func TestPortMultiKeys(t *testing.T) {
	p := newPortCluster(t, false, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("key00000030"), []byte("key00000060"))})
	ctx := t.Context()
	const n = 100
	key := func(i int) []byte { return []byte(fmt.Sprintf("key%08d", i)) }
	val := func(i int) []byte { return []byte(fmt.Sprintf("value%d", i)) }
	tx := p.begin()
	for i := range n {
		_ = tx.Set(key(i), val(i))
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := p.begin()
	for i := range n {
		if v, err := r.Get(ctx, key(i)); err != nil || string(v) != string(val(i)) {
			t.Fatalf("%s = %q, %v", key(i), v, err)
		}
	}
	del := p.begin()
	for i := range n {
		_ = del.Delete(key(i))
	}
	if err := del.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if pairs, err := collect(p.begin().Iter(ctx, []byte("key"), []byte("kez"))); err != nil || len(pairs) != 0 {
		t.Fatalf("after delete: %v, %v", pairs, err)
	}
}

// TestPortNotExist ports client-go integration_tests/ticlient_test.go
// TestNotExist: reading a key never written fails with kv.ErrNotFound.
func TestPortNotExist(t *testing.T) {
	p := newPortCluster(t, false, nil)
	if _, err := p.begin().Get(t.Context(), []byte("noSuchKey")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("get = %v, want kv.ErrNotFound", err)
	}
}

// TestPortLargeRequest ports client-go integration_tests/ticlient_test.go
// TestLargeRequest: with an entry size limit of 1 MiB, setting a larger
// value fails (a *membuf.TooLargeError, not retryable) and leaves the
// transaction usable; its commit then has nothing to send and succeeds.
func TestPortLargeRequest(t *testing.T) {
	p := newPortCluster(t, false, nil)
	tx := p.begin(txn.WithBufferLimits(membuf.Limits{MaxEntrySize: 1 << 20, MaxSize: 100 << 20}))
	err := tx.Set([]byte("large_request_key"), make([]byte, 2<<20))
	var tooLarge *membuf.TooLargeError
	if !errors.As(err, &tooLarge) || errors.Is(err, kv.ErrTxnRetryable) {
		t.Fatalf("set of a 2 MiB value: %v, want a non-retryable *membuf.TooLargeError", err)
	}
	p.log.take()
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if cmds := p.log.take(); len(cmds) != 0 {
		t.Fatalf("commit of nothing sent %v", cmds)
	}
	p.mustGet("large_request_key", "")
}

// TestPortLockKeysOptimistic ports client-go txnkv/transaction/txn_test.go
// TestLockKeys (OptimisticExclusive): locking keys in an optimistic
// transaction sends nothing and marks them locked in the buffer; the lock
// is sent at commit as a Lock mutation, which fails the commit if another
// transaction wrote the key after this one began.
func TestPortLockKeysOptimistic(t *testing.T) {
	p := newPortCluster(t, false, nil)
	ctx := t.Context()
	tx := p.begin()
	p.log.take()
	if err := tx.LockKeys(context.Background(), nil, []byte("k")); err != nil {
		t.Fatal(err)
	}
	if cmds := p.log.take(); len(cmds) != 0 {
		t.Fatalf("LockKeys sent %v", cmds)
	}
	if f, ok := tx.MemBuffer().GetFlags([]byte("k")); !ok || !f.HasLocked() {
		t.Fatalf("flags of k: %v, %v; want locked", f, ok)
	}
	_ = tx.Set([]byte("other"), []byte("v"))
	p.commit("k", "by another txn")
	if err := tx.Commit(ctx); !errors.Is(err, kv.ErrWriteConflict) {
		t.Fatalf("commit over a locked key written meanwhile: %v, want a write conflict", err)
	}
	p.mustGet("other", "")
}

// TestPortLocalLatches checks the client option WithLocalLatches (client-go
// option behaviour: the store's txn latches): of two transactions of the
// same client writing one key, the later committer fails with a retryable
// *txn.LatchConflictError (client-go's ErrWriteConflictInLatch) before
// sending any prewrite.
func TestPortLocalLatches(t *testing.T) {
	p := newPortCluster(t, false, nil, txn.WithLocalLatches())
	ctx := t.Context()
	a, b := p.begin(), p.begin()
	_ = a.Set([]byte("k"), []byte("a"))
	_ = b.Set([]byte("k"), []byte("b"))
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	p.log.take()
	err := b.Commit(ctx)
	if !errors.Is(err, kv.ErrTxnRetryable) || !errors.Is(err, kv.ErrWriteConflict) {
		t.Fatalf("second commit: %v, want retryable", err)
	}
	// client-go's ErrWriteConflictInLatch, with the transaction's start ts.
	if le := (*txn.LatchConflictError)(nil); !errors.As(err, &le) || le.StartTS != b.StartTS() || string(le.Key) != "k" {
		t.Fatalf("second commit: %v, want a *txn.LatchConflictError of txn %d", err, b.StartTS())
	}
	if cmds := p.log.take(); slices.Contains(cmds, transport.CmdPrewrite) {
		t.Fatalf("the latch conflict still sent %v", cmds)
	}
	p.mustGet("k", "a")
}

// TestPortTxnReadCommitted checks the snapshot option a transaction reads
// with (WithTxnSnapshotOptions(WithIsolationLevel(RC))), as client-go's
// snapshot_test.go TestRCRead does for a bare snapshot: an RC transaction
// reads the committed value past a live lock without waiting, where an SI
// transaction begun after the lock would have to resolve it.
func TestPortTxnReadCommitted(t *testing.T) {
	p := newPortCluster(t, false, nil)
	ctx := shortCtx(t)
	p.commit("k", "v0")
	p.lock(time.Minute, "k", "v1")
	p.log.take()
	tx := p.begin(txn.WithTxnSnapshotOptions(txn.WithIsolationLevel(txn.RC)))
	if v, err := tx.Get(ctx, []byte("k")); err != nil || string(v) != "v0" {
		t.Fatalf("RC read = %q, %v", v, err)
	}
	if cmds := p.log.take(); slices.Contains(cmds, transport.CmdCheckTxnStatus) {
		t.Fatalf("an RC read resolved a lock: %v", cmds)
	}
}
