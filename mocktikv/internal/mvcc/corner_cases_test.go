package mvcc

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// The tests in this file pin corner cases where the mock used to differ
// from TiKV (issue #8). Each names the TiKV rule it follows.

// forceLock acquires a pessimistic lock on one key in force-lock mode
// (WakeUpModeForceLock, allow_lock_with_conflict) and returns the response.
func forceLock(t testing.TB, s *Store, start, fut uint64, key string, tweak func(*kvrpcpb.PessimisticLockRequest)) *kvrpcpb.PessimisticLockResponse {
	t.Helper()
	req := lockReq(start, fut, key)
	req.WakeUpMode = kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock
	if tweak != nil {
		tweak(req)
	}
	resp, blocked := s.PessimisticLock(req)
	if len(resp.Errors) > 0 || blocked != nil {
		t.Fatalf("force lock %q: %v", key, resp.Errors)
	}
	return resp
}

// TestCheckTxnStatusStaleForceLockOnPrimary follows TiKV's
// actions/check_txn_status.rs check_txn_status_from_pessimistic_primary_lock:
// a primary pessimistic lock acquired with conflict (is_locked_with_conflict)
// may be a stale force-lock request that arrived after the transaction
// finished, so the transaction's own commit or rollback record on the key is
// looked up first (check_determined_txn_status); when one exists the stale
// lock is removed and the recorded outcome is answered, whatever the lock's
// TTL says.
func TestCheckTxnStatusStaleForceLockOnPrimary(t *testing.T) {
	start := uint64(1000 << 18)
	commitTS := start + 20
	live, expired := start+(50<<18), start+(10_000<<18)
	for _, c := range []struct {
		name    string
		current uint64
	}{{"live lock", live}, {"expired lock", expired}} {
		t.Run("committed, "+c.name, func(t *testing.T) {
			s := New(Options{})
			// T locks, prewrites and commits its primary.
			lockKeys(t, s, start, start, "pk")
			req := prewriteReq(putMutations("pk", "v"), "pk", start)
			req.ForUpdateTs, req.PessimisticActions = start, []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK}
			mustPrewrite(t, s, req)
			mustCommit(t, s, start, commitTS, "pk")
			// A stale force-lock request of T arrives: it meets T's own
			// commit record as a newer write and locks with conflict.
			forceLock(t, s, start, start, "pk", nil)
			if l := lockOf(s, "pk"); l == nil || !l.IsLockedWithConflict {
				t.Fatalf("setup: want a lock acquired with conflict, got %+v", l)
			}
			r := s.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("pk"), LockTs: start, CallerStartTs: start + 100, CurrentTs: c.current})
			eq(t, kind(r.Error), "", "error")
			eq(t, r.CommitVersion, commitTS, "commit version")
			eq(t, r.Action, kvrpcpb.Action_NoAction, "action")
			eq(t, r.LockInfo == nil, true, "no lock info")
			eq(t, lockOf(s, "pk") == nil, true, "stale lock removed")
			ws := writesOf(s, "pk")
			eq(t, len(ws), 1, "no rollback record written")
			eq(t, ws[0].Type, kvrpcpb.Op_Put, "commit record kept")
		})
	}
	t.Run("rolled back", func(t *testing.T) {
		s := New(Options{})
		// T's primary carries T's protected rollback, and a stale lock of
		// T acquired with conflict sits on it (TiDB issue 43540's shape).
		s.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("pk"), LockTs: start, CurrentTs: live, RollbackIfNotExist: true})
		mustPut(t, s, "pk", "w", start+30, start+40)
		s.update(func(b *batch) {
			b.putLock([]byte("pk"), &Lock{Type: kvrpcpb.Op_PessimisticLock, Primary: []byte("pk"), StartTS: start, TTL: 3000, ForUpdateTS: start + 40, IsLockedWithConflict: true})
			b.apply()
		})
		r := s.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("pk"), LockTs: start, CurrentTs: live})
		eq(t, kind(r.Error), "", "error")
		eq(t, r.CommitVersion, uint64(0), "commit version")
		eq(t, r.Action, kvrpcpb.Action_NoAction, "action (RolledBack)")
		eq(t, r.LockTtl, uint64(0), "no lock ttl")
		eq(t, lockOf(s, "pk") == nil, true, "stale lock removed")
	})
	t.Run("no record: the lock decides", func(t *testing.T) {
		s := New(Options{})
		mustPut(t, s, "pk", "w", start-20, start+5)
		forceLock(t, s, start, start, "pk", nil)
		r := s.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("pk"), LockTs: start, CallerStartTs: start + 100, CurrentTs: live})
		eq(t, r.LockTtl, uint64(3000), "alive")
		r = s.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("pk"), LockTs: start, CurrentTs: expired})
		eq(t, r.Action, kvrpcpb.Action_TTLExpireRollback, "expired")
	})
}

// TestAsyncCommitAnd1PCFallbackKeepsAsyncFlag follows TiKV's
// commands/prewrite.rs: a request with use_async_commit gives every lock
// use_async_commit (actions/prewrite.rs write_lock sets it whenever
// secondary keys are present, 1PC or not), and when a later key exceeds
// max_commit_ts the 1PC locks already made are written as ordinary locks
// that keep it (fallback_1pc_locks only clears use_one_pc). The key that
// fell back, and every key after it, is plain 2PC.
func TestAsyncCommitAnd1PCFallbackKeepsAsyncFlag(t *testing.T) {
	s := New(Options{})
	const start, fut = 50, 55
	// Pessimistic locks: b's min_commit_ts is beyond max_commit_ts.
	lockKeys(t, s, start, fut, "a")
	lb := lockReq(start, fut, "b")
	lb.PrimaryLock, lb.MinCommitTs = []byte("a"), 200
	if resp, _ := s.PessimisticLock(lb); len(resp.Errors) > 0 {
		t.Fatal(resp.Errors)
	}
	req := prewriteReq(putMutations("a", "1", "b", "2", "c", "3"), "a", start)
	req.ForUpdateTs, req.MaxCommitTs = fut, 100
	req.UseAsyncCommit, req.TryOnePc, req.Secondaries = true, true, keys("b", "c")
	req.PessimisticActions = []kvrpcpb.PrewriteRequest_PessimisticAction{
		kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK, kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK, kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK,
	}
	resp := mustPrewrite(t, s, req)
	eq(t, resp.OnePcCommitTs, uint64(0), "one_pc_commit_ts after the fallback")
	eq(t, resp.MinCommitTs, uint64(0), "min_commit_ts after the fallback")
	a, b, c := lockOf(s, "a"), lockOf(s, "b"), lockOf(s, "c")
	if a == nil || b == nil || c == nil {
		t.Fatalf("want three locks, got %v %v %v", a, b, c)
	}
	eq(t, a.UseAsyncCommit, true, "a (prewritten before the fallback) keeps use_async_commit")
	eq(t, len(a.Secondaries), 2, "a keeps its secondaries")
	eq(t, a.MinCommitTS, uint64(fut+1), "a keeps its computed min_commit_ts")
	eq(t, b.UseAsyncCommit, false, "b fell back")
	eq(t, len(b.Secondaries), 0, "b has no secondaries")
	eq(t, c.UseAsyncCommit, false, "c is prewritten as 2PC")
}

// TestCommittedAsync1PCPrewriteAnswersBothTimestamps follows TiKV's
// commands/prewrite.rs: when check_committed_record_on_err finds the
// transaction already committed, the prewrite succeeds with the commit ts
// as the final min_commit_ts, and write_result reports it as min_commit_ts
// (secondary keys present) and as one_pc_commit_ts (try_one_pc) alike.
func TestCommittedAsync1PCPrewriteAnswersBothTimestamps(t *testing.T) {
	s := New(Options{})
	s.UpdateMaxTS(70)
	req := prewriteReq(putMutations("a", "1", "b", "2"), "a", 50)
	req.UseAsyncCommit, req.TryOnePc, req.Secondaries = true, true, keys("b")
	first := mustPrewrite(t, s, req)
	eq(t, first.OnePcCommitTs, uint64(71), "committed by 1PC")
	eq(t, first.MinCommitTs, uint64(71), "min_commit_ts of the 1PC commit")
	// The client retries the same request: it meets its own commit record.
	again := mustPrewrite(t, s, req)
	eq(t, again.OnePcCommitTs, uint64(71), "retried one_pc_commit_ts")
	eq(t, again.MinCommitTs, uint64(71), "retried min_commit_ts")
	eq(t, lockOf(s, "a") == nil && lockOf(s, "b") == nil, true, "nothing written")

	// 2PC: a retried prewrite of a committed transaction answers neither.
	s2 := New(Options{})
	mustPut(t, s2, "k", "v", 10, 20)
	r := mustPrewrite(t, s2, prewriteReq(putMutations("k", "v"), "k", 10))
	eq(t, r.OnePcCommitTs+r.MinCommitTs, uint64(0), "2PC answers no timestamps")
}

// TestForceLockCheckExistenceOnly follows TiKV's
// actions/acquire_pessimistic_lock.rs and types.rs
// PessimisticLockKeyResult::new_success: without a conflict, check_existence
// alone yields Existence (no value is even loaded), return_values yields
// Value, and a lock with conflict always carries the value.
func TestForceLockCheckExistenceOnly(t *testing.T) {
	normal := kvrpcpb.PessimisticLockKeyResultType_LockResultNormal
	for _, c := range []struct {
		name string
		run  func(s *Store) *kvrpcpb.PessimisticLockResponse
		want *kvrpcpb.PessimisticLockKeyResult
	}{
		{"new lock, check_existence", func(s *Store) *kvrpcpb.PessimisticLockResponse {
			return forceLock(t, s, 30, 30, "k", func(r *kvrpcpb.PessimisticLockRequest) { r.CheckExistence = true })
		}, &kvrpcpb.PessimisticLockKeyResult{Type: normal, Existence: true}},
		{"own lock, check_existence", func(s *Store) *kvrpcpb.PessimisticLockResponse {
			lockKeys(t, s, 30, 30, "k")
			return forceLock(t, s, 30, 35, "k", func(r *kvrpcpb.PessimisticLockRequest) { r.CheckExistence = true })
		}, &kvrpcpb.PessimisticLockKeyResult{Type: normal, Existence: true}},
		{"new lock, return_values", func(s *Store) *kvrpcpb.PessimisticLockResponse {
			return forceLock(t, s, 30, 30, "k", func(r *kvrpcpb.PessimisticLockRequest) { r.ReturnValues, r.CheckExistence = true, true })
		}, &kvrpcpb.PessimisticLockKeyResult{Type: normal, Existence: true, Value: []byte("v")}},
		{"conflict, check_existence", func(s *Store) *kvrpcpb.PessimisticLockResponse {
			return forceLock(t, s, 15, 15, "k", func(r *kvrpcpb.PessimisticLockRequest) { r.CheckExistence = true })
		}, &kvrpcpb.PessimisticLockKeyResult{Type: kvrpcpb.PessimisticLockKeyResultType_LockResultLockedWithConflict, Existence: true, Value: []byte("v"), LockedWithConflictTs: 20}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New(Options{})
			mustPut(t, s, "k", "v", 10, 20)
			resp := c.run(s)
			eq(t, len(resp.Results), 1, "results")
			eqProto(t, resp.Results[0], c.want, "result")
		})
	}
}

// manyPuts returns n Put mutations on keys prefix00..prefix(n-1), the
// last one carrying assertion a.
func manyPuts(prefix string, n int, a kvrpcpb.Assertion) []*kvrpcpb.Mutation {
	ms := make([]*kvrpcpb.Mutation, n)
	for i := range ms {
		k := []byte(prefix + string(rune('a'+i/26)) + string(rune('a'+i%26)))
		ms[i] = &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: k, Value: []byte("v")}
	}
	ms[n-1].Assertion = a
	return ms
}

// TestPrewriteManyKeysOverEmptySpanSkipsConstraintCheck follows TiKV's
// commands/prewrite.rs Optimistic::can_skip_constraint_check: an optimistic
// prewrite of more than FORWARD_MIN_MUTATIONS_NUM (12) mutations is sorted
// and, when has_data_in_range finds no write-CF record of any key from the
// first to the last mutation key (inclusive), runs with
// skip_constraint_check. check_for_newer_version then does not load the
// newest write, so actions/prewrite.rs check_assertion skips Fast-level
// assertions (write_not_loaded_skip); Strict still checks.
func TestPrewriteManyKeysOverEmptySpanSkipsConstraintCheck(t *testing.T) {
	for _, c := range []struct {
		name  string
		n     int
		level kvrpcpb.AssertionLevel
		setup func(t *testing.T, s *Store)
		want  string
	}{
		{"13 keys, empty span, Fast: assertion skipped", 13, kvrpcpb.AssertionLevel_Fast, nil, ""},
		{"13 keys, data only outside the span, a lock inside, Fast: skipped", 13, kvrpcpb.AssertionLevel_Fast, func(t *testing.T, s *Store) {
			mustPut(t, s, "j", "x", 1, 2)                              // before the span
			mustPut(t, s, "kz", "x", 1, 2)                             // after the span
			mustPrewriteOK(t, s, putMutations("kab0", "x"), "kab0", 3) // a lock inside the span
		}, ""},
		{"13 keys, empty span, Strict: checked", 13, kvrpcpb.AssertionLevel_Strict, nil, "assertion_failed"},
		{"12 keys, empty span, Fast: checked", 12, kvrpcpb.AssertionLevel_Fast, nil, "assertion_failed"},
		{"13 keys, a rollback record inside the span, Fast: checked", 13, kvrpcpb.AssertionLevel_Fast, func(t *testing.T, s *Store) {
			rollback(s, 3, "kab0") // between two mutation keys
		}, "assertion_failed"},
		{"13 keys, a commit on the last key, Fast: checked", 13, kvrpcpb.AssertionLevel_Fast, func(t *testing.T, s *Store) {
			mustDelete(t, s, "kam", 1, 2)
		}, "assertion_failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New(Options{})
			if c.setup != nil {
				c.setup(t, s)
			}
			req := prewriteReq(manyPuts("k", c.n, kvrpcpb.Assertion_Exist), "kaa", 10)
			req.AssertionLevel = c.level
			eq(t, kinds(s.Prewrite(req).Errors), c.want, "errors")
		})
	}
}

// TestCheckTxnStatusAsyncLockInfoNamesPrimary follows TiKV's
// server/service/kv.rs future_check_txn_status: an Uncommitted status, the
// async-commit one included, is answered with
// lock.into_lock_info(lock.primary), so lock_info.key is the lock's primary
// even when the request named another key (verify_is_primary unset).
func TestCheckTxnStatusAsyncLockInfoNamesPrimary(t *testing.T) {
	s := New(Options{})
	req := prewriteReq(putMutations("p", "1", "s", "2"), "p", 50)
	req.UseAsyncCommit, req.Secondaries = true, keys("s")
	mustPrewrite(t, s, req)
	r := s.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("s"), LockTs: 50, CallerStartTs: 60, CurrentTs: 60})
	eq(t, kind(r.Error), "", "error")
	eq(t, r.Action, kvrpcpb.Action_NoAction, "action")
	eq(t, string(r.LockInfo.GetKey()), "p", "lock_info.key")
	eq(t, r.LockInfo.GetUseAsyncCommit(), true, "async lock reported")
}

// TestRollbackTSMarkedOnlyWithoutOverlappedWrite follows TiKV's
// actions/check_txn_status.rs check_txn_status_missing_lock, which
// CheckTxnStatus and Cleanup share: a protected rollback of T on a key
// locked by another async-commit transaction U is remembered in U's lock
// (mark_rollback_on_mismatching_lock) only when no other transaction's
// commit record sits at (key, T.start_ts); when one does, the rollback is
// folded into that record instead and U's lock is left alone.
// CheckSecondaryLocks marks in both cases (commands/check_secondary_locks.rs).
func TestRollbackTSMarkedOnlyWithoutOverlappedWrite(t *testing.T) {
	// A commits at 20 on k; U (pessimistic, start 10) then prewrites k
	// without a pessimistic lock (SkipPessimisticCheck skips the
	// constraint check), so its async lock has min_commit_ts 11 < 20.
	setup := func(t *testing.T) *Store {
		s := New(Options{})
		mustPut(t, s, "k", "a", 15, 20)
		req := prewriteReq(putMutations("k", "u"), "k", 10)
		req.ForUpdateTs, req.UseAsyncCommit = 10, true
		req.PessimisticActions = []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK}
		mustPrewrite(t, s, req)
		if l := lockOf(s, "k"); !l.UseAsyncCommit || l.MinCommitTS != 11 {
			t.Fatalf("setup: want U's async lock with min_commit_ts 11, got %+v", l)
		}
		return s
	}
	for _, c := range []struct {
		name     string
		rollback func(s *Store, start uint64)
		marked   bool
	}{
		{"CheckTxnStatus", func(s *Store, start uint64) {
			s.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("k"), LockTs: start, CurrentTs: 100, RollbackIfNotExist: true})
		}, false},
		{"Cleanup", func(s *Store, start uint64) {
			s.Cleanup(&kvrpcpb.CleanupRequest{Key: []byte("k"), StartVersion: start})
		}, false},
		{"CheckSecondaryLocks", func(s *Store, start uint64) {
			s.CheckSecondaryLocks(&kvrpcpb.CheckSecondaryLocksRequest{StartVersion: start, Keys: keys("k")})
		}, true},
	} {
		t.Run(c.name+" over A's commit record", func(t *testing.T) {
			s := setup(t)
			c.rollback(s, 20)
			eq(t, len(lockOf(s, "k").RollbackTS) > 0, c.marked, "U's lock marked")
			eq(t, writesOf(s, "k")[0].HasOverlappedRollback, true, "rollback folded into A's record")
		})
		t.Run(c.name+" at a free ts", func(t *testing.T) {
			s := setup(t)
			c.rollback(s, 25)
			eq(t, len(lockOf(s, "k").RollbackTS), 1, "U's lock marked")
		})
	}
}

// TestPessimisticLockNotFoundChecksOwnCommitRecord follows TiKV's
// commands/prewrite.rs Prewriter::prewrite: every PessimisticLockNotFound,
// LockForUpdateTsMismatch included, goes through
// check_committed_record_on_err, so a retried prewrite of a committed
// transaction that meets a stale lock of its own (left by a late
// force-lock request) succeeds with nothing written.
func TestPessimisticLockNotFoundChecksOwnCommitRecord(t *testing.T) {
	s := New(Options{})
	const start = 10
	lockKeys(t, s, start, start, "k")
	req := prewriteReq(putMutations("k", "v"), "k", start)
	req.ForUpdateTs, req.PessimisticActions = start, []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK}
	req.ForUpdateTsConstraints = []*kvrpcpb.PrewriteRequest_ForUpdateTSConstraint{{Index: 0, ExpectedForUpdateTs: start}}
	mustPrewrite(t, s, req)
	mustCommit(t, s, start, 20, "k")
	// A late force-lock request of the transaction relocks k at ts 20.
	forceLock(t, s, start, start, "k", nil)
	eq(t, lockOf(s, "k").ForUpdateTS, uint64(20), "stale lock's for_update_ts")

	resp := s.Prewrite(req)
	eq(t, kinds(resp.Errors), "", "retried prewrite of the committed txn")
	eq(t, lockOf(s, "k").Type, kvrpcpb.Op_PessimisticLock, "nothing written: the stale lock is untouched")
	eq(t, len(writesOf(s, "k")), 1, "only the commit record")

	// Without a commit record the mismatch stays an error.
	s2 := New(Options{})
	lockKeys(t, s2, start, 15, "k")
	eq(t, kinds(s2.Prewrite(req).Errors), "abort:PessimisticLockNotFound", "for_update_ts mismatch")
}

// TestRollbackOverExistingRollbackOnlyUnlocks follows TiKV's
// actions/check_txn_status.rs rollback_lock: when the transaction already
// has a rollback record on the key (a Rollback at its start ts, or an
// overlapped rollback), the lock is only removed: no record is written, the
// previous rollback is not collapsed (the transaction's own unprotected
// Rollback would otherwise be deleted) and the default-CF value stays.
func TestRollbackOverExistingRollbackOnlyUnlocks(t *testing.T) {
	s := New(Options{})
	const start = 10
	long := string(make([]byte, 300))
	// T's unprotected Rollback on k (BatchRollback of a missing lock).
	if e := rollback(s, start, "k"); e != nil {
		t.Fatal(e)
	}
	// T's pessimistic prewrite of k without a pessimistic lock skips the
	// constraint check, so its lock lands over its own Rollback.
	req := prewriteReq(putMutations("p", "1", "k", long), "p", start)
	req.ForUpdateTs = start
	req.PessimisticActions = []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK, kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK}
	mustPrewrite(t, s, req)
	if l := lockOf(s, "k"); l == nil || l.StartTS != start {
		t.Fatalf("setup: want T's lock on k, got %+v", l)
	}

	if e := rollback(s, start, "k"); e != nil {
		t.Fatal(e)
	}
	eq(t, lockOf(s, "k") == nil, true, "lock removed")
	info := s.MvccGetByKey([]byte("k"))
	eq(t, len(info.Writes), 1, "write records")
	eq(t, info.Writes[0].Type, kvrpcpb.Op_Rollback, "T's rollback record kept")
	eq(t, info.Writes[0].StartTs, uint64(start), "rollback start ts")
	eq(t, len(info.Values), 1, "default-CF value left as TiKV leaves it")
	resp, _ := s.PessimisticLock(lockReq(start, start+5, "k"))
	eq(t, kinds(resp.Errors), "abort:PessimisticLockRolledBack", "T can no longer lock k")
}

// latePessimisticPrewrite is the original, non-retry prewrite of a
// transaction's index key i (no pessimistic lock: SkipPessimisticCheck),
// arriving late.
func latePessimisticPrewrite(start, fut uint64) *kvrpcpb.PrewriteRequest {
	req := prewriteReq(putMutations("i", "x"), "r", start)
	req.ForUpdateTs = fut
	req.PessimisticActions = []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK}
	return req
}

// TestTxnStatusCacheStopsLatePessimisticPrewrite follows TiKV's
// storage/txn/txn_status_cache.rs and commands/prewrite.rs
// Prewriter::process_write: commands that learn a transaction committed
// (Commit, CheckTxnStatus, CheckSecondaryLocks, ResolveLock, 1PC
// prewrite: their WriteResult known_txn_status) record it, and a
// pessimistic prewrite of a transaction known committed is handled as a
// retry (is_retry_request), so its SkipPessimisticCheck keys get the
// constraint check, meet the transaction's own commit record and the
// request succeeds with nothing written instead of leaving a lock behind.
func TestTxnStatusCacheStopsLatePessimisticPrewrite(t *testing.T) {
	const start, fut, commitTS = 10, 10, 20
	pessimistic := func(req *kvrpcpb.PrewriteRequest) *kvrpcpb.PrewriteRequest {
		req.ForUpdateTs = fut
		req.PessimisticActions = []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK, kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK}
		return req
	}
	// committed runs T: row key r pessimistic-locked, index key i not,
	// both prewritten and committed; then the cache forgets T, as that of
	// a TiKV that did not run the commit, and learn runs on it.
	committed := func(t *testing.T, learn func(s *Store)) *Store {
		s := New(Options{})
		lockKeys(t, s, start, fut, "r")
		mustPrewrite(t, s, pessimistic(prewriteReq(putMutations("r", "1", "i", "x"), "r", start)))
		mustCommit(t, s, start, commitTS, "r", "i")
		s.txnStatus = newTxnStatusCache(txnStatusCacheCapacity)
		learn(s)
		return s
	}
	for _, c := range []struct {
		name   string
		learn  func(s *Store)
		stored bool // a late prewrite leaves a lock
	}{
		{"nothing learned", func(s *Store) {}, true},
		{"Commit", func(s *Store) { mustCommit(t, s, start, commitTS, "r") }, false},
		{"CheckTxnStatus", func(s *Store) {
			s.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("r"), LockTs: start, CurrentTs: 30})
		}, false},
		{"CheckSecondaryLocks", func(s *Store) {
			s.CheckSecondaryLocks(&kvrpcpb.CheckSecondaryLocksRequest{StartVersion: start, Keys: keys("r")})
		}, false},
		{"ResolveLockLite", func(s *Store) {
			s.ResolveLock(&kvrpcpb.ResolveLockRequest{StartVersion: start, CommitVersion: commitTS, Keys: keys("r")}, Range{})
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := committed(t, c.learn)
			resp := s.Prewrite(latePessimisticPrewrite(start, fut))
			eq(t, kinds(resp.Errors), "", "late prewrite of a committed txn")
			l := lockOf(s, "i")
			eq(t, l != nil && l.StartTS == start, c.stored, "late prewrite left a lock of T on i")
		})
	}
	t.Run("ResolveLock scan", func(t *testing.T) {
		s := New(Options{})
		mustPrewriteOK(t, s, putMutations("r", "1", "i", "x"), "r", start)
		s.ResolveLock(&kvrpcpb.ResolveLockRequest{StartVersion: start, CommitVersion: commitTS}, Range{})
		mustPrewrite(t, s, latePessimisticPrewrite(start, fut))
		eq(t, lockOf(s, "i") == nil, true, "no lock left on i")
	})
	t.Run("1PC", func(t *testing.T) {
		s := New(Options{})
		lockKeys(t, s, start, fut, "r")
		req := pessimistic(prewriteReq(putMutations("r", "1", "i", "x"), "r", start))
		req.TryOnePc = true
		eq(t, mustPrewrite(t, s, req).OnePcCommitTs != 0, true, "committed by 1PC")
		mustPrewrite(t, s, latePessimisticPrewrite(start, fut))
		eq(t, lockOf(s, "i") == nil, true, "no lock left on i")
	})
}

// TestTxnStatusCacheEvictsOldestBeyondCapacity: the cache is bounded like
// TiKV's (storage.txn-status-cache-capacity); re-recording a transaction
// does not make it count twice, nor change its recorded commit (TiKV's
// upsert never updates a committed entry).
func TestTxnStatusCacheEvictsOldestBeyondCapacity(t *testing.T) {
	c := newTxnStatusCache(2)
	c.insertCommitted(1, 2)
	c.insertCommitted(3, 4)
	c.insertCommitted(3, 5)
	ts, ok := c.committedTS(1)
	eq(t, ok && ts == 2, true, "txn 1 kept while within capacity")
	c.insertCommitted(6, 7)
	_, ok = c.committedTS(1)
	eq(t, ok, false, "oldest evicted beyond capacity")
	ts, ok = c.committedTS(3)
	eq(t, ok && ts == 4, true, "txn 3 kept, its first commit ts")
	off := newTxnStatusCache(0)
	off.insertCommitted(1, 2)
	_, ok = off.committedTS(1)
	eq(t, ok, false, "capacity 0 disables the cache")
}

// TestCheckSecondaryLocksStaleForceLockReleasedAsRollback follows TiKV's
// commands/check_secondary_locks.rs check_status_from_lock: a stale lock
// acquired with conflict next to the transaction's commit record answers
// Committed, and the lock is released with unlock_key(.., commit_ts 0), as
// every lock CheckSecondaryLocks removes: waiters learn no commit ts.
func TestCheckSecondaryLocksStaleForceLockReleasedAsRollback(t *testing.T) {
	type rel struct{ start, commit uint64 }
	var released []rel
	s := New(Options{OnLockReleased: func(_ []byte, start, commitTS uint64) { released = append(released, rel{start, commitTS}) }})
	mustPut(t, s, "k", "v", 10, 20)
	released = nil
	forceLock(t, s, 10, 10, "k", nil)
	r := s.CheckSecondaryLocks(&kvrpcpb.CheckSecondaryLocksRequest{StartVersion: 10, Keys: keys("k")})
	eq(t, r.CommitTs, uint64(20), "committed")
	eq(t, lockOf(s, "k") == nil, true, "stale lock removed")
	eq(t, len(released), 1, "one release")
	eq(t, released[0], rel{10, 0}, "released with commit ts 0")
}

// TestCommitPessimisticLockReleasedAsRollback follows TiKV's
// actions/commit.rs commit: committing a key that holds only the
// transaction's pessimistic lock removes it with unlock_key(.., commit_ts
// 0): nothing was written there, so waiters learn no commit ts. A
// prewritten key is released with the commit ts.
func TestCommitPessimisticLockReleasedAsRollback(t *testing.T) {
	got := map[string]uint64{}
	s := New(Options{OnLockReleased: func(k []byte, _, commitTS uint64) { got[string(k)] = commitTS }})
	lockKeys(t, s, 10, 10, "p", "k")
	req := prewriteReq(putMutations("p", "v"), "p", 10)
	req.ForUpdateTs, req.PessimisticActions = 10, []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK}
	mustPrewrite(t, s, req)
	mustCommit(t, s, 10, 20, "p", "k")
	eq(t, got["p"], uint64(20), "prewritten key released with its commit ts")
	eq(t, got["k"], uint64(0), "pessimistic-only key released with 0")
}
