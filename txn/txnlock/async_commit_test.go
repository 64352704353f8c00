package txnlock_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/txnlock"
)

// asyncTxn prewrites an async-commit transaction with primary p and the
// given secondaries (each in its own region with split), the keys in
// prewritten only, and a short TTL; it returns the start ts.
func (f *fixture) asyncTxn(secondaries []string, prewritten ...string) uint64 {
	f.t.Helper()
	start := f.ts()
	for _, k := range prewritten {
		spec := txnSpec{primary: "p", keys: []string{k}, ttlMs: 50, async: true, minCommitTS: start + 1}
		if k == "p" {
			spec.secondaries = secondaries
		}
		f.prewrite(start, spec)
	}
	return start
}

var asyncSplits = []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("m"), []byte("t"))}

// TestAsyncCommitSecondaryRolledBackRollsBackTxn: issue #10's acceptance
// point. An async-commit transaction whose primary expired is decided by
// its secondaries; one secondary was rolled back, so the whole transaction
// is rolled back: the other secondary's lock and the primary are rolled
// back, not committed, and the txn reads as never written. A variant where
// the secondary was never prewritten gives the same verdict (TiKV's
// check_secondary_locks writes a rollback record there). client-go's
// TestCheckSecondaries does not assert the rolled-back case (tests
// inventory §2.5 #4); this test adds it.
func TestAsyncCommitSecondaryRolledBackRollsBackTxn(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rollbackS2 bool
	}{{"rolled back", true}, {"never prewritten", false}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newInProcess(t, asyncSplits)
				var start uint64
				if tc.rollbackS2 {
					start = f.asyncTxn([]string{"a", "x"}, "p", "a", "x")
					f.rollback(start, "x")
				} else {
					start = f.asyncTxn([]string{"a", "x"}, "p", "a")
				}
				lock := f.mustLock("a")
				if !lock.UseAsyncCommit {
					t.Fatalf("lock %v is not async commit", lock)
				}
				time.Sleep(100 * time.Millisecond) // the primary's TTL passes
				f.rec.take(0)

				res := f.resolve(f.ts(), txnlock.Options{ForRead: true}, lock)
				if res.Live != 0 || len(res.Resolved) != 1 || res.Resolved[0] != start || len(res.Committed) != 0 {
					t.Fatalf("result %+v, want txn %d rolled back", res, start)
				}
				if n := f.rec.count(transport.CmdCheckSecondaryLocks); n == 0 {
					t.Fatal("secondaries were not checked")
				}
				for _, m := range f.rec.take(transport.CmdResolveLock) {
					if rl := m.(*kvrpcpb.ResolveLockRequest); rl.CommitVersion != 0 {
						t.Fatalf("ResolveLock commits: %v", rl)
					}
				}
				for _, k := range []string{"p", "a", "x"} {
					if l := f.lockOn(k); l != nil {
						t.Fatalf("%s still locked: %v", k, l)
					}
					if v, _ := f.mustRead(k); v != nil {
						t.Fatalf("%s reads %q from a rolled-back txn", k, v)
					}
				}
				s, err := f.fresh().GetTxnStatus(context.Background(), start, []byte("p"), 0, f.ts(), false)
				if err != nil || !s.IsRolledBack() {
					t.Fatalf("primary status %v, %v", s, err)
				}
			})
		})
	}
}

// TestAsyncCommitAllLockedCommitsAtMaxMinCommitTS: every secondary still
// locked means every prewrite succeeded: the txn is committed at the
// largest min_commit_ts of its locks, and all of them, primary included,
// are committed there. Ports client-go async_commit_test.go
// testAsyncCommitSuite.TestCheckSecondaries (its all-locked case, and "the
// primary-only txn ends committed at exactly T" via the primary's own min
// commit ts) and the tests inventory's S15.
func TestAsyncCommitAllLockedCommitsAtMaxMinCommitTS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, asyncSplits)
		start := f.asyncTxn([]string{"a", "x"}, "p", "a", "x")
		var want uint64
		for _, k := range []string{"p", "a", "x"} {
			want = max(want, f.mustLock(k).MinCommitTS)
		}
		lock := f.mustLock("x")
		time.Sleep(100 * time.Millisecond)

		caller := f.ts()
		res := f.resolve(caller, txnlock.Options{ForRead: true}, lock)
		if res.Live != 0 || len(res.Committed) != 1 || res.Committed[0] != start {
			t.Fatalf("result %+v, want txn %d committed before %d", res, start, caller)
		}
		for _, k := range []string{"p", "a", "x"} {
			v, c := f.mustRead(k)
			if string(v) != "v-"+k || c != want {
				t.Fatalf("%s = %q committed at %d, want at %d", k, v, c, want)
			}
		}
		s, err := f.fresh().GetTxnStatus(context.Background(), start, []byte("p"), 0, f.ts(), false)
		if err != nil || s.CommitTS != want {
			t.Fatalf("primary status %v, %v; want committed at %d", s, err, want)
		}

		// A primary-only async-commit txn commits at its own min commit ts.
		start2 := f.ts()
		f.prewrite(start2, txnSpec{primary: "q", keys: []string{"q"}, ttlMs: 50, async: true, minCommitTS: start2 + 1})
		only := f.mustLock("q")
		time.Sleep(100 * time.Millisecond)
		f.resolve(f.ts(), txnlock.Options{}, only)
		if _, c := f.mustRead("q"); c != only.MinCommitTS {
			t.Fatalf("q committed at %d, want %d", c, only.MinCommitTS)
		}
	})
}

// TestAsyncCommitOneSecondaryCommitted: a secondary found committed
// decides the txn's commit ts; the remaining locks are committed there.
// Ports client-go async_commit_test.go testAsyncCommitSuite.TestCheckSecondaries
// (the CheckSecondaryLocks answer with a commit ts).
func TestAsyncCommitOneSecondaryCommitted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, asyncSplits)
		start := f.asyncTxn([]string{"a", "x"}, "p", "a", "x")
		var minTS uint64
		for _, k := range []string{"p", "a", "x"} {
			minTS = max(minTS, f.mustLock(k).MinCommitTS)
		}
		commit := max(f.ts(), minTS)
		f.commit(start, commit, "x")
		lock := f.mustLock("a")
		time.Sleep(100 * time.Millisecond)
		f.rec.take(0)

		f.resolve(f.ts(), txnlock.Options{}, lock)
		var keys []string
		for _, m := range f.rec.take(transport.CmdResolveLock) {
			rl := m.(*kvrpcpb.ResolveLockRequest)
			if rl.CommitVersion != commit {
				t.Fatalf("ResolveLock %v, want commit %d", rl, commit)
			}
			for _, k := range rl.Keys {
				keys = append(keys, string(k))
			}
		}
		if len(keys) != 2 || !contains(keys, "a") || !contains(keys, "p") {
			t.Fatalf("resolved keys %v, want the still-locked a and p", keys)
		}
		for _, k := range []string{"p", "a", "x"} {
			if _, c := f.mustRead(k); c != commit {
				t.Fatalf("%s committed at %d, want %d", k, c, commit)
			}
		}
	})
}

// TestResolveTxnFallenBackFromAsyncCommit: the primary was prewritten with
// async commit, a secondary without (the txn fell back to 2PC): checking
// the secondaries finds a non-async lock, the resolver re-checks the
// primary with force_sync_commit, which rolls the expired txn back; both
// keys read NotFound. Ports client-go lock_test.go
// testLockSuite.TestResolveTxnFallenBackFromAsyncCommit and
// TestCheckLocksFallenBackFromAsyncCommit (the fallback is a plain
// prewrite of fb2 instead of a MaxCommitTsTooLarge answer).
func TestResolveTxnFallenBackFromAsyncCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		start := f.ts()
		f.prewrite(start, txnSpec{primary: "fb1", keys: []string{"fb1"}, ttlMs: 1, async: true,
			secondaries: []string{"fb2"}, minCommitTS: start + 1})
		f.prewrite(start, txnSpec{primary: "fb1", keys: []string{"fb2"}, ttlMs: 1})
		lock := f.mustLock("fb1")
		if !lock.UseAsyncCommit {
			t.Fatal("fb1 is not async commit")
		}
		time.Sleep(10 * time.Millisecond)
		f.rec.take(0)
		res := f.resolve(0, txnlock.Options{}, lock)
		if res.Live != 0 {
			t.Fatalf("live %v", res.Live)
		}
		forced := false
		for _, m := range f.rec.take(transport.CmdCheckTxnStatus) {
			forced = forced || m.(*kvrpcpb.CheckTxnStatusRequest).ForceSyncCommit
		}
		if !forced {
			t.Fatal("no force_sync_commit status check")
		}
		// fb2's lock is the rolled-back txn's: resolving it needs no status
		// check (cached) and removes it.
		f.resolve(0, txnlock.Options{}, f.mustLock("fb2"))
		if n := f.rec.count(transport.CmdCheckTxnStatus); n != 0 {
			t.Fatalf("%d status checks for a cached txn", n)
		}
		for _, k := range []string{"fb1", "fb2"} {
			if v, _ := f.mustRead(k); v != nil {
				t.Fatalf("%s = %q", k, v)
			}
		}
	})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestBatchResolveTxnFallenBackFromAsyncCommit ports client-go's
// TestBatchResolveTxnFallenBackFromAsyncCommit (lock_test.go; S16): the
// same fallen-back transaction as TestResolveTxnFallenBackFromAsyncCommit,
// settled by GC's BatchResolveLocks from fb1's async-commit lock alone: the
// transaction is rolled back, fb1 reads NotFound, and so does fb2 once a
// reader resolves its lock, by the rolled-back primary's status alone.
// (client-go's BatchResolveLocks clears every lock of the transaction in
// the region with txn_infos; ours settles the locks it is given, which in
// a GC sweep are all the scanned ones, so fb2 is left to its reader.)
func TestBatchResolveTxnFallenBackFromAsyncCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		start := f.ts()
		f.prewrite(start, txnSpec{primary: "fb1", keys: []string{"fb1"}, ttlMs: 1, async: true,
			secondaries: []string{"fb2"}, minCommitTS: start + 1})
		f.prewrite(start, txnSpec{primary: "fb1", keys: []string{"fb2"}, ttlMs: 1})
		lock := f.mustLock("fb1")
		if !lock.UseAsyncCommit {
			t.Fatal("fb1 is not async commit")
		}
		time.Sleep(10 * time.Millisecond)
		if err := f.r.BatchResolveLocks(context.Background(), []*kv.Lock{lock}); err != nil {
			t.Fatal(err)
		}
		if v, _ := f.mustRead("fb1"); v != nil {
			t.Fatalf("fb1 = %q after the batch resolve, want NotFound", v)
		}
		f.rec.take(0)
		if res := f.resolve(0, txnlock.Options{}, f.mustLock("fb2")); res.Live != 0 {
			t.Fatalf("fb2's lock is live (%v) after its primary was rolled back", res.Live)
		}
		for _, m := range f.rec.take(transport.CmdCheckTxnStatus) {
			if m.(*kvrpcpb.CheckTxnStatusRequest).LockTs != start {
				t.Fatalf("status check of another txn: %v", m)
			}
		}
		for _, k := range []string{"fb1", "fb2"} {
			if v, _ := f.mustRead(k); v != nil {
				t.Fatalf("%s = %q after the batch resolve, want NotFound", k, v)
			}
		}
	})
}
