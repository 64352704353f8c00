package mvcc

import (
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// TestPrewriteRules covers §5 of the semantics: conflicts against start_ts
// and for_update_ts, Insert/CheckNotExists, pessimistic actions, locks and
// error priority.
func TestPrewriteRules(t *testing.T) {
	pess := func(req *kvrpcpb.PrewriteRequest, fut uint64, actions ...kvrpcpb.PrewriteRequest_PessimisticAction) *kvrpcpb.PrewriteRequest {
		req.ForUpdateTs = fut
		req.PessimisticActions = actions
		return req
	}
	insert := func(k string) []*kvrpcpb.Mutation {
		return []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Insert, Key: []byte(k), Value: []byte("v")}}
	}
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, s *Store)
		req   *kvrpcpb.PrewriteRequest
		want  string // kinds of the errors
	}{
		{"newer commit conflicts", func(t *testing.T, s *Store) { mustPut(t, s, "k", "v", 5, 10) },
			prewriteReq(putMutations("k", "x"), "k", 8), "conflict:Optimistic"},
		{"newer rollback conflicts too", func(t *testing.T, s *Store) { rollback(s, 10, "k") },
			prewriteReq(putMutations("k", "x"), "k", 8), "conflict:Optimistic"},
		{"older commit is fine", func(t *testing.T, s *Store) { mustPut(t, s, "k", "v", 5, 10) },
			prewriteReq(putMutations("k", "x"), "k", 12), ""},
		{"own rollback", func(t *testing.T, s *Store) { rollback(s, 8, "k") },
			prewriteReq(putMutations("k", "x"), "k", 8), "conflict:SelfRolledBack"},
		{"skip_constraint_check ignores newer commits", func(t *testing.T, s *Store) { mustPut(t, s, "k", "v", 5, 10) },
			func() *kvrpcpb.PrewriteRequest {
				r := prewriteReq(putMutations("k", "x"), "k", 8)
				r.SkipConstraintCheck = true
				return r
			}(), ""},
		{"insert over a live value", func(t *testing.T, s *Store) { mustPut(t, s, "k", "v", 5, 10) },
			prewriteReq(insert("k"), "k", 12), "already_exist"},
		{"insert over a deleted value", func(t *testing.T, s *Store) { mustPut(t, s, "k", "v", 5, 10); mustDelete(t, s, "k", 11, 12) },
			prewriteReq(insert("k"), "k", 15), ""},
		{"insert over a value hidden by a rollback record", func(t *testing.T, s *Store) { mustPut(t, s, "k", "v", 5, 10); rollback(s, 11, "k") },
			prewriteReq(insert("k"), "k", 15), "already_exist"},
		{"check_not_exists writes nothing", nil,
			prewriteReq([]*kvrpcpb.Mutation{{Op: kvrpcpb.Op_CheckNotExists, Key: []byte("k")}}, "k", 15), ""},
		{"all locks reported", func(t *testing.T, s *Store) { mustPrewriteOK(t, s, putMutations("a", "1", "b", "2"), "a", 5) },
			prewriteReq(putMutations("a", "x", "b", "y", "c", "z"), "a", 8), "locked,locked"},
		{"conflict is fatal and alone", func(t *testing.T, s *Store) {
			mustPrewriteOK(t, s, putMutations("a", "1"), "a", 5)
			mustPut(t, s, "b", "v", 6, 10)
		}, prewriteReq(putMutations("a", "x", "b", "y"), "a", 8), "conflict:Optimistic"},
		{"optimistic over own pessimistic lock", func(t *testing.T, s *Store) { lockKeys(t, s, 8, 8, "k") },
			prewriteReq(putMutations("k", "x"), "k", 8), "abort:LockTypeNotMatch"},
		{"pessimistic: lock of another txn under DoPessimisticCheck", func(t *testing.T, s *Store) { mustPrewriteOK(t, s, putMutations("k", "1"), "k", 5) },
			pess(prewriteReq(putMutations("k", "x"), "k", 8), 9, kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK), "abort:PessimisticLockNotFound"},
		{"pessimistic: own lock", func(t *testing.T, s *Store) { lockKeys(t, s, 8, 9, "k") },
			pess(prewriteReq(putMutations("k", "x"), "k", 8), 9, kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK), ""},
		{"pessimistic: missing lock amended", nil,
			pess(prewriteReq(putMutations("k", "x"), "k", 8), 9, kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK), ""},
		{"pessimistic: missing lock after a newer write", func(t *testing.T, s *Store) { mustPut(t, s, "k", "v", 9, 10) },
			pess(prewriteReq(putMutations("k", "x"), "k", 8), 12, kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK), "abort:PessimisticLockNotFound"},
		{"pessimistic: lazy uniqueness check", func(t *testing.T, s *Store) { mustPut(t, s, "k", "v", 9, 10) },
			pess(prewriteReq(putMutations("k", "x"), "k", 8), 12, kvrpcpb.PrewriteRequest_DO_CONSTRAINT_CHECK), "conflict:LazyUniquenessCheck"},
		{"pessimistic: lock of another txn reported with ttl 0", func(t *testing.T, s *Store) { mustPrewriteOK(t, s, putMutations("k", "1"), "k", 5) },
			pess(prewriteReq(putMutations("k", "x"), "k", 8), 9, kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK), "locked"},
		{"pessimistic: check_not_exists refused", nil,
			pess(prewriteReq([]*kvrpcpb.Mutation{{Op: kvrpcpb.Op_CheckNotExists, Key: []byte("k")}}, "k", 8), 9, kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK), "abort"},
		{"pessimistic: extra mutations dropped", nil,
			pess(prewriteReq(putMutations("k", "x", "l", "y"), "k", 8), 9, kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK), ""},
		{"key too large", nil, prewriteReq(putMutations(strings.Repeat("k", 8200), "x"), "k", 8), "abort:KeyTooLarge"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New(Options{})
			if c.setup != nil {
				c.setup(t, s)
			}
			resp := s.Prewrite(c.req)
			eq(t, kinds(resp.Errors), c.want, "errors")
			if c.want != "" {
				// Failed prewrites write nothing of this transaction.
				for _, m := range c.req.Mutations {
					if l := lockOf(s, string(m.Key)); l != nil && l.StartTS == c.req.StartVersion && l.Type != kvrpcpb.Op_PessimisticLock {
						t.Fatalf("lock on %q written by a failed prewrite", m.Key)
					}
				}
			}
		})
	}
}

func TestPrewriteLockedTTLAndDetails(t *testing.T) {
	s := New(Options{})
	mustPrewriteOK(t, s, putMutations("k", "1"), "k", 5)
	req := prewriteReq(putMutations("k", "x"), "k", 8)
	req.ForUpdateTs, req.PessimisticActions = 9, []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK}
	info := s.Prewrite(req).Errors[0].Locked
	eq(t, info.LockTtl, uint64(0), "a pessimistic prewrite sees ttl 0")
	eq(t, info.LockVersion, uint64(5), "lock version")
	info = s.Prewrite(prewriteReq(putMutations("k", "x"), "k", 8)).Errors[0].Locked
	eq(t, info.LockTtl, uint64(3000), "an optimistic one sees the ttl")
}

func TestPrewriteIdempotent(t *testing.T) {
	s := New(Options{})
	req := prewriteReq(putMutations("k", "v"), "k", 5)
	mustPrewrite(t, s, req)
	mustPrewrite(t, s, req) // same txn's lock: success, no rewrite
	mustCommit(t, s, 5, 10, "k")
	// A retried prewrite after the commit succeeds with nothing written
	// (check_committed_record_on_err on the now-conflicting key).
	mustPut(t, s, "k", "w", 11, 12)
	resp := s.Prewrite(req)
	eq(t, kinds(resp.Errors), "", "retried prewrite of a committed txn")
	eq(t, lockOf(s, "k") == nil, true, "nothing written")
}

// TestPrewriteAssertions covers assertion levels and error priority.
func TestPrewriteAssertions(t *testing.T) {
	for _, c := range []struct {
		name      string
		setup     func(t *testing.T, s *Store)
		assertion kvrpcpb.Assertion
		level     kvrpcpb.AssertionLevel
		want      string
		existing  [2]uint64
	}{
		{"exist on missing key", nil, kvrpcpb.Assertion_Exist, kvrpcpb.AssertionLevel_Strict, "assertion_failed", [2]uint64{0, 0}},
		{"exist on deleted key", func(t *testing.T, s *Store) { mustPut(t, s, "k", "v", 1, 2); mustDelete(t, s, "k", 3, 4) }, kvrpcpb.Assertion_Exist, kvrpcpb.AssertionLevel_Fast, "assertion_failed", [2]uint64{3, 4}},
		{"not exist on live key", func(t *testing.T, s *Store) { mustPut(t, s, "k", "v", 1, 2) }, kvrpcpb.Assertion_NotExist, kvrpcpb.AssertionLevel_Fast, "assertion_failed", [2]uint64{1, 2}},
		{"not exist under a lock record", func(t *testing.T, s *Store) {
			mustPut(t, s, "k", "v", 1, 2)
			mustPrewriteOK(t, s, []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Lock, Key: []byte("k")}}, "k", 3)
			mustCommit(t, s, 3, 4, "k")
		}, kvrpcpb.Assertion_NotExist, kvrpcpb.AssertionLevel_Strict, "assertion_failed", [2]uint64{1, 2}},
		{"exist on live key", func(t *testing.T, s *Store) { mustPut(t, s, "k", "v", 1, 2) }, kvrpcpb.Assertion_Exist, kvrpcpb.AssertionLevel_Strict, "", [2]uint64{}},
		{"level off", nil, kvrpcpb.Assertion_Exist, kvrpcpb.AssertionLevel_Off, "", [2]uint64{}},
		{"assertion beats locks", func(t *testing.T, s *Store) { mustPrewriteOK(t, s, putMutations("a", "1"), "a", 5) }, kvrpcpb.Assertion_Exist, kvrpcpb.AssertionLevel_Strict, "assertion_failed", [2]uint64{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New(Options{})
			if c.setup != nil {
				c.setup(t, s)
			}
			req := prewriteReq([]*kvrpcpb.Mutation{
				{Op: kvrpcpb.Op_Put, Key: []byte("a"), Value: []byte("x")},
				{Op: kvrpcpb.Op_Put, Key: []byte("k"), Value: []byte("x"), Assertion: c.assertion},
			}, "k", 10)
			req.AssertionLevel = c.level
			resp := s.Prewrite(req)
			eq(t, kinds(resp.Errors), c.want, "errors")
			if a := resp.Errors; c.want == "assertion_failed" {
				eq(t, a[0].AssertionFailed.ExistingStartTs, c.existing[0], "existing start ts")
				eq(t, a[0].AssertionFailed.ExistingCommitTs, c.existing[1], "existing commit ts")
			}
		})
	}
}

// TestAsyncCommitAnd1PC covers §5.4: min_commit_ts from max_ts, the
// secondaries in the primary lock, the max_commit_ts fallback and 1PC.
func TestAsyncCommitAnd1PC(t *testing.T) {
	t.Run("async commit", func(t *testing.T) {
		s := New(Options{})
		get(s, "other", 100, kvrpcpb.IsolationLevel_SI) // pushes max_ts to 100
		req := prewriteReq(putMutations("p", "1", "s", "2"), "p", 50)
		req.UseAsyncCommit, req.Secondaries = true, keys("s")
		resp := mustPrewrite(t, s, req)
		eq(t, resp.MinCommitTs, uint64(101), "min_commit_ts = max_ts + 1")
		p, sec := lockOf(s, "p"), lockOf(s, "s")
		eq(t, len(p.Secondaries), 1, "secondaries on the primary")
		eq(t, len(sec.Secondaries), 0, "no secondaries on a secondary")
		eq(t, sec.UseAsyncCommit, true, "secondary is async")
		eq(t, kind(commit(s, 50, 80, "p")), "commit_ts_expired", "commit below min_commit_ts")
		// CheckTxnStatus never rolls back or pushes an async-commit lock.
		r := s.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("p"), LockTs: 50, CallerStartTs: 200, CurrentTs: maxU64 - 1})
		eq(t, r.Action, kvrpcpb.Action_NoAction, "no action on an async lock")
		eq(t, lockOf(s, "p").MinCommitTS, uint64(101), "not pushed")
		mustCommit(t, s, 50, 101, "p", "s")
	})
	t.Run("fallback", func(t *testing.T) {
		s := New(Options{})
		s.UpdateMaxTS(100)
		req := prewriteReq(putMutations("p", "1", "s", "2"), "p", 50)
		req.UseAsyncCommit, req.Secondaries, req.MaxCommitTs = true, keys("s"), 90
		resp := mustPrewrite(t, s, req)
		eq(t, resp.MinCommitTs, uint64(0), "fallback answers 0")
		eq(t, lockOf(s, "p").UseAsyncCommit, false, "fallen-back lock")
		eq(t, lockOf(s, "p").MinCommitTS, uint64(51), "request's min_commit_ts kept")
	})
	t.Run("one pc", func(t *testing.T) {
		s := New(Options{})
		s.UpdateMaxTS(70)
		req := prewriteReq(putMutations("a", "1", "b", strings.Repeat("x", 300)), "a", 50)
		req.TryOnePc = true
		resp := mustPrewrite(t, s, req)
		eq(t, resp.OnePcCommitTs, uint64(71), "one_pc_commit_ts")
		eq(t, lockOf(s, "a") == nil, true, "no lock after 1PC")
		mustGetOK(t, s, "b", 71, strings.Repeat("x", 300))
		mustGetNone(t, s, "a", 70)
	})
	t.Run("one pc blocked by a lock", func(t *testing.T) {
		s := New(Options{})
		mustPrewriteOK(t, s, putMutations("b", "0"), "b", 10)
		req := prewriteReq(putMutations("a", "1", "b", "2"), "a", 50)
		req.TryOnePc = true
		resp := s.Prewrite(req)
		eq(t, kinds(resp.Errors), "locked", "errors")
		eq(t, resp.OnePcCommitTs, uint64(0), "no 1PC")
		eq(t, lockOf(s, "a") == nil, true, "nothing written")
	})
	t.Run("one pc over pessimistic locks", func(t *testing.T) {
		var released []string
		s := New(Options{OnLockReleased: func(k []byte, start, commitTS uint64) { released = append(released, string(k)) }})
		lockKeys(t, s, 50, 55, "a")
		req := prewriteReq(putMutations("a", "1"), "a", 50)
		req.TryOnePc, req.ForUpdateTs = true, 55
		req.PessimisticActions = []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK}
		resp := mustPrewrite(t, s, req)
		eq(t, resp.OnePcCommitTs, uint64(56), "min_commit_ts above for_update_ts")
		eqStrings(t, released, "a")
	})
}
