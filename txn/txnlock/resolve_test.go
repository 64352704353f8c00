package txnlock_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/txnlock"
)

// TestResolveCommittedSecondary: the primary committed, a secondary still
// locked; the reader's resolution commits the secondary at the primary's
// commit ts with one key-list ResolveLock, and lists the txn as readable.
// Ports client-go lock_test.go testLockSuite.TestScanLockResolveWithGet
// (its committed-primary lock, lockKey(..., commitPrimary=true)).
func TestResolveCommittedSecondary(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		start := f.ts()
		f.prewrite(start, txnSpec{primary: "p", keys: []string{"p", "s"}, ttlMs: 3000})
		commit := f.ts()
		f.commit(start, commit, "p")
		lock := f.mustLock("s")
		f.rec.take(0)

		caller := f.ts()
		res := f.resolve(caller, txnlock.Options{ForRead: true}, lock)
		if res.Live != 0 || len(res.Resolved) != 0 || len(res.Committed) != 1 || res.Committed[0] != start {
			t.Fatalf("result %+v, want txn %d committed", res, start)
		}
		reqs := f.rec.take(transport.CmdResolveLock)
		if len(reqs) != 1 {
			t.Fatalf("ResolveLock sent %d times", len(reqs))
		}
		rl := reqs[0].(*kvrpcpb.ResolveLockRequest)
		if rl.StartVersion != start || rl.CommitVersion != commit || len(rl.Keys) != 1 || string(rl.Keys[0]) != "s" {
			t.Fatalf("ResolveLock %v", rl)
		}
		if f.lockOn("s") != nil {
			t.Fatal("secondary still locked")
		}
		if v, c := f.mustRead("s"); string(v) != "v-s" || c != commit {
			t.Fatalf("read s = %q at %d", v, c)
		}
	})
}

// TestResolveLiveLockWaitsThenTTLZeroRollsBack: an unexpired lock is left
// alone and its remaining TTL reported; the same lock with TTL 0 (TiKV's
// "resolve unconditionally" signal) is rolled back at once, after which the
// primary reports rolled back (NoAction, TTL 0). Ports client-go
// lock_test.go testLockSuite.TestCheckTxnStatus.
func TestResolveLiveLockWaitsThenTTLZeroRollsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		start := f.ts()
		f.prewrite(start, txnSpec{primary: "key", keys: []string{"key", "second"}, ttlMs: 1000, minCommitTS: start + 1})
		current := f.ts()

		s, err := f.r.GetTxnStatus(context.Background(), start, []byte("key"), current, current, true)
		if err != nil || s.IsCommitted() || s.TTL <= 0 || s.CommitTS != 0 || s.Action != kvrpcpb.Action_MinCommitTSPushed {
			t.Fatalf("status %v, %v; want alive, min commit ts pushed", s, err)
		}

		lock := f.mustLock("second")
		res := f.resolve(current, txnlock.Options{}, lock)
		if res.Live <= 0 || res.Live > time.Second {
			t.Fatalf("live %v, want (0, 1s]", res.Live)
		}
		if f.lockOn("second") == nil || f.lockOn("key") == nil {
			t.Fatal("a live lock was removed")
		}

		lock.TTL = 0
		if res := f.resolve(current, txnlock.Options{}, lock); res.Live != 0 {
			t.Fatalf("live %v after forced rollback", res.Live)
		}
		// A new resolver asks TiKV (f.r remembers the rollback it caused).
		s, err = f.fresh().GetTxnStatus(context.Background(), start, []byte("key"), f.ts(), 0, true)
		if err != nil || s.TTL != 0 || s.CommitTS != 0 || s.Action != kvrpcpb.Action_NoAction || !s.IsRolledBack() {
			t.Fatalf("status after rollback %v, %v", s, err)
		}
		if f.lockOn("second") != nil || f.lockOn("key") != nil {
			t.Fatal("locks left after forced rollback")
		}

		// A committed transaction.
		start2 := f.ts()
		f.prewrite(start2, txnSpec{primary: "a", keys: []string{"a"}, ttlMs: 3000})
		commit2 := f.ts()
		f.commit(start2, commit2, "a")
		s, err = f.r.GetTxnStatus(context.Background(), start2, []byte("a"), current, current, true)
		if err != nil || s.TTL != 0 || s.CommitTS != commit2 {
			t.Fatalf("committed status %v, %v", s, err)
		}
	})
}

// TestResolveExpiredLockRollsBack: once the TTL has passed (virtual time),
// the status check rolls the primary back and the met secondary is rolled
// back; a reader may skip the txn. Ports client-go lock_test.go
// testLockSuite.TestCleanLock (write over expired locks) at the resolver
// level.
func TestResolveExpiredLockRollsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		start := f.ts()
		f.prewrite(start, txnSpec{primary: "p", keys: []string{"p", "s"}, ttlMs: 100})
		lock := f.mustLock("s")
		time.Sleep(150 * time.Millisecond)

		res := f.resolve(f.ts(), txnlock.Options{}, lock)
		if res.Live != 0 || len(res.Resolved) != 1 || res.Resolved[0] != start {
			t.Fatalf("result %+v, want txn %d resolved", res, start)
		}
		if f.lockOn("p") != nil || f.lockOn("s") != nil {
			t.Fatal("locks left")
		}
		s, err := f.r.GetTxnStatus(context.Background(), start, []byte("p"), 0, f.ts(), false)
		if err != nil || !s.IsRolledBack() {
			t.Fatalf("status %v, %v", s, err)
		}
		if v, _ := f.mustRead("s"); v != nil {
			t.Fatalf("rolled-back value visible: %q", v)
		}
	})
}

// TestGetTxnStatus: a committed txn reports its commit ts, a live one a
// TTL. Ports client-go lock_test.go testLockSuite.TestGetTxnStatus.
func TestGetTxnStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		ctx := context.Background()
		start := f.ts()
		f.prewrite(start, txnSpec{primary: "a", keys: []string{"a"}, ttlMs: 3000})
		commit := f.ts()
		f.commit(start, commit, "a")
		s, err := f.r.GetTxnStatus(ctx, start, []byte("a"), start, f.ts(), true)
		if err != nil || !s.IsCommitted() || s.CommitTS != commit {
			t.Fatalf("committed: %v, %v", s, err)
		}

		start = f.ts()
		f.prewrite(start, txnSpec{primary: "a", keys: []string{"a"}, ttlMs: 3000})
		s, err = f.r.GetTxnStatus(ctx, start, []byte("a"), start, f.ts(), true)
		if err != nil || s.IsCommitted() || s.TTL <= 0 {
			t.Fatalf("live: %v, %v", s, err)
		}
	})
}

// TestCheckTxnStatusTTL: a live txn has a TTL; after a forced rollback it
// reports TTL 0, commit ts 0, NoAction; a committed one its commit ts.
// Ports client-go lock_test.go testLockSuite.TestCheckTxnStatusTTL.
func TestCheckTxnStatusTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		ctx := context.Background()
		start := f.ts()
		f.prewrite(start, txnSpec{primary: "key", keys: []string{"key"}, ttlMs: 1000})
		caller := f.ts()
		s, err := f.r.GetTxnStatus(ctx, start, []byte("key"), caller, f.ts(), true)
		if err != nil || s.IsCommitted() || s.TTL <= 0 || s.CommitTS != 0 {
			t.Fatalf("live: %v, %v", s, err)
		}
		lock := f.mustLock("key")
		lock.TTL = 0 // force
		f.resolve(0, txnlock.Options{}, lock)
		s, err = f.fresh().GetTxnStatus(ctx, start, []byte("key"), caller, f.ts(), true)
		if err != nil || s.TTL != 0 || s.CommitTS != 0 || s.Action != kvrpcpb.Action_NoAction {
			t.Fatalf("rolled back: %v, %v", s, err)
		}
		start = f.ts()
		f.prewrite(start, txnSpec{primary: "a", keys: []string{"a"}, ttlMs: 1000})
		commit := f.ts()
		f.commit(start, commit, "a")
		s, err = f.r.GetTxnStatus(ctx, start, []byte("a"), caller, f.ts(), true)
		if err != nil || s.TTL != 0 || s.CommitTS != commit {
			t.Fatalf("committed: %v, %v", s, err)
		}
	})
}

// TestCheckTxnStatusNoWait: a secondary prewritten before its primary:
// the status check says TxnNotFound without rollback_if_not_exist; the
// resolver retries under the TxnNotFound policy until the primary's lock
// lands and then reports it alive; a lock whose primary never comes is,
// once expired, settled by rolling the primary back (LockNotExistRollback).
// Ports client-go lock_test.go testLockSuite.TestCheckTxnStatusNoWait.
func TestCheckTxnStatusNoWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		ctx := context.Background()
		start := f.ts()
		spec := txnSpec{primary: "key", keys: []string{"second"}, ttlMs: 100000}
		f.prewrite(start, spec)

		_, err := f.r.GetTxnStatus(ctx, start, []byte("key"), f.ts(), f.ts(), false)
		var nf *kv.TxnNotFoundError
		if !errors.As(err, &nf) {
			t.Fatalf("want TxnNotFound, got %v", err)
		}

		done := make(chan struct{})
		go func() {
			defer close(done)
			time.Sleep(50 * time.Millisecond)
			spec.keys = []string{"key"}
			f.prewrite(start, spec)
		}()
		lock := f.mustLock("second")
		f.rec.take(0)
		res := f.resolve(f.ts(), txnlock.Options{}, lock)
		<-done
		if res.Live <= 0 {
			t.Fatalf("live %v, want the primary's TTL", res.Live)
		}
		if n := f.rec.count(transport.CmdCheckTxnStatus); n < 2 {
			t.Fatalf("%d status checks, want retries until the primary came", n)
		}

		// A primary that never comes: after the lock's TTL the primary is
		// rolled back.
		start2 := f.ts()
		f.prewrite(start2, txnSpec{primary: "key_not_exist", keys: []string{"second2"}, ttlMs: 1000})
		lock2 := f.mustLock("second2")
		res = f.resolve(f.ts(), txnlock.Options{}, lock2)
		if res.Live != 0 || len(res.Resolved) != 1 {
			t.Fatalf("result %+v", res)
		}
		s, err := f.r.GetTxnStatus(ctx, start2, []byte("key_not_exist"), 0, f.ts(), false)
		if err != nil || !s.IsRolledBack() {
			t.Fatalf("status %v, %v", s, err)
		}
		if f.lockOn("second2") != nil {
			t.Fatal("secondary of the rolled-back txn still locked")
		}
	})
}

// TestZeroMinCommitTS: a lock with min_commit_ts 0 cannot be pushed by a
// reader at ts 0 (it must wait), only by a MaxUint64 reader, who may then
// skip it. Ports client-go lock_test.go testLockSuite.TestZeroMinCommitTS
// (the prewrite sends min_commit_ts 0 instead of its mockZeroCommitTS
// failpoint).
func TestZeroMinCommitTS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		start := f.ts()
		f.prewrite(start, txnSpec{primary: "key", keys: []string{"key"}, ttlMs: 1000})
		lock := f.mustLock("key")
		read := txnlock.Options{ForRead: true, Lite: true}
		if res := f.resolve(0, read, lock); len(res.Resolved) != 0 || res.Live <= 0 {
			t.Fatalf("reader at 0: %+v", res)
		}
		if res := f.resolve(math.MaxUint64, read, lock); len(res.Resolved) != 1 || res.Live != 0 {
			t.Fatalf("reader at MaxUint64: %+v", res)
		}
		lock.TTL = 0
		if res := f.resolve(0, txnlock.Options{}, lock); res.Live != 0 {
			t.Fatalf("cleanup: %+v", res)
		}
		if f.lockOn("key") != nil {
			t.Fatal("lock left")
		}
	})
}
