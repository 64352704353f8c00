package mvcc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Shared locks, per TiKV's components/txn_types/src/lock.rs SharedLocks and
// the actions/commands that handle them. Transactions use primaries p<ts>
// and lock "k" in share mode, as client-go does (a shared-locked key is
// never a primary).

// hooks records the engine's lock callbacks.
type hooks struct {
	acquired []*kvrpcpb.LockInfo
	released []string // "key:start@commit"
}

func newHookedStore() (*Store, *hooks) {
	h := &hooks{}
	s := New(Options{
		OnLockAcquired: func(l *kvrpcpb.LockInfo) { h.acquired = append(h.acquired, l) },
		OnLockReleased: func(k []byte, start, commitTS uint64) {
			h.released = append(h.released, fmt.Sprintf("%s:%d@%d", k, start, commitTS))
		},
	})
	return s, h
}

func primaryOf(start uint64) string { return fmt.Sprintf("p%d", start) }

// slockReq is a shared pessimistic lock request of txn start on keys.
func slockReq(start, fut uint64, ks ...string) *kvrpcpb.PessimisticLockRequest {
	req := xlockReq(start, fut, ks...)
	for _, m := range req.Mutations {
		m.Op = kvrpcpb.Op_SharedPessimisticLock
	}
	return req
}

// xlockReq is an exclusive pessimistic lock request of txn start on keys.
func xlockReq(start, fut uint64, ks ...string) *kvrpcpb.PessimisticLockRequest {
	req := &kvrpcpb.PessimisticLockRequest{PrimaryLock: []byte(primaryOf(start)), StartVersion: start, ForUpdateTs: fut, LockTtl: 3000}
	for _, k := range ks {
		req.Mutations = append(req.Mutations, &kvrpcpb.Mutation{Op: kvrpcpb.Op_PessimisticLock, Key: []byte(k)})
	}
	return req
}

func mustLockReq(t *testing.T, s *Store, req *kvrpcpb.PessimisticLockRequest) {
	t.Helper()
	resp, b := s.PessimisticLock(req)
	if len(resp.Errors) > 0 || b != nil {
		t.Fatalf("lock by %d: %v", req.StartVersion, resp.Errors)
	}
}

// sharedPrewriteReq prewrites txn start's shared lock on key (and, if
// put, a Put of its primary), as a pessimistic transaction.
func sharedPrewriteReq(start, fut uint64, key string) *kvrpcpb.PrewriteRequest {
	return &kvrpcpb.PrewriteRequest{
		PrimaryLock: []byte(primaryOf(start)), StartVersion: start, ForUpdateTs: fut, LockTtl: 3000, MinCommitTs: start + 1,
		Mutations:          []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_SharedLock, Key: []byte(key)}},
		PessimisticActions: []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK},
	}
}

// holders renders a LockInfo as "SharedLock[10:PessimisticLock,20:Lock]"
// or "Put@10".
func holders(l *kvrpcpb.LockInfo) string {
	if l == nil {
		return "none"
	}
	if l.LockType != kvrpcpb.Op_SharedLock {
		return fmt.Sprintf("%s@%d", l.LockType, l.LockVersion)
	}
	var hs []string
	for _, h := range l.SharedLockInfos {
		hs = append(hs, fmt.Sprintf("%d:%s", h.LockVersion, h.LockType))
	}
	return "SharedLock[" + strings.Join(hs, ",") + "]"
}

// sharedScanLocks returns the region-wide ScanLock answer at maxTS.
func sharedScanLocks(s *Store, maxTS uint64, limit uint32) []*kvrpcpb.LockInfo {
	return s.ScanLock(&kvrpcpb.ScanLockRequest{MaxVersion: maxTS, Limit: limit}, Range{}).Locks
}

func lockOn(s *Store, key string) string {
	for _, l := range sharedScanLocks(s, maxU64-1, 0) {
		if string(l.Key) == key {
			return holders(l)
		}
	}
	return "none"
}

// TestSharedLockAcquire: several transactions hold one key in share mode;
// the container reports each as a sub-lock (SharedLocks::into_lock_info),
// only its creation is a new lock, and a re-lock rewrites a sub-lock only
// for a larger for_update_ts (handle_existing_shared_lock).
func TestSharedLockAcquire(t *testing.T) {
	s, h := newHookedStore()
	mustPut(t, s, "k", "v", 1, 2)
	h.acquired = nil
	mustLockReq(t, s, slockReq(10, 10, "k"))
	mustLockReq(t, s, slockReq(20, 20, "k"))
	eq(t, lockOn(s, "k"), "SharedLock[10:PessimisticLock,20:PessimisticLock]", "holders")
	eq(t, len(h.acquired), 1, "only the container's creation is a new lock")
	eq(t, holders(h.acquired[0]), "SharedLock[10:PessimisticLock]", "new lock")

	l := sharedScanLocks(s, 100, 0)[0]
	eqProto(t, l, &kvrpcpb.LockInfo{Key: []byte("k"), LockType: kvrpcpb.Op_SharedLock, SharedLockInfos: []*kvrpcpb.LockInfo{
		{PrimaryLock: []byte("p10"), LockVersion: 10, Key: []byte("k"), LockTtl: 3000, LockType: kvrpcpb.Op_PessimisticLock, LockForUpdateTs: 10},
		{PrimaryLock: []byte("p20"), LockVersion: 20, Key: []byte("k"), LockTtl: 3000, LockType: kvrpcpb.Op_PessimisticLock, LockForUpdateTs: 20},
	}}, "ScanLock's LockInfo")

	for _, c := range []struct {
		fut, want uint64
	}{{5, 10}, {10, 10}, {15, 15}} {
		req := slockReq(10, c.fut, "k")
		req.ReturnValues = true
		resp, b := s.PessimisticLock(req)
		if len(resp.Errors) > 0 || b != nil {
			t.Fatalf("re-lock at %d: %v", c.fut, resp.Errors)
		}
		// No value is loaded for an existing shared lock.
		eq(t, len(resp.Values) == 1 && len(resp.Values[0]) == 0 && resp.NotFounds[0], true, "re-lock returns no value")
		eq(t, sharedScanLocks(s, 100, 0)[0].SharedLockInfos[0].LockForUpdateTs, c.want, fmt.Sprintf("for_update_ts after re-lock at %d", c.fut))
	}

	// A new holder reads values like any pessimistic lock.
	req := slockReq(30, 30, "k")
	req.ReturnValues = true
	resp, _ := s.PessimisticLock(req)
	eq(t, string(resp.Values[0]), "v", "value returned to a new holder")
	// A new holder still meets write conflicts.
	resp, _ = s.PessimisticLock(slockReq(40, 1, "k"))
	eq(t, kinds(resp.Errors), "conflict:PessimisticRetry", "write conflict")
}

// TestSharedExclusiveConflicts: which requests a lock blocks
// (acquire_pessimistic_lock.rs, commands/acquire_pessimistic_lock.rs).
func TestSharedExclusiveConflicts(t *testing.T) {
	t.Run("exclusive blocks shared", func(t *testing.T) {
		s := New(Options{})
		mustLockReq(t, s, xlockReq(10, 10, "k"))
		for _, start := range []uint64{20, 10} { // its own holder too
			resp, b := s.PessimisticLock(slockReq(start, start, "k"))
			eq(t, kinds(resp.Errors), "locked", "shared request meets the lock")
			eq(t, holders(resp.Errors[0].Locked), "PessimisticLock@10", "the exclusive lock is reported")
			eq(t, b != nil && b.Shared && holders(b.Lock) == "PessimisticLock@10", true, "blocked, as a shared request")
		}
	})
	t.Run("shared blocks exclusive", func(t *testing.T) {
		s := New(Options{})
		mustLockReq(t, s, slockReq(10, 10, "k"))
		mustLockReq(t, s, slockReq(20, 20, "k"))

		// First meeting: the container becomes shrink-only, the request
		// fails at once (no wait) and writes none of its other keys.
		resp, b := s.PessimisticLock(xlockReq(30, 30, "a", "k"))
		eq(t, kinds(resp.Errors), "locked", "first exclusive request")
		eq(t, holders(resp.Errors[0].Locked), "SharedLock[10:PessimisticLock,20:PessimisticLock]", "the container is reported")
		eq(t, b == nil, true, "no wait on the first meeting")
		eq(t, lockOn(s, "a"), "none", "the request's other keys are not locked")
		eq(t, s.lookup([]byte("k")).shared.shrinkOnly, true, "shrink-only")

		// Shrink-only: new shared holders and exclusive requests wait.
		resp, b = s.PessimisticLock(slockReq(40, 40, "k"))
		eq(t, kinds(resp.Errors), "locked", "new shared holder refused")
		eq(t, b != nil && holders(b.Lock) == "SharedLock[10:PessimisticLock,20:PessimisticLock]", true, "blocked by the container")
		resp, b = s.PessimisticLock(xlockReq(30, 30, "k"))
		eq(t, kinds(resp.Errors), "locked", "second exclusive request")
		eq(t, b != nil && !b.Shared, true, "the exclusive request now waits")
		// Existing holders may still re-lock.
		mustLockReq(t, s, slockReq(10, 11, "k"))

		// The last holder leaving frees the key, flag included.
		eq(t, rollback(s, 10, "k"), (*kvrpcpb.KeyError)(nil), "rollback 10")
		eq(t, rollback(s, 20, "k"), (*kvrpcpb.KeyError)(nil), "rollback 20")
		eq(t, lockOn(s, "k"), "none", "no container left")
		mustLockReq(t, s, slockReq(40, 40, "k"))
		eq(t, s.lookup([]byte("k")).shared.shrinkOnly, false, "a new container is not shrink-only")
	})
	t.Run("resumed exclusive request", func(t *testing.T) {
		s := New(Options{})
		mustLockReq(t, s, slockReq(10, 10, "k"))
		var got *Blocked
		resp, _ := s.PessimisticLockResumedOrWait(slockReq(30, 30, "k"), func(b *Blocked) { got = b })
		eq(t, kinds(resp.Errors), "locked", "resumed request")
		eq(t, got != nil && !got.Shared && holders(got.Lock) == "SharedLock[10:PessimisticLock]", true, "blocked by the container, exclusively")
		eq(t, s.lookup([]byte("k")).shared.shrinkOnly, false, "a resumed request does not shrink")
	})
}

// TestSharedReadsIgnore: reads of every kind skip a SharedLocks
// (check_ts_conflict_si / _rc_check_ts), even a prewritten sub-lock.
func TestSharedReadsIgnore(t *testing.T) {
	s := New(Options{})
	mustPut(t, s, "k", "v", 1, 2)
	mustLockReq(t, s, slockReq(10, 10, "k"))
	mustPrewrite(t, s, sharedPrewriteReq(10, 10, "k"))
	for _, iso := range []kvrpcpb.IsolationLevel{kvrpcpb.IsolationLevel_SI, kvrpcpb.IsolationLevel_RC, kvrpcpb.IsolationLevel_RCCheckTS} {
		for _, ts := range []uint64{5, 20, maxU64} {
			r := get(s, "k", ts, iso)
			eq(t, r.Error == nil && string(r.Value) == "v", true, fmt.Sprintf("get %s@%d", iso, ts))
		}
	}
	eqStrings(t, scan(s, "", "", 10, 20, false), "k=v")
	bg := s.BatchGet(&kvrpcpb.BatchGetRequest{Context: &kvrpcpb.Context{}, Keys: keys("k"), Version: 20})
	eq(t, len(bg.Pairs) == 1 && bg.Pairs[0].Error == nil, true, "batch get")
	// MvccGetByKey shows a sub-lock.
	info := s.MvccGetByKey([]byte("k"))
	eq(t, info.Lock.GetStartTs(), uint64(10), "mvcc lock")
}

// TestSharedPrewrite: Op_SharedLock turns the sub-lock into a Lock
// sub-lock; everything else meets the container (actions/prewrite.rs).
func TestSharedPrewrite(t *testing.T) {
	setup := func(t *testing.T) *Store {
		s := New(Options{})
		mustLockReq(t, s, slockReq(10, 10, "k"))
		mustLockReq(t, s, slockReq(20, 20, "k"))
		return s
	}
	for _, c := range []struct {
		name string
		req  func() *kvrpcpb.PrewriteRequest
		want string // kinds of errors
		lock string // the key's lock afterwards
	}{
		{"shared", func() *kvrpcpb.PrewriteRequest { return sharedPrewriteReq(10, 10, "k") }, "", "SharedLock[10:Lock,20:PessimisticLock]"},
		{"put by a holder", func() *kvrpcpb.PrewriteRequest {
			r := sharedPrewriteReq(10, 10, "k")
			r.Mutations[0].Op, r.Mutations[0].Value = kvrpcpb.Op_Put, []byte("x")
			return r
		}, "abort", "SharedLock[10:PessimisticLock,20:PessimisticLock]"},
		{"put by another txn", func() *kvrpcpb.PrewriteRequest { return prewriteReq(putMutations("k", "x"), "k", 30) }, "locked", "SharedLock[10:PessimisticLock,20:PessimisticLock]"},
		{"shared without a sub-lock", func() *kvrpcpb.PrewriteRequest { return sharedPrewriteReq(30, 30, "k") }, "abort:PessimisticLockNotFound", "SharedLock[10:PessimisticLock,20:PessimisticLock]"},
		{"optimistic shared", func() *kvrpcpb.PrewriteRequest {
			r := sharedPrewriteReq(10, 0, "k")
			r.PessimisticActions = nil
			return r
		}, "abort:LockTypeNotMatch", "SharedLock[10:PessimisticLock,20:PessimisticLock]"},
		{"1PC", func() *kvrpcpb.PrewriteRequest {
			r := sharedPrewriteReq(10, 10, "k")
			r.TryOnePc = true
			return r
		}, "abort", "SharedLock[10:PessimisticLock,20:PessimisticLock]"},
		{"async commit", func() *kvrpcpb.PrewriteRequest {
			r := sharedPrewriteReq(10, 10, "k")
			r.UseAsyncCommit, r.Secondaries = true, keys("k")
			return r
		}, "abort", "SharedLock[10:PessimisticLock,20:PessimisticLock]"},
		{"for_update_ts constraint", func() *kvrpcpb.PrewriteRequest {
			r := sharedPrewriteReq(10, 10, "k")
			r.ForUpdateTsConstraints = []*kvrpcpb.PrewriteRequest_ForUpdateTSConstraint{{Index: 0, ExpectedForUpdateTs: 9}}
			return r
		}, "abort:PessimisticLockNotFound", "SharedLock[10:PessimisticLock,20:PessimisticLock]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := setup(t)
			resp := s.Prewrite(c.req())
			eq(t, kinds(resp.Errors), c.want, "errors")
			eq(t, lockOn(s, "k"), c.lock, "lock afterwards")
			if c.want == "locked" {
				eq(t, holders(resp.Errors[0].Locked), c.lock, "the container is reported")
			}
		})
	}
	t.Run("retry", func(t *testing.T) {
		s := setup(t)
		mustPrewrite(t, s, sharedPrewriteReq(10, 10, "k"))
		mustPrewrite(t, s, sharedPrewriteReq(10, 10, "k"))
		eq(t, lockOn(s, "k"), "SharedLock[10:Lock,20:PessimisticLock]", "retry changes nothing")
	})
	t.Run("exclusive lock", func(t *testing.T) {
		s := New(Options{})
		mustLockReq(t, s, xlockReq(10, 10, "k"))
		resp := s.Prewrite(sharedPrewriteReq(10, 10, "k"))
		eq(t, kinds(resp.Errors), "locked", "shared prewrite over an exclusive lock")
	})
}

// TestSharedCommitRollback: holders leave one by one (commit.rs,
// rollback_shared_lock, pessimistic_rollback.rs); only the last one
// deletes the container and wakes waiters.
func TestSharedCommitRollback(t *testing.T) {
	s, h := newHookedStore()
	for _, ts := range []uint64{10, 20, 30, 40} {
		mustLockReq(t, s, slockReq(ts, ts, "k"))
	}
	pw := sharedPrewriteReq(10, 10, "k")
	pw.MinCommitTs = 14
	mustPrewrite(t, s, pw)

	// A commit below the sub-lock's min_commit_ts fails.
	eq(t, kind(commit(s, 10, 12, "k")), "commit_ts_expired", "commit below min_commit_ts")
	mustCommit(t, s, 10, 15, "k")
	// Committing a never-prewritten sub-lock only removes it.
	mustCommit(t, s, 20, 25, "k")
	eq(t, rollback(s, 30, "k"), (*kvrpcpb.KeyError)(nil), "rollback 30")
	eq(t, lockOn(s, "k"), "SharedLock[40:PessimisticLock]", "one holder left")
	eq(t, len(h.released), 0, "no release while holders remain")
	s.PessimisticRollback(&kvrpcpb.PessimisticRollbackRequest{StartVersion: 40, ForUpdateTs: 39, Keys: keys("k")}, Range{})
	eq(t, lockOn(s, "k"), "SharedLock[40:PessimisticLock]", "for_update_ts above the request's: kept")
	s.PessimisticRollback(&kvrpcpb.PessimisticRollbackRequest{StartVersion: 40, ForUpdateTs: 40, Keys: keys("k", "k")}, Range{})
	eq(t, lockOn(s, "k"), "none", "the last holder leaves")
	eq(t, strings.Join(h.released, " "), "k:40@0", "one release, by the last holder")

	var ws []string
	for _, w := range writesOf(s, "k") {
		ws = append(ws, fmt.Sprintf("%s@%d/%d:%q", w.Type, w.CommitTs, w.StartTs, w.ShortValue))
	}
	// Commit of 10 is a Lock record; the rollback of 30 is unprotected (a
	// shared-locked key is never a primary); 20 and 40 leave nothing.
	eqStrings(t, ws, `Rollback@30/30:""`, `Lock@15/10:""`)
	// Re-committing a committed sub-lock succeeds; an unknown one fails.
	eq(t, commit(s, 10, 15, "k"), (*kvrpcpb.KeyError)(nil), "re-commit")
	eq(t, kind(commit(s, 50, 55, "k")), "txn_lock_not_found", "commit without a sub-lock")
}

// TestSharedStatusCommands: the status commands on a shared-locked key.
func TestSharedStatusCommands(t *testing.T) {
	setup := func(t *testing.T) (*Store, *hooks) {
		s, h := newHookedStore()
		mustLockReq(t, s, slockReq(10, 10, "k"))
		mustLockReq(t, s, slockReq(20, 20, "k"))
		return s, h
	}
	t.Run("CheckTxnStatus", func(t *testing.T) {
		s, _ := setup(t)
		for _, ts := range []uint64{10, 99} { // held or not: never a primary
			r := s.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("k"), LockTs: ts, CurrentTs: maxU64 - 1, RollbackIfNotExist: true})
			eq(t, kind(r.Error), "primary_mismatch", "check_txn_status")
			eq(t, holders(r.Error.PrimaryMismatch.LockInfo), "SharedLock[10:PessimisticLock,20:PessimisticLock]", "mismatch info")
		}
		eq(t, len(writesOf(s, "k")), 0, "nothing written")
	})
	t.Run("TxnHeartBeat", func(t *testing.T) {
		s, _ := setup(t)
		r := s.TxnHeartBeat(&kvrpcpb.TxnHeartBeatRequest{PrimaryLock: []byte("k"), StartVersion: 10, AdviseLockTtl: 9000})
		eq(t, kind(r.Error), "primary_mismatch", "holder")
		r = s.TxnHeartBeat(&kvrpcpb.TxnHeartBeatRequest{PrimaryLock: []byte("k"), StartVersion: 99, AdviseLockTtl: 9000})
		eq(t, kind(r.Error), "txn_not_found", "not a holder")
	})
	t.Run("Cleanup", func(t *testing.T) {
		s, h := setup(t)
		live := uint64(10) << 18
		r := s.Cleanup(&kvrpcpb.CleanupRequest{Key: []byte("k"), StartVersion: 10, CurrentTs: live})
		eq(t, holders(r.Error.GetLocked()), "SharedLock[10:PessimisticLock,20:PessimisticLock]", "live: the container is locked")
		expired := (uint64(10)>>18 + 3001) << 18
		r = s.Cleanup(&kvrpcpb.CleanupRequest{Key: []byte("k"), StartVersion: 10, CurrentTs: expired})
		eq(t, r.Error, (*kvrpcpb.KeyError)(nil), "expired: rolled back")
		eq(t, lockOn(s, "k"), "SharedLock[20:PessimisticLock]", "20 remains")
		r = s.Cleanup(&kvrpcpb.CleanupRequest{Key: []byte("k"), StartVersion: 20})
		eq(t, r.Error, (*kvrpcpb.KeyError)(nil), "current_ts 0: no TTL check")
		eq(t, strings.Join(h.released, " "), "k:20@0", "released with the last holder")
	})
	t.Run("CheckSecondaryLocks", func(t *testing.T) {
		s, _ := setup(t)
		r := s.CheckSecondaryLocks(&kvrpcpb.CheckSecondaryLocksRequest{Keys: keys("k"), StartVersion: 10})
		eq(t, r.Error == nil && len(r.Locks) == 0 && r.CommitTs == 0, true, "rolled back")
		eq(t, lockOn(s, "k"), "SharedLock[10:PessimisticLock,20:PessimisticLock]", "the container is untouched")
		w := writesOf(s, "k")
		eq(t, len(w) == 1 && w[0].Type == kvrpcpb.Op_Rollback && string(w[0].ShortValue) == "p", true, "a protected rollback")
	})
	t.Run("ResolveLock", func(t *testing.T) {
		s, h := setup(t)
		mustLockReq(t, s, slockReq(30, 30, "k"))
		mustPrewrite(t, s, sharedPrewriteReq(20, 20, "k"))
		r := s.ResolveLock(&kvrpcpb.ResolveLockRequest{TxnInfos: []*kvrpcpb.TxnInfo{{Txn: 10, Status: 0}, {Txn: 20, Status: 25}}}, Range{})
		eq(t, r.Error, (*kvrpcpb.KeyError)(nil), "resolve 10 and 20")
		eq(t, lockOn(s, "k"), "SharedLock[30:PessimisticLock]", "30 remains")
		eq(t, len(h.released), 0, "no release yet")
		r = s.ResolveLock(&kvrpcpb.ResolveLockRequest{StartVersion: 30, CommitVersion: 35}, Range{})
		eq(t, r.Error, (*kvrpcpb.KeyError)(nil), "resolve 30")
		eq(t, lockOn(s, "k"), "none", "gone")
		eq(t, strings.Join(h.released, " "), "k:30@0", "committing a pessimistic sub-lock releases as a rollback")
		var ws []string
		for _, w := range writesOf(s, "k") {
			ws = append(ws, fmt.Sprintf("%s@%d", w.Type, w.CommitTs))
		}
		eqStrings(t, ws, "Lock@25", "Rollback@10")
	})
	t.Run("ResolveLock lite", func(t *testing.T) {
		s, _ := setup(t)
		r := s.ResolveLock(&kvrpcpb.ResolveLockRequest{StartVersion: 20, Keys: keys("k")}, Range{})
		eq(t, r.Error, (*kvrpcpb.KeyError)(nil), "rollback 20")
		eq(t, lockOn(s, "k"), "SharedLock[10:PessimisticLock]", "10 remains")
	})
}

// TestSharedScanLock: ScanLock filters and counts sub-locks
// (scan_locks_from_storage): the container keeps those at or below
// max_version, truncated to the smallest start ts that fit the limit.
func TestSharedScanLock(t *testing.T) {
	s := New(Options{})
	mustLockReq(t, s, xlockReq(5, 5, "a"))
	for _, ts := range []uint64{30, 10, 20} {
		mustLockReq(t, s, slockReq(ts, ts, "k"))
	}
	mustLockReq(t, s, xlockReq(6, 6, "z"))
	for _, c := range []struct {
		maxTS uint64
		limit uint32
		want  string
	}{
		{100, 0, "PessimisticLock@5 SharedLock[10:PessimisticLock,20:PessimisticLock,30:PessimisticLock] PessimisticLock@6"},
		{25, 0, "PessimisticLock@5 SharedLock[10:PessimisticLock,20:PessimisticLock] PessimisticLock@6"},
		{9, 0, "PessimisticLock@5 PessimisticLock@6"},
		{100, 3, "PessimisticLock@5 SharedLock[10:PessimisticLock,20:PessimisticLock]"},
		{100, 4, "PessimisticLock@5 SharedLock[10:PessimisticLock,20:PessimisticLock,30:PessimisticLock]"},
		{100, 1, "PessimisticLock@5"},
	} {
		var got []string
		for _, l := range sharedScanLocks(s, c.maxTS, c.limit) {
			got = append(got, holders(l))
		}
		eq(t, strings.Join(got, " "), c.want, fmt.Sprintf("max %d limit %d", c.maxTS, c.limit))
	}
}
