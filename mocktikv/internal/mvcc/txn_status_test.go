package mvcc

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// lockKeys acquires pessimistic locks (primary = first key).
func lockKeys(t testing.TB, s *Store, start, fut uint64, ks ...string) {
	t.Helper()
	resp, blocked := s.PessimisticLock(lockReq(start, fut, ks...))
	if len(resp.Errors) > 0 || blocked != nil {
		t.Fatalf("pessimistic lock %v: %v", ks, resp.Errors)
	}
}

func lockReq(start, fut uint64, ks ...string) *kvrpcpb.PessimisticLockRequest {
	req := &kvrpcpb.PessimisticLockRequest{PrimaryLock: []byte(ks[0]), StartVersion: start, ForUpdateTs: fut, LockTtl: 3000, WaitTimeout: -1}
	for _, k := range ks {
		req.Mutations = append(req.Mutations, &kvrpcpb.Mutation{Op: kvrpcpb.Op_PessimisticLock, Key: []byte(k)})
	}
	return req
}

// TestCheckTxnStatusActions covers §6.4: every Action.
func TestCheckTxnStatusActions(t *testing.T) {
	const ttl = 100
	start := uint64(1000 << 18)
	live, expired := start+(50<<18), start+(200<<18)
	for _, c := range []struct {
		name       string
		setup      func(t *testing.T, s *Store)
		req        kvrpcpb.CheckTxnStatusRequest
		wantAction kvrpcpb.Action
		wantErr    string
		wantTTL    uint64
		wantCommit uint64
	}{
		{"live lock, no push", prewriteTTL(ttl, 0), kvrpcpb.CheckTxnStatusRequest{CallerStartTs: start + 5, CurrentTs: live}, kvrpcpb.Action_NoAction, "", ttl, 0},
		{"live lock pushed", prewriteTTL(ttl, start+1), kvrpcpb.CheckTxnStatusRequest{CallerStartTs: start + 5, CurrentTs: live}, kvrpcpb.Action_MinCommitTSPushed, "", ttl, 0},
		{"expired lock", prewriteTTL(ttl, start+1), kvrpcpb.CheckTxnStatusRequest{CurrentTs: expired}, kvrpcpb.Action_TTLExpireRollback, "", 0, 0},
		{"expired pessimistic lock, resolving", pessimisticTTL(ttl), kvrpcpb.CheckTxnStatusRequest{CurrentTs: expired, ResolvingPessimisticLock: true}, kvrpcpb.Action_TTLExpirePessimisticRollback, "", 0, 0},
		{"expired pessimistic lock", pessimisticTTL(ttl), kvrpcpb.CheckTxnStatusRequest{CurrentTs: expired}, kvrpcpb.Action_TTLExpireRollback, "", 0, 0},
		{"missing, rollback", nil, kvrpcpb.CheckTxnStatusRequest{CurrentTs: live, RollbackIfNotExist: true}, kvrpcpb.Action_LockNotExistRollback, "", 0, 0},
		{"missing, resolving pessimistic", nil, kvrpcpb.CheckTxnStatusRequest{CurrentTs: live, RollbackIfNotExist: true, ResolvingPessimisticLock: true}, kvrpcpb.Action_LockNotExistDoNothing, "", 0, 0},
		{"missing", nil, kvrpcpb.CheckTxnStatusRequest{CurrentTs: live}, 0, "txn_not_found", 0, 0},
		{"committed", func(t *testing.T, s *Store) { mustPut(t, s, "pk", "v", start, start+10) }, kvrpcpb.CheckTxnStatusRequest{CurrentTs: live}, kvrpcpb.Action_NoAction, "", 0, start + 10},
		{"rolled back", func(t *testing.T, s *Store) { rollback(s, start, "pk") }, kvrpcpb.CheckTxnStatusRequest{CurrentTs: live}, kvrpcpb.Action_NoAction, "", 0, 0},
		{"primary mismatch", func(t *testing.T, s *Store) { mustPrewriteOK(t, s, putMutations("pk", "v"), "other", start) },
			kvrpcpb.CheckTxnStatusRequest{CurrentTs: live, VerifyIsPrimary: true}, 0, "primary_mismatch", 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New(Options{})
			if c.setup != nil {
				c.setup(t, s)
			}
			req := c.req
			req.PrimaryKey, req.LockTs = []byte("pk"), start
			resp := s.CheckTxnStatus(&req)
			eq(t, kind(resp.Error), c.wantErr, "error")
			eq(t, resp.Action, c.wantAction, "action")
			eq(t, resp.LockTtl, c.wantTTL, "lock ttl")
			eq(t, resp.CommitVersion, c.wantCommit, "commit version")
		})
	}
}

func prewriteTTL(ttl, minCommitTS uint64) func(t *testing.T, s *Store) {
	return func(t *testing.T, s *Store) {
		req := prewriteReq(putMutations("pk", "v"), "pk", 1000<<18)
		req.LockTtl, req.MinCommitTs = ttl, minCommitTS
		mustPrewrite(t, s, req)
	}
}

func pessimisticTTL(ttl uint64) func(t *testing.T, s *Store) {
	return func(t *testing.T, s *Store) {
		req := lockReq(1000<<18, 1000<<18, "pk")
		req.LockTtl = ttl
		s.PessimisticLock(req)
	}
}

// TestRollbackProtection covers §0.4: which rollbacks are protected and
// collapsed, and the overlapped-rollback flag.
func TestRollbackProtection(t *testing.T) {
	t.Run("primary protected, secondary not", func(t *testing.T) {
		s := New(Options{})
		mustPrewriteOK(t, s, putMutations("p", "1", "s", "2"), "p", 10)
		if e := rollback(s, 10, "p", "s"); e != nil {
			t.Fatal(e)
		}
		eq(t, string(writesOf(s, "p")[0].ShortValue), "p", "primary's rollback is protected")
		eq(t, len(writesOf(s, "s")[0].ShortValue), 0, "secondary's is not")
	})
	t.Run("unprotected rollbacks collapse", func(t *testing.T) {
		s := New(Options{})
		rollback(s, 10, "k")
		rollback(s, 20, "k")
		ws := writesOf(s, "k")
		eq(t, len(ws), 1, "records")
		eq(t, ws[0].StartTs, uint64(20), "the newest rollback remains")
	})
	t.Run("protected rollbacks stay", func(t *testing.T) {
		s := New(Options{})
		s.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("k"), LockTs: 10, RollbackIfNotExist: true})
		rollback(s, 20, "k")
		eq(t, len(writesOf(s, "k")), 2, "records")
	})
	t.Run("overlapped rollback", func(t *testing.T) {
		s := New(Options{})
		mustPut(t, s, "k", "v", 5, 10)
		// Txn 10 is rolled back on k, where txn 5 committed at 10.
		s.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("k"), LockTs: 10, RollbackIfNotExist: true})
		ws := writesOf(s, "k")
		eq(t, len(ws), 1, "no separate rollback record")
		eq(t, ws[0].HasOverlappedRollback, true, "flag on the commit record")
		eq(t, ws[0].HasGcFence, true, "gc fence set")
		eq(t, kind(commit(s, 10, 11, "k")), "txn_lock_not_found", "txn 10 can no longer commit")
		r := s.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("k"), LockTs: 10})
		eq(t, r.CommitVersion, uint64(0), "txn 10 reads as rolled back")
		mustGetOK(t, s, "k", 11, "v")
	})
	t.Run("rollback recorded on an async lock", func(t *testing.T) {
		s := New(Options{})
		req := prewriteReq(putMutations("k", "v"), "k", 5)
		req.UseAsyncCommit = true
		mustPrewrite(t, s, req)
		s.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("k"), LockTs: 20, RollbackIfNotExist: true})
		eq(t, len(lockOf(s, "k").RollbackTS), 1, "rollback_ts")
		mustCommit(t, s, 5, 20, "k")
		eq(t, writesOf(s, "k")[0].HasOverlappedRollback, true, "commit at the rolled-back ts carries it")
	})
	t.Run("cleanup", func(t *testing.T) {
		s := New(Options{})
		mustPrewriteOK(t, s, putMutations("k", "v"), "k", 5<<18)
		r := s.Cleanup(&kvrpcpb.CleanupRequest{Key: []byte("k"), StartVersion: 5 << 18, CurrentTs: 6 << 18})
		eq(t, kind(r.Error), "locked", "live lock")
		r = s.Cleanup(&kvrpcpb.CleanupRequest{Key: []byte("k"), StartVersion: 5 << 18})
		eq(t, kind(r.Error), "", "current_ts 0 skips the ttl")
		mustPut(t, s, "c", "v", 1, 2)
		r = s.Cleanup(&kvrpcpb.CleanupRequest{Key: []byte("c"), StartVersion: 1})
		eq(t, r.CommitVersion, uint64(2), "committed txn reports commit ts")
	})
}

func TestCommitRules(t *testing.T) {
	s := New(Options{})
	eq(t, kind(commit(s, 5, 5, "k")), "abort:InvalidTxnTso", "commit_ts <= start_ts")
	eq(t, kind(commit(s, 5, 6, "k")), "txn_lock_not_found", "no lock")
	lockKeys(t, s, 5, 5, "k")
	mustCommit(t, s, 5, 6, "k")
	eq(t, len(writesOf(s, "k")), 0, "a pessimistic lock commits to nothing")
	mustPrewriteOK(t, s, putMutations("a", "1", "b", "2"), "a", 10)
	eq(t, kind(commit(s, 10, 12, "a", "zz")), "txn_lock_not_found", "first error aborts")
	eq(t, lockOf(s, "a") != nil, true, "nothing committed")
	mustCommit(t, s, 10, 12, "a", "b")
	mustCommit(t, s, 10, 99, "a") // idempotent whatever the commit ts
}

func TestCheckSecondaryLocks(t *testing.T) {
	s := New(Options{})
	req := prewriteReq(putMutations("p", "1", "s1", "2", "s2", "3"), "p", 10)
	req.UseAsyncCommit, req.Secondaries = true, keys("s1", "s2")
	mustPrewrite(t, s, req)
	check := func(ks ...string) *kvrpcpb.CheckSecondaryLocksResponse {
		return s.CheckSecondaryLocks(&kvrpcpb.CheckSecondaryLocksRequest{StartVersion: 10, Keys: keys(ks...)})
	}
	r := check("s1", "s2")
	eq(t, len(r.Locks), 2, "all locked")
	// A key never prewritten gets a protected rollback: the txn is dead.
	r = check("s1", "s3")
	eq(t, len(r.Locks)+int(r.CommitTs), 0, "rolled back")
	eq(t, writesOf(s, "s3")[0].Type, kvrpcpb.Op_Rollback, "rollback record")
	eq(t, string(writesOf(s, "s3")[0].ShortValue), "p", "protected")
	mustCommit(t, s, 10, 20, "s2")
	r = check("s2")
	eq(t, r.CommitTs, uint64(20), "committed")
}

func TestResolveLockLiteAndScanLockLimit(t *testing.T) {
	s := New(Options{})
	mustPrewriteOK(t, s, putMutations("a", "1", "b", "2", "c", "3"), "a", 10)
	r := s.ResolveLock(&kvrpcpb.ResolveLockRequest{StartVersion: 10, CommitVersion: 20, Keys: keys("b")}, Range{})
	eq(t, kind(r.Error), "", "lite commit")
	mustGetOK(t, s, "b", 20, "2")
	eqStrings(t, scanLocks(s, "", "", 100), "a/a@10", "c/a@10")
	resp := s.ScanLock(&kvrpcpb.ScanLockRequest{MaxVersion: 100, Limit: 1}, Range{})
	eq(t, len(resp.Locks), 1, "limit")
	resp = s.ScanLock(&kvrpcpb.ScanLockRequest{MaxVersion: 100}, Range{Start: EncodeKey([]byte("b"))})
	eq(t, len(resp.Locks), 1, "region-bounded")
	r = s.ResolveLock(&kvrpcpb.ResolveLockRequest{StartVersion: 10, CommitVersion: 5}, Range{})
	eq(t, kind(r.Error), "abort:InvalidTxnTso", "commit ts below the lock")
}

// TestPessimisticLockOutcomes covers §7.2 and §7.4.
func TestPessimisticLockOutcomes(t *testing.T) {
	t.Run("no-wait on another lock", func(t *testing.T) {
		s := New(Options{})
		lockKeys(t, s, 5, 5, "k")
		resp, blocked := s.PessimisticLock(lockReq(10, 10, "a", "k"))
		eq(t, kinds(resp.Errors), "locked", "errors")
		eq(t, blocked.Lock.LockVersion, uint64(5), "blocked by txn 5")
		eq(t, string(blocked.Key), "k", "blocked key")
		eq(t, lockOf(s, "a") == nil, true, "keys locked before are discarded")
	})
	t.Run("write conflict", func(t *testing.T) {
		s := New(Options{})
		mustPut(t, s, "k", "v", 5, 20)
		resp, _ := s.PessimisticLock(lockReq(10, 15, "k"))
		eq(t, kinds(resp.Errors), "conflict:PessimisticRetry", "errors")
		eq(t, resp.Errors[0].Conflict.ConflictCommitTs, uint64(20), "conflict commit ts")
	})
	t.Run("rolled back", func(t *testing.T) {
		s := New(Options{})
		rollback(s, 10, "k")
		resp, _ := s.PessimisticLock(lockReq(10, 10, "k"))
		eq(t, kinds(resp.Errors), "abort:PessimisticLockRolledBack", "errors")
	})
	t.Run("return values and existence", func(t *testing.T) {
		s := New(Options{})
		mustPut(t, s, "a", "va", 1, 2)
		req := lockReq(10, 10, "a", "b")
		req.ReturnValues = true
		resp, _ := s.PessimisticLock(req)
		eq(t, len(resp.Values), 2, "values")
		eq(t, string(resp.Values[0]), "va", "value")
		eq(t, resp.NotFounds[1], true, "b not found")
		req = lockReq(11, 11, "a", "b")
		req.CheckExistence = true
		resp, _ = s.PessimisticLock(req)
		eq(t, len(resp.Errors), 1, "a is locked by txn 10")
		pessRollback(s, 10, 10)
		resp, _ = s.PessimisticLock(req)
		eq(t, len(resp.Values), 0, "check_existence returns no values")
		eq(t, resp.NotFounds[0] == false && resp.NotFounds[1] == true, true, "not_founds")
	})
	t.Run("should not exist", func(t *testing.T) {
		s := New(Options{})
		mustPut(t, s, "a", "va", 1, 2)
		req := lockReq(10, 10, "a")
		req.Mutations[0].Assertion = kvrpcpb.Assertion_NotExist
		resp, _ := s.PessimisticLock(req)
		eq(t, kinds(resp.Errors), "already_exist", "errors")
	})
	t.Run("lock only if exists", func(t *testing.T) {
		s := New(Options{})
		mustPut(t, s, "a", "va", 1, 2)
		req := lockReq(10, 10, "a", "b")
		req.LockOnlyIfExists = true
		resp, _ := s.PessimisticLock(req)
		eq(t, kinds(resp.Errors), "abort:LockIfExistsFailed", "without return_values")
		req.ReturnValues = true
		resp, _ = s.PessimisticLock(req)
		eq(t, kinds(resp.Errors), "", "errors")
		eq(t, lockOf(s, "a") != nil && lockOf(s, "b") == nil, true, "only the existing key is locked")
	})
	t.Run("force lock with conflict", func(t *testing.T) {
		s := New(Options{})
		mustPut(t, s, "k", "v", 5, 20)
		req := lockReq(10, 15, "k")
		req.WakeUpMode = kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock
		resp, _ := s.PessimisticLock(req)
		eq(t, kinds(resp.Errors), "", "errors")
		eqProto(t, resp.Results[0], &kvrpcpb.PessimisticLockKeyResult{
			Type: kvrpcpb.PessimisticLockKeyResultType_LockResultLockedWithConflict, Value: []byte("v"), Existence: true, LockedWithConflictTs: 20,
		}, "result")
		l := lockOf(s, "k")
		eq(t, l.ForUpdateTS, uint64(20), "locked at the conflict ts")
		eq(t, l.IsLockedWithConflict, true, "locked with conflict")
		req = lockReq(30, 30, "k")
		req.WakeUpMode = kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock
		resp, blocked := s.PessimisticLock(req)
		eq(t, blocked != nil, true, "blocked")
		eq(t, resp.Results[0].Type, kvrpcpb.PessimisticLockKeyResultType_LockResultFailed, "failed result")
		req = lockReq(30, 30, "k", "l")
		req.WakeUpMode = kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock
		resp, _ = s.PessimisticLock(req)
		eq(t, kinds(resp.Errors), "abort", "force mode allows one key")
	})
	t.Run("relock raises for_update_ts", func(t *testing.T) {
		s := New(Options{})
		lockKeys(t, s, 10, 10, "k")
		lockKeys(t, s, 10, 15, "k")
		eq(t, lockOf(s, "k").ForUpdateTS, uint64(15), "for_update_ts")
		req := prewriteReq(putMutations("k", "v"), "k", 10)
		req.ForUpdateTs, req.PessimisticActions = 15, []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK}
		mustPrewrite(t, s, req)
		eq(t, lockOf(s, "k").Type, kvrpcpb.Op_Put, "pessimistic lock became a prewrite lock")
		resp, _ := s.PessimisticLock(lockReq(10, 20, "k"))
		eq(t, kinds(resp.Errors), "abort:LockTypeNotMatch", "over own prewrite lock")
	})
	t.Run("pessimistic rollback", func(t *testing.T) {
		var released []uint64
		s := New(Options{OnLockReleased: func(_ []byte, start, _ uint64) { released = append(released, start) }})
		lockKeys(t, s, 10, 15, "a", "b")
		s.PessimisticRollback(&kvrpcpb.PessimisticRollbackRequest{StartVersion: 10, ForUpdateTs: 12, Keys: keys("a")}, Range{})
		eq(t, lockOf(s, "a") != nil, true, "newer for_update_ts kept")
		pessRollback(s, 10, 15)
		eq(t, lockOf(s, "a") == nil && lockOf(s, "b") == nil, true, "region-wide rollback")
		eq(t, len(released), 2, "releases reported")
		eq(t, len(writesOf(s, "a")), 0, "no rollback records")
	})
	t.Run("wait timeout normalization", func(t *testing.T) {
		for _, c := range []struct {
			ms   int64
			want int64
			ok   bool
		}{{-1, 0, false}, {0, 1000, true}, {300, 300, true}, {5000, 1000, true}} {
			d, ok := WaitTimeout(c.ms)
			eq(t, ok, c.ok, "ok")
			eq(t, d.Milliseconds(), c.want, "timeout")
		}
	})
}

func pessRollback(s *Store, start, fut uint64) {
	s.PessimisticRollback(&kvrpcpb.PessimisticRollbackRequest{StartVersion: start, ForUpdateTs: fut}, Range{})
}

func TestHeartBeatAndReadRules(t *testing.T) {
	s := New(Options{})
	lockKeys(t, s, 10, 10, "p")
	r := s.TxnHeartBeat(&kvrpcpb.TxnHeartBeatRequest{PrimaryLock: []byte("p"), StartVersion: 10, AdviseLockTtl: 5000})
	eq(t, r.LockTtl, uint64(5000), "pessimistic lock heartbeat")
	eq(t, kind(s.TxnHeartBeat(&kvrpcpb.TxnHeartBeatRequest{PrimaryLock: []byte("p"), StartVersion: 11}).Error), "txn_not_found", "other txn")

	mustPut(t, s, "k", "v1", 1, 2)
	mustPrewriteOK(t, s, putMutations("k", "v2"), "k", 5)
	// committed_locks: read the value from the lock.
	g := s.Get(&kvrpcpb.GetRequest{Context: &kvrpcpb.Context{CommittedLocks: []uint64{5}}, Key: []byte("k"), Version: 10})
	eq(t, string(g.Value), "v2", "access lock")
	g = s.Get(&kvrpcpb.GetRequest{Context: &kvrpcpb.Context{CommittedLocks: []uint64{5}}, Key: []byte("k"), Version: 10, NeedCommitTs: true})
	eq(t, kind(g.Error), "locked", "need_commit_ts ignores access locks")
	g = s.Get(&kvrpcpb.GetRequest{Context: &kvrpcpb.Context{ResolvedLocks: []uint64{5}}, Key: []byte("k"), Version: 10, NeedCommitTs: true})
	eq(t, string(g.Value)+"@"+itoa(g.CommitTs), "v1@2", "bypass lock, commit ts")
	g = get(s, "k", 3, kvrpcpb.IsolationLevel_RCCheckTS)
	eq(t, kind(g.Error), "conflict:RcCheckTs", "RCCheckTS meets a lock")
	eq(t, s.MaxTS(), uint64(10), "reads pushed max_ts")
	s.Get(&kvrpcpb.GetRequest{Context: &kvrpcpb.Context{StaleRead: true}, Key: []byte("k"), Version: 50})
	eq(t, s.MaxTS(), uint64(10), "stale reads do not")
}

func TestManyKeys(t *testing.T) {
	s := New(Options{})
	var ms []*kvrpcpb.Mutation
	for i := range 20000 {
		k := []byte{byte(i >> 8), byte(i), 'k'}
		ms = append(ms, &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: k, Value: k})
	}
	// Reverse order, so every insert lands in the middle.
	for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
		ms[i], ms[j] = ms[j], ms[i]
	}
	mustPrewriteOK(t, s, ms, string(ms[0].Key), 10)
	for i := 0; i < len(ms); i += 1000 {
		var ks []string
		for _, m := range ms[i:min(i+1000, len(ms))] {
			ks = append(ks, string(m.Key))
		}
		mustCommit(t, s, 10, 20, ks...)
	}
	resp := s.Scan(&kvrpcpb.ScanRequest{Context: &kvrpcpb.Context{}, Limit: 30000, Version: 30}, Range{})
	eq(t, len(resp.Pairs), 20000, "scanned")
}
