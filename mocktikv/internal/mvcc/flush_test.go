package mvcc

import (
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

func flushReq(start, gen uint64, ms ...*kvrpcpb.Mutation) *kvrpcpb.FlushRequest {
	return &kvrpcpb.FlushRequest{Mutations: ms, PrimaryKey: []byte("a"), StartTs: start, Generation: gen, LockTtl: 3000}
}

func put(k, v string) *kvrpcpb.Mutation {
	return &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: []byte(v)}
}

func del(k string) *kvrpcpb.Mutation { return &kvrpcpb.Mutation{Op: kvrpcpb.Op_Del, Key: []byte(k)} }

// bufferGet returns "k=v" for every pair BufferBatchGet returns.
func bufferGet(t *testing.T, s *Store, version uint64, ks ...string) []string {
	t.Helper()
	resp := s.BufferBatchGet(&kvrpcpb.BufferBatchGetRequest{Version: version, Keys: keys(ks...)})
	if resp.Error != nil {
		t.Fatalf("buffer batch get: %v", resp.Error)
	}
	var out []string
	for _, p := range resp.Pairs {
		out = append(out, string(p.Key)+"="+string(p.Value))
	}
	return out
}

// TestFlushGenerations follows flush.rs and prewrite_with_generation: locks
// carry the generation, a newer generation overwrites, an older one is
// ignored, and the locks are 2PC locks with txn_size u64::MAX and
// min_commit_ts start_ts+1.
func TestFlushGenerations(t *testing.T) {
	s := New(Options{})
	long := strings.Repeat("x", shortValueMaxLen+1)

	r := s.Flush(flushReq(10, 0, put("a", "1")))
	eq(t, kind(r.Errors[0]), "abort", "generation 0")

	eq(t, kinds(s.Flush(flushReq(10, 1, put("a", "1"), put("b", long))).Errors), "", "first flush")
	l := lockOf(s, "a")
	eq(t, l.Generation, uint64(1), "generation")
	eq(t, l.TxnSize, maxU64, "txn_size")
	eq(t, l.MinCommitTS, uint64(11), "min_commit_ts")
	eqStrings(t, bufferGet(t, s, 10, "b", "a", "b", "zz"), "a=1", "b="+long)

	// Generation 2 turns a into a Delete (read back as an empty value)
	// and b into a short value (the long one is dropped with its lock).
	eq(t, kinds(s.Flush(flushReq(10, 2, del("a"), put("b", "2"))).Errors), "", "second flush")
	eq(t, lockOf(s, "a").Generation, uint64(2), "overwritten")
	eqStrings(t, bufferGet(t, s, 10, "a", "b"), "a=", "b=2")

	// A stale generation is ignored (GenerationOutOfOrder is only logged).
	eq(t, kinds(s.Flush(flushReq(10, 2, put("a", "old"))).Errors), "", "same generation")
	eq(t, kinds(s.Flush(flushReq(10, 1, put("a", "old"))).Errors), "", "older generation")
	eqStrings(t, bufferGet(t, s, 10, "a"), "a=")

	// An Insert over a key an earlier flush Put fails, writing nothing.
	r = s.Flush(flushReq(10, 3, put("c", "3"), &kvrpcpb.Mutation{Op: kvrpcpb.Op_Insert, Key: []byte("b"), Value: []byte("i")}))
	eq(t, kinds(r.Errors), "already_exist", "insert over a flushed put")
	eqStrings(t, bufferGet(t, s, 10, "b", "c"), "b=2")

	// Other readers only see the locks; the commit makes the last
	// generation visible.
	mustCommit(t, s, 10, 20, "a", "b")
	mustGetNone(t, s, "a", 25)
	mustGetOK(t, s, "b", 25, "2")
	eq(t, len(bufferGet(t, s, 10, "a", "b")), 0, "nothing buffered after the commit")
}

// TestFlushErrors: unlike Prewrite, Flush writes the other mutations when
// some keys are locked by other transactions; fatal errors and assertion
// failures write nothing; a failure explained by the transaction's own
// commit succeeds with nothing written.
func TestFlushErrors(t *testing.T) {
	for _, c := range []struct {
		name    string
		setup   func(t *testing.T, s *Store)
		req     *kvrpcpb.FlushRequest
		want    string
		written []string // keys holding txn 10's lock afterwards
	}{
		{"other txn's lock: the rest is written", func(t *testing.T, s *Store) { mustPrewriteOK(t, s, putMutations("b", "x"), "b", 5) },
			flushReq(10, 1, put("a", "1"), put("b", "2"), put("c", "3")), "locked", []string{"a", "c"}},
		{"write conflict is fatal", func(t *testing.T, s *Store) { mustPut(t, s, "b", "x", 11, 12) },
			flushReq(10, 1, put("a", "1"), put("b", "2")), "conflict:Optimistic", nil},
		{"own pessimistic lock", func(t *testing.T, s *Store) { lockKeys(t, s, 10, 10, "b") },
			flushReq(10, 1, put("a", "1"), put("b", "2")), "abort:LockTypeNotMatch", []string{"b"}},
		{"assertion failure writes nothing", func(t *testing.T, s *Store) { mustPut(t, s, "b", "x", 1, 2) },
			func() *kvrpcpb.FlushRequest {
				r := flushReq(10, 1, put("a", "1"), put("b", "2"))
				r.Mutations[1].Assertion = kvrpcpb.Assertion_NotExist
				r.AssertionLevel = kvrpcpb.AssertionLevel_Strict
				return r
			}(), "assertion_failed", nil},
		{"a later flush skips the assertion", func(t *testing.T, s *Store) {
			eq(t, kinds(s.Flush(flushReq(10, 1, put("b", "1"))).Errors), "", "first flush")
		}, func() *kvrpcpb.FlushRequest {
			r := flushReq(10, 2, put("b", "2"))
			r.Mutations[0].Assertion = kvrpcpb.Assertion_Exist
			r.AssertionLevel = kvrpcpb.AssertionLevel_Strict
			return r
		}(), "", []string{"b"}},
		{"already committed: a retried flush succeeds", func(t *testing.T, s *Store) {
			eq(t, kinds(s.Flush(flushReq(10, 1, put("b", "1"))).Errors), "", "flush")
			mustCommit(t, s, 10, 12, "b")
			mustPrewriteOK(t, s, putMutations("b", "y"), "b", 15)
		}, flushReq(10, 1, put("a", "1"), put("b", "1")), "", nil},
		{"unsupported op", nil, flushReq(10, 1, &kvrpcpb.Mutation{Op: kvrpcpb.Op_PessimisticLock, Key: []byte("a")}), "abort", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New(Options{})
			if c.setup != nil {
				c.setup(t, s)
			}
			eq(t, kinds(s.Flush(c.req).Errors), c.want, "errors")
			var locked []string
			for _, k := range []string{"a", "b", "c"} {
				if l := lockOf(s, k); l != nil && l.StartTS == 10 {
					locked = append(locked, k)
				}
			}
			eqStrings(t, locked, c.written...)
		})
	}
}

// TestBufferBatchGetLocks: only this transaction's Put and Delete locks are
// read back; another transaction's lock hides the key; a Lock or
// pessimistic lock of its own is an error; max_ts is pushed.
func TestBufferBatchGetLocks(t *testing.T) {
	s := New(Options{})
	eq(t, kinds(s.Flush(flushReq(10, 1, put("a", "1"), &kvrpcpb.Mutation{Op: kvrpcpb.Op_Lock, Key: []byte("l")})).Errors), "", "flush")
	mustPrewriteOK(t, s, putMutations("b", "x"), "b", 5)
	mustPut(t, s, "c", "committed", 1, 2)
	eqStrings(t, bufferGet(t, s, 10, "a", "b", "c"), "a=1")
	eq(t, s.MaxTS(), uint64(10), "max_ts")
	r := s.BufferBatchGet(&kvrpcpb.BufferBatchGetRequest{Version: 10, Keys: keys("l")})
	eq(t, kind(r.Error), "abort", "own Lock-type lock")
	eq(t, len(r.Pairs), 0, "pairs with the error")
}

// TestLockHooks: OnLockAcquired sees exactly the locks written on keys that
// had none (MvccTxn::put_lock's is_new), under the Store's lock;
// PessimisticLockOrWait hands over the blocking lock under the same lock.
func TestLockHooks(t *testing.T) {
	var s *Store
	var acquired []string
	s = New(Options{OnLockAcquired: func(l *kvrpcpb.LockInfo) {
		if s.mu.TryRLock() {
			t.Errorf("OnLockAcquired without the store's lock")
			s.mu.RUnlock()
		}
		acquired = append(acquired, string(l.Key)+"@"+l.LockType.String())
	}})
	lockKeys(t, s, 10, 10, "a")
	eqStrings(t, acquired, "a@PessimisticLock")
	mustPrewrite(t, s, &kvrpcpb.PrewriteRequest{Mutations: putMutations("a", "1", "b", "2"), PrimaryLock: []byte("a"), StartVersion: 10, ForUpdateTs: 10, LockTtl: 3000,
		PessimisticActions: []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK, kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK}})
	eqStrings(t, acquired, "a@PessimisticLock", "b@Put")
	eq(t, kinds(s.Flush(flushReq(20, 1, put("c", "1"))).Errors), "", "flush")
	eq(t, kinds(s.Flush(flushReq(20, 2, put("c", "2"))).Errors), "", "flush")
	eqStrings(t, acquired, "a@PessimisticLock", "b@Put", "c@Put")

	var blocked *Blocked
	resp, b := s.PessimisticLockOrWait(lockReq(30, 30, "c"), func(b *Blocked) {
		if s.mu.TryRLock() {
			t.Errorf("wait called without the store's lock")
			s.mu.RUnlock()
		}
		blocked = b
	})
	eq(t, blocked, b, "the blocking lock handed to wait")
	eq(t, b.Lock.GetLockVersion(), uint64(20), "blocked by txn 20")
	eq(t, kinds(resp.Errors), "locked", "the no-wait answer")
}
