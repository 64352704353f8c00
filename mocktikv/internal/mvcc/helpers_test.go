package mvcc

import (
	"bytes"
	"testing"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// putMutations builds Put mutations from key, value pairs.
func putMutations(kv ...string) []*kvrpcpb.Mutation {
	var ms []*kvrpcpb.Mutation
	for i := 0; i+1 < len(kv); i += 2 {
		ms = append(ms, &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return ms
}

func keys(ks ...string) [][]byte {
	out := make([][]byte, len(ks))
	for i, k := range ks {
		out[i] = []byte(k)
	}
	return out
}

// prewriteReq is a 2PC optimistic prewrite as a client sends it:
// min_commit_ts = start_ts + 1.
func prewriteReq(ms []*kvrpcpb.Mutation, primary string, start uint64) *kvrpcpb.PrewriteRequest {
	return &kvrpcpb.PrewriteRequest{Mutations: ms, PrimaryLock: []byte(primary), StartVersion: start, LockTtl: 3000, MinCommitTs: start + 1}
}

func mustPrewrite(t testing.TB, s *Store, req *kvrpcpb.PrewriteRequest) *kvrpcpb.PrewriteResponse {
	t.Helper()
	resp := s.Prewrite(req)
	if len(resp.Errors) > 0 {
		t.Fatalf("prewrite %d: %v", req.StartVersion, resp.Errors)
	}
	return resp
}

func mustPrewriteOK(t testing.TB, s *Store, ms []*kvrpcpb.Mutation, primary string, start uint64) {
	t.Helper()
	mustPrewrite(t, s, prewriteReq(ms, primary, start))
}

func commit(s *Store, start, commitTS uint64, ks ...string) *kvrpcpb.KeyError {
	return s.Commit(&kvrpcpb.CommitRequest{StartVersion: start, CommitVersion: commitTS, Keys: keys(ks...)}).Error
}

func mustCommit(t testing.TB, s *Store, start, commitTS uint64, ks ...string) {
	t.Helper()
	if e := commit(s, start, commitTS, ks...); e != nil {
		t.Fatalf("commit %d@%d %v: %v", start, commitTS, ks, e)
	}
}

func mustPut(t testing.TB, s *Store, key, value string, start, commitTS uint64) {
	t.Helper()
	mustPrewriteOK(t, s, putMutations(key, value), key, start)
	mustCommit(t, s, start, commitTS, key)
}

func mustDelete(t testing.TB, s *Store, key string, start, commitTS uint64) {
	t.Helper()
	mustPrewriteOK(t, s, []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Del, Key: []byte(key)}}, key, start)
	mustCommit(t, s, start, commitTS, key)
}

func rollback(s *Store, start uint64, ks ...string) *kvrpcpb.KeyError {
	return s.BatchRollback(&kvrpcpb.BatchRollbackRequest{StartVersion: start, Keys: keys(ks...)}).Error
}

func get(s *Store, key string, ts uint64, iso kvrpcpb.IsolationLevel) *kvrpcpb.GetResponse {
	return s.Get(&kvrpcpb.GetRequest{Context: &kvrpcpb.Context{IsolationLevel: iso}, Key: []byte(key), Version: ts})
}

func mustGetOK(t testing.TB, s *Store, key string, ts uint64, want string) {
	t.Helper()
	r := get(s, key, ts, kvrpcpb.IsolationLevel_SI)
	if r.Error != nil || r.NotFound || string(r.Value) != want {
		t.Fatalf("get %q@%d = %q notFound=%v err=%v, want %q", key, ts, r.Value, r.NotFound, r.Error, want)
	}
}

func mustGetNone(t testing.TB, s *Store, key string, ts uint64) {
	t.Helper()
	r := get(s, key, ts, kvrpcpb.IsolationLevel_SI)
	if r.Error != nil || !r.NotFound {
		t.Fatalf("get %q@%d = %q notFound=%v err=%v, want not found", key, ts, r.Value, r.NotFound, r.Error)
	}
}

func mustGetLocked(t testing.TB, s *Store, key string, ts uint64) *kvrpcpb.LockInfo {
	t.Helper()
	r := get(s, key, ts, kvrpcpb.IsolationLevel_SI)
	if r.Error == nil || r.Error.Locked == nil {
		t.Fatalf("get %q@%d = %q err=%v, want locked", key, ts, r.Value, r.Error)
	}
	return r.Error.Locked
}

// scan returns "k=v" strings (or "locked:k") of a scan over the whole
// key space.
func scan(s *Store, start, end string, limit uint32, ts uint64, reverse bool) []string {
	resp := s.Scan(&kvrpcpb.ScanRequest{Context: &kvrpcpb.Context{}, StartKey: []byte(start), EndKey: []byte(end), Limit: limit, Version: ts, Reverse: reverse}, Range{})
	var out []string
	for _, p := range resp.Pairs {
		if p.Error != nil {
			if p.Error.Locked != nil {
				out = append(out, "locked:"+string(p.Error.Locked.Key))
			} else {
				out = append(out, "error")
			}
			continue
		}
		out = append(out, string(p.Key)+"="+string(p.Value))
	}
	return out
}

func eqStrings(t testing.TB, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

func eqProto(t testing.TB, got, want proto.Message, what string) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func eq[T comparable](t testing.TB, got, want T, what string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// writesOf returns the key's write records.
func writesOf(s *Store, key string) []*kvrpcpb.MvccWrite {
	return s.MvccGetByKey([]byte(key)).Writes
}

func lockOf(s *Store, key string) *Lock {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e := s.lookup([]byte(key)); e != nil && e.lock != nil {
		return e.lock.clone()
	}
	return nil
}

// kind summarizes a KeyError for table tests.
func kind(e *kvrpcpb.KeyError) string {
	switch {
	case e == nil:
		return ""
	case e.Locked != nil:
		return "locked"
	case e.Conflict != nil:
		return "conflict:" + e.Conflict.Reason.String()
	case e.AlreadyExist != nil:
		return "already_exist"
	case e.CommitTsExpired != nil:
		return "commit_ts_expired"
	case e.TxnNotFound != nil:
		return "txn_not_found"
	case e.TxnLockNotFound != nil:
		return "txn_lock_not_found"
	case e.AssertionFailed != nil:
		return "assertion_failed"
	case e.PrimaryMismatch != nil:
		return "primary_mismatch"
	case e.Abort != "":
		for _, k := range []string{"PessimisticLockNotFound", "PessimisticLockRolledBack", "LockTypeNotMatch", "Committed", "InvalidTxnTso", "KeyTooLarge", "LockIfExistsFailed"} {
			if bytes.Contains([]byte(e.Abort), []byte(k)) {
				return "abort:" + k
			}
		}
		return "abort"
	}
	return "other"
}

func kinds(es []*kvrpcpb.KeyError) string {
	var b bytes.Buffer
	for i, e := range es {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kind(e))
	}
	return b.String()
}
