package integration_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/txn"
)

// commit sets pairs (key, value, key, value, ...) in a new transaction
// started with opts and commits it, returning its details.
func commit(t *testing.T, ctx context.Context, c *txn.Client, pairs [][]byte, opts ...txn.BeginOption) txn.CommitDetails {
	t.Helper()
	tx, err := c.Begin(ctx, opts...)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := tx.Set(pairs[i], pairs[i+1]); err != nil {
			t.Fatalf("Set %q: %v", pairs[i], err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return tx.CommitDetails()
}

// readAt reads key in a snapshot at ts; nil for a missing key.
func readAt(t *testing.T, ctx context.Context, c *txn.Client, ts uint64, key []byte) []byte {
	t.Helper()
	v, err := c.Snapshot(ts).Get(ctx, key)
	if errors.Is(err, kv.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("snapshot Get %q at %d: %v", key, ts, err)
	}
	return v
}

func latest(t *testing.T, ctx context.Context, c *txn.Client, key []byte) []byte {
	t.Helper()
	ts, err := c.CurrentTimestamp(ctx)
	if err != nil {
		t.Fatalf("CurrentTimestamp: %v", err)
	}
	return readAt(t, ctx, c, ts, key)
}

// TestTxnCommitAndRollback: a committed transaction's writes and deletes
// are visible to later transactions, it reads its own uncommitted writes,
// and a rolled-back one leaves nothing.
func TestTxnCommitAndRollback(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, c := e.ctx(), e.txn()
	a, b := e.txnKey("a"), e.txnKey("b")
	commit(t, ctx, c, [][]byte{a, []byte("1"), b, []byte("2")})

	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	if v, err := tx.Get(ctx, a); err != nil || string(v) != "1" {
		t.Fatalf("Get committed a = %q, %v", v, err)
	}
	if err := tx.Set(a, []byte("10")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Delete(b); err != nil {
		t.Fatal(err)
	}
	if v, err := tx.Get(ctx, a); err != nil || string(v) != "10" {
		t.Fatalf("Get own write = %q, %v", v, err)
	}
	if _, err := tx.Get(ctx, b); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get own delete: %v, want kv.ErrNotFound", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if v := latest(t, ctx, c, a); string(v) != "10" {
		t.Fatalf("a after commit = %q", v)
	}
	if v := latest(t, ctx, c, b); v != nil {
		t.Fatalf("b after its delete committed = %q", v)
	}

	tx, err = c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Set(a, []byte("rolled back")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if v := latest(t, ctx, c, a); string(v) != "10" {
		t.Fatalf("a after a rollback = %q, want 10", v)
	}
}

// TestTxnWriteConflict: of two optimistic transactions writing one key,
// the second to commit fails with a retryable write conflict and writes
// nothing; Update re-runs its closure on such a conflict.
func TestTxnWriteConflict(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, c := e.ctx(), e.txn()
	k, other := e.txnKey("conflict"), e.txnKey("other")
	t1, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = t1.Set(k, []byte("t1"))
	_ = t2.Set(k, []byte("t2"))
	_ = t2.Set(other, []byte("t2"))
	if err := t1.Commit(ctx); err != nil {
		t.Fatalf("first commit: %v", err)
	}
	err = t2.Commit(ctx)
	if !errors.Is(err, kv.ErrWriteConflict) || !errors.Is(err, kv.ErrTxnRetryable) {
		t.Fatalf("second commit: %v, want a retryable kv.ErrWriteConflict", err)
	}
	if v := latest(t, ctx, c, k); string(v) != "t1" {
		t.Fatalf("conflicting key = %q, want t1", v)
	}
	if v := latest(t, ctx, c, other); v != nil {
		t.Fatalf("the failed transaction's other key = %q, want nothing", v)
	}

	// Update: the first run meets a write committed after it began, the
	// second run sees it.
	runs := 0
	err = c.Update(ctx, func(ctx context.Context, tx *txn.Txn) error {
		runs++
		v, err := tx.Get(ctx, k)
		if err != nil {
			return err
		}
		if runs == 1 {
			commit(t, ctx, c, [][]byte{k, []byte("sneaked in")})
		}
		return tx.Set(k, append(v, "+update"...))
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if runs != 2 {
		t.Fatalf("Update ran its closure %d times, want 2", runs)
	}
	if v := latest(t, ctx, c, k); string(v) != "sneaked in+update" {
		t.Fatalf("after Update = %q", v)
	}
}

// TestTxnPessimisticLock: a key locked by one pessimistic transaction
// cannot be locked by another without waiting (kv.ErrLockAcquireFailAndNoWait),
// a bounded wait times out (kv.ErrLockWaitTimeout), and once the holder
// commits the waiter locks it and reads the new value.
func TestTxnPessimisticLock(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, c := e.ctx(), e.txn()
	k := e.txnKey("locked")
	commit(t, ctx, c, [][]byte{k, []byte("0")})

	holder, err := c.Begin(ctx, txn.WithPessimistic())
	if err != nil {
		t.Fatal(err)
	}
	if !holder.IsPessimistic() {
		t.Fatal("WithPessimistic began an optimistic transaction")
	}
	if err := holder.LockKeys(ctx, nil, k); err != nil {
		t.Fatalf("LockKeys: %v", err)
	}
	waiter, err := c.Begin(ctx, txn.WithPessimistic())
	if err != nil {
		t.Fatal(err)
	}
	if err := waiter.LockKeys(ctx, &txn.LockCtx{Wait: txn.LockNoWait}, k); !errors.Is(err, kv.ErrLockAcquireFailAndNoWait) {
		t.Fatalf("no-wait lock of a locked key: %v, want kv.ErrLockAcquireFailAndNoWait", err)
	}
	if err := waiter.LockKeys(ctx, &txn.LockCtx{Wait: 200 * time.Millisecond}, k); !errors.Is(err, kv.ErrLockWaitTimeout) {
		t.Fatalf("bounded wait on a locked key: %v, want kv.ErrLockWaitTimeout", err)
	}

	locked := make(chan error, 1)
	lc := &txn.LockCtx{ReturnValues: true}
	go func() { locked <- waiter.LockKeys(ctx, lc, k) }()
	_ = holder.Set(k, []byte("1"))
	if err := holder.Commit(ctx); err != nil {
		t.Fatalf("holder commit: %v", err)
	}
	if err := <-locked; err != nil {
		t.Fatalf("waiting lock after the holder committed: %v", err)
	}
	if v, ok := lc.Values[string(k)]; !ok || string(v.Value) != "1" {
		t.Fatalf("locked value = %+v (%v), want the holder's 1", v, ok)
	}
	_ = waiter.Set(k, []byte("2"))
	if err := waiter.Commit(ctx); err != nil {
		t.Fatalf("waiter commit: %v", err)
	}
	if v := latest(t, ctx, c, k); string(v) != "2" {
		t.Fatalf("after both = %q, want 2", v)
	}
}

// TestTxnAsyncCommitAndOnePC: transactions asking for async commit and for
// 1PC commit with that protocol (unless TiKV refused it and they fell back,
// which the details say) and their writes are visible afterwards.
func TestTxnAsyncCommitAndOnePC(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, c := e.ctx(), e.txn()
	for _, tc := range []struct {
		name string
		opts []txn.BeginOption
		want txn.Protocol
	}{
		{"async-commit", []txn.BeginOption{txn.WithAsyncCommit(true)}, txn.ProtocolAsyncCommit},
		{"1pc", []txn.BeginOption{txn.WithOnePC(true)}, txn.ProtocolOnePC},
		{"2pc", []txn.BeginOption{txn.WithAsyncCommit(false), txn.WithOnePC(false)}, txn.ProtocolTwoPC},
	} {
		k1, k2 := e.txnKey(tc.name+"/1"), e.txnKey(tc.name+"/2")
		d := commit(t, ctx, c, [][]byte{k1, []byte(tc.name), k2, []byte(tc.name)}, tc.opts...)
		fellBack := d.AsyncCommitFallback || d.OnePCFallback
		if d.Protocol != tc.want && !(fellBack && e.mock == nil) {
			t.Errorf("%s: committed with %v (fallbacks: async %v, 1pc %v), want %v",
				tc.name, d.Protocol, d.AsyncCommitFallback, d.OnePCFallback, tc.want)
		}
		if d.CommitTS <= d.StartTS {
			t.Errorf("%s: commit ts %d not after start ts %d", tc.name, d.CommitTS, d.StartTS)
		}
		for _, k := range [][]byte{k1, k2} {
			if v := latest(t, ctx, c, k); string(v) != tc.name {
				t.Errorf("%s: %q = %q after commit", tc.name, k, v)
			}
		}
	}
}

// TestTxnSnapshotReads: a snapshot at a timestamp sees the writes
// committed before it and none after, including through BatchGet; a
// transaction reads at its start ts.
func TestTxnSnapshotReads(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, c := e.ctx(), e.txn()
	k, later := e.txnKey("k"), e.txnKey("later")
	commit(t, ctx, c, [][]byte{k, []byte("v1")})
	ts1, err := c.CurrentTimestamp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reader, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	commit(t, ctx, c, [][]byte{k, []byte("v2"), later, []byte("x")})

	if v := readAt(t, ctx, c, ts1, k); string(v) != "v1" {
		t.Errorf("snapshot before the second commit read %q, want v1", v)
	}
	if v := readAt(t, ctx, c, ts1, later); v != nil {
		t.Errorf("snapshot before a key was written read %q", v)
	}
	got, err := c.Snapshot(ts1).BatchGet(ctx, [][]byte{k, later})
	if err != nil || string(got[0]) != "v1" || got[1] != nil {
		t.Errorf("snapshot BatchGet = %q, %v; want [v1 nil]", got, err)
	}
	if v, err := reader.Get(ctx, k); err != nil || string(v) != "v1" {
		t.Errorf("transaction begun before the second commit read %q, %v", v, err)
	}
	_ = reader.Rollback()
	if v := latest(t, ctx, c, k); string(v) != "v2" {
		t.Errorf("latest read %q, want v2", v)
	}
}

// TestTxnIterators: Iter and IterReverse over committed keys merge the
// transaction's own writes and deletes, in key order both ways, within
// their bounds.
func TestTxnIterators(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, c := e.ctx(), e.txn()
	if m := e.mock; m != nil {
		if _, err := m.SplitTxn(e.txnKey("i05")); err != nil {
			t.Fatalf("split: %v", err)
		}
	}
	var pairs [][]byte
	for i := 0; i < 10; i += 2 { // i00, i02, ..., i08
		k := e.txnKey(fmt.Sprintf("i%02d", i))
		pairs = append(pairs, k, k)
	}
	commit(t, ctx, c, pairs)

	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	_ = tx.Set(e.txnKey("i03"), e.txnKey("i03")) // a new key
	_ = tx.Delete(e.txnKey("i04"))               // a committed key deleted
	var want [][]byte
	for _, i := range []int{0, 2, 3, 6, 8} {
		want = append(want, e.txnKey(fmt.Sprintf("i%02d", i)))
	}
	collect := func(seq func(func(kv.KeyValue, error) bool)) [][]byte {
		var out [][]byte
		for pair, err := range seq {
			if err != nil {
				t.Fatalf("iterate: %v", err)
			}
			if !bytes.Equal(pair.Key, pair.Value) {
				t.Fatalf("iterator returned %q = %q", pair.Key, pair.Value)
			}
			out = append(out, pair.Key)
		}
		return out
	}
	end := prefixEnd(e.txnPrefix)
	if got := collect(tx.Iter(ctx, e.txnPrefix, end)); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("Iter = %q, want %q", got, want)
	}
	rev := slices.Clone(want)
	slices.Reverse(rev)
	if got := collect(tx.IterReverse(ctx, end, e.txnPrefix)); !slices.EqualFunc(got, rev, bytes.Equal) {
		t.Errorf("IterReverse = %q, want %q", got, rev)
	}
	// Bounds: [i02, i08) forward; below i06 down to i02 backward.
	if got := collect(tx.Iter(ctx, e.txnKey("i02"), e.txnKey("i08"))); !slices.EqualFunc(got, want[1:4], bytes.Equal) {
		t.Errorf("Iter [i02, i08) = %q, want %q", got, want[1:4])
	}
	if got := collect(tx.IterReverse(ctx, e.txnKey("i06"), e.txnKey("i02"))); !slices.EqualFunc(got, [][]byte{want[2], want[1]}, bytes.Equal) {
		t.Errorf("IterReverse [i02, i06) = %q", got)
	}
	// Breaking out early is allowed and stops the iteration.
	n := 0
	for _, err := range c.Snapshot(tx.StartTS()).Iter(ctx, e.txnPrefix, end) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("snapshot Iter yielded %d pairs before the break", n)
	}
}
