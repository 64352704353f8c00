package mvcc

import (
	"math"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// The cases of client-go's internal/mockstore/mocktikv/mock_tikv_test.go
// and mvcc_test.go, against this engine. Where client-go's mock and TiKV
// differ, the expectation is TiKV's, noted at the case.

func TestPortGet(t *testing.T) {
	s := New(Options{})
	mustGetNone(t, s, "x", 10)
	mustPut(t, s, "x", "x", 5, 10)
	mustGetNone(t, s, "x", 9)
	mustGetOK(t, s, "x", 10, "x")
	mustGetOK(t, s, "x", 11, "x")
}

func TestPortGetWithLock(t *testing.T) {
	s := New(Options{})
	mustPut(t, s, "key", "value", 5, 10)
	// A Lock-type lock never blocks reads.
	mustPrewriteOK(t, s, []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Lock, Key: []byte("key")}}, "key", 20)
	mustGetOK(t, s, "key", 25, "value")
	mustCommit(t, s, 20, 30, "key")

	mustPrewriteOK(t, s, putMutations("key", "value2", "key2", "v5"), "key", 40)
	mustGetLocked(t, s, "key", 41)
	// At u64::MAX a secondary still blocks, the 2PC primary is skipped.
	mustGetLocked(t, s, "key2", math.MaxUint64)
	mustGetOK(t, s, "key", math.MaxUint64, "value")
}

func TestPortDelete(t *testing.T) {
	s := New(Options{})
	mustPut(t, s, "x", "x5-10", 5, 10)
	mustDelete(t, s, "x", 15, 20)
	mustGetNone(t, s, "x", 5)
	mustGetNone(t, s, "x", 9)
	mustGetOK(t, s, "x", 10, "x5-10")
	mustGetOK(t, s, "x", 19, "x5-10")
	mustGetNone(t, s, "x", 20)
	mustGetNone(t, s, "x", 21)
}

func TestPortCleanupRollback(t *testing.T) {
	s := New(Options{})
	mustPut(t, s, "secondary", "s-0", 1, 2)
	mustPrewriteOK(t, s, putMutations("primary", "p-5", "secondary", "s-5"), "primary", 5)
	mustGetLocked(t, s, "secondary", 8)
	mustGetLocked(t, s, "secondary", 12)
	mustCommit(t, s, 5, 10, "primary")
	eq(t, kind(rollback(s, 5, "primary")), "abort:Committed", "rollback of a committed key")
}

func TestPortScanAndReverseScan(t *testing.T) {
	s := New(Options{})
	fwd := func(start, end string, limit uint32, ts uint64, want ...string) {
		t.Helper()
		eqStrings(t, scan(s, start, end, limit, ts, false), want...)
	}
	rev := func(start, end string, limit uint32, ts uint64, want ...string) {
		t.Helper()
		eqStrings(t, scan(s, start, end, limit, ts, true), want...)
	}
	// ver10: A(10) - B(_) - C(10) - D(_) - E(10)
	mustPut(t, s, "A", "A10", 5, 10)
	mustPut(t, s, "C", "C10", 5, 10)
	mustPut(t, s, "E", "E10", 5, 10)
	v10 := func() {
		fwd("", "", 0, 10)
		fwd("", "", 1, 10, "A=A10")
		fwd("", "", 2, 10, "A=A10", "C=C10")
		fwd("", "", 4, 10, "A=A10", "C=C10", "E=E10")
		fwd("A\x00", "", 3, 10, "C=C10", "E=E10")
		fwd("C", "", 4, 10, "C=C10", "E=E10")
		fwd("F", "", 1, 10)
		fwd("", "E", 5, 10, "A=A10", "C=C10")
		fwd("", "C\x00", 5, 10, "A=A10", "C=C10")
		fwd("A\x00", "C", 5, 10)
		// Reverse: start_key is the exclusive upper bound.
		rev("Z", "", 0, 10)
		rev("Z", "", 1, 10, "E=E10")
		rev("Z", "", 4, 10, "E=E10", "C=C10", "A=A10")
		rev("E\x00", "", 3, 10, "E=E10", "C=C10", "A=A10")
		rev("C\x00", "", 3, 10, "C=C10", "A=A10")
		rev("B", "", 1, 10, "A=A10")
		rev("E", "", 5, 10, "C=C10", "A=A10")
		rev("C", "A\x00", 5, 10)
		// TiKV quirk: an empty start_key in a reverse scan scans nothing.
		rev("", "", 5, 10)
	}
	v10()
	// ver20: A(10) - B(20) - C(10) - D(20) - E(10)
	mustPut(t, s, "B", "B20", 15, 20)
	mustPut(t, s, "D", "D20", 15, 20)
	v20 := func() {
		fwd("", "", 5, 20, "A=A10", "B=B20", "C=C10", "D=D20", "E=E10")
		fwd("D\x00", "", 1, 20, "E=E10")
		fwd("B", "D", 5, 20, "B=B20", "C=C10")
		fwd("B\x00", "D\x00", 5, 20, "C=C10", "D=D20")
		rev("Z", "", 5, 20, "E=E10", "D=D20", "C=C10", "B=B20", "A=A10")
		rev("D", "B", 5, 20, "C=C10", "B=B20")
		rev("D\x00", "B\x00", 5, 20, "D=D20", "C=C10")
	}
	v10()
	v20()
	// ver30: A(_) - B(20) - C(10) - D(_) - E(10)
	mustDelete(t, s, "A", 25, 30)
	mustDelete(t, s, "D", 25, 30)
	v30 := func() {
		fwd("", "", 5, 30, "B=B20", "C=C10", "E=E10")
		fwd("A", "", 1, 30, "B=B20")
		rev("Z", "", 5, 30, "E=E10", "C=C10", "B=B20")
		rev("C", "", 1, 30, "B=B20")
	}
	v10()
	v20()
	v30()
	// ver40: A(_) - B(_) - C(40) - D(40) - E(10)
	mustDelete(t, s, "B", 35, 40)
	mustPut(t, s, "C", "C40", 35, 40)
	mustPut(t, s, "D", "D40", 35, 40)
	v10()
	v20()
	v30()
	fwd("", "", 5, 40, "C=C40", "D=D40", "E=E10")
	fwd("", "", 5, 100, "C=C40", "D=D40", "E=E10")
	rev("Z", "", 5, 100, "E=E10", "D=D40", "C=C40")
}

func TestPortBatchGet(t *testing.T) {
	s := New(Options{})
	mustPut(t, s, "k1", "v1", 1, 2)
	mustPut(t, s, "k2", "v2", 1, 2)
	mustPut(t, s, "k2", "v2", 3, 4)
	mustPut(t, s, "k3", "v3", 1, 2)
	resp := s.BatchGet(&kvrpcpb.BatchGetRequest{Context: &kvrpcpb.Context{}, Keys: keys("k1", "k2", "k3", "k4"), Version: 5})
	var got []string
	for _, p := range resp.Pairs {
		got = append(got, string(p.Key)+"="+string(p.Value))
	}
	// Not-found keys are omitted.
	eqStrings(t, got, "k1=v1", "k2=v2", "k3=v3")
}

func scanLocks(s *Store, start, end string, maxTS uint64) []string {
	resp := s.ScanLock(&kvrpcpb.ScanLockRequest{StartKey: []byte(start), EndKey: []byte(end), MaxVersion: maxTS}, Range{})
	var out []string
	for _, l := range resp.Locks {
		out = append(out, string(l.Key)+"/"+string(l.PrimaryLock)+"@"+itoa(l.LockVersion))
	}
	return out
}

func itoa(u uint64) string {
	if u == 0 {
		return "0"
	}
	var b []byte
	for ; u > 0; u /= 10 {
		b = append([]byte{byte('0' + u%10)}, b...)
	}
	return string(b)
}

func TestPortScanLock(t *testing.T) {
	s := New(Options{})
	mustPut(t, s, "k1", "v1", 1, 2)
	mustPrewriteOK(t, s, putMutations("p1", "v5", "s1", "v5"), "p1", 5)
	mustPrewriteOK(t, s, putMutations("p2", "v10", "s2", "v10"), "p2", 10)
	mustPrewriteOK(t, s, putMutations("p3", "v20", "s3", "v20"), "p3", 20)
	eqStrings(t, scanLocks(s, "a", "r", 12), "p1/p1@5", "p2/p2@10")
	eqStrings(t, scanLocks(s, "", "", 10), "p1/p1@5", "p2/p2@10", "s1/p1@5", "s2/p2@10")
}

func TestPortScanWithResolvedLock(t *testing.T) {
	s := New(Options{})
	mustPrewriteOK(t, s, putMutations("p1", "v5", "s1", "v5"), "p1", 5)
	mustPrewriteOK(t, s, putMutations("p2", "v10", "s2", "v10"), "p1", 5)
	eqStrings(t, scan(s, "p1", "", 3, 10, false), "locked:p1", "locked:p2", "locked:s1")
	resp := s.Scan(&kvrpcpb.ScanRequest{Context: &kvrpcpb.Context{ResolvedLocks: []uint64{5}}, StartKey: []byte("p1"), Limit: 3, Version: 10}, Range{})
	for _, p := range resp.Pairs {
		if p.Error != nil {
			t.Fatalf("bypassed lock still reported: %v", p.Error)
		}
	}
}

func TestPortCommitConflict(t *testing.T) {
	s := New(Options{})
	mustPrewriteOK(t, s, putMutations("x", "A"), "x", 5)
	resp := s.Prewrite(prewriteReq(putMutations("x", "B"), "x", 10))
	eq(t, kinds(resp.Errors), "locked", "B meets A's lock")
	if e := rollback(s, 5, "x"); e != nil {
		t.Fatal(e)
	}
	eq(t, kind(commit(s, 5, 10, "x")), "txn_lock_not_found", "A commits after rollback")
	mustPrewriteOK(t, s, putMutations("x", "B"), "x", 10)
	eq(t, kind(commit(s, 5, 20, "x")), "txn_lock_not_found", "A commits over B's lock")
	mustCommit(t, s, 10, 20, "x")
	mustCommit(t, s, 10, 20, "x") // idempotent
}

func TestPortResolveLock(t *testing.T) {
	s := New(Options{})
	mustPrewriteOK(t, s, putMutations("p1", "v5", "s1", "v5"), "p1", 5)
	mustPrewriteOK(t, s, putMutations("p2", "v10", "s2", "v10"), "p2", 10)
	for _, r := range []*kvrpcpb.ResolveLockRequest{{StartVersion: 5}, {StartVersion: 10, CommitVersion: 20}} {
		if e := s.ResolveLock(r, Range{}).Error; e != nil {
			t.Fatal(e)
		}
	}
	mustGetNone(t, s, "p1", 20)
	mustGetNone(t, s, "s1", 30)
	mustGetOK(t, s, "p2", 20, "v10")
	mustGetOK(t, s, "s2", 30, "v10")
	eqStrings(t, scanLocks(s, "", "", 30))
}

func TestPortBatchResolveLock(t *testing.T) {
	s := New(Options{})
	mustPrewriteOK(t, s, putMutations("p1", "v11", "s1", "v11"), "p1", 11)
	mustPrewriteOK(t, s, putMutations("p2", "v12", "s2", "v12"), "p2", 12)
	mustPrewriteOK(t, s, putMutations("p3", "v13"), "p3", 13)
	mustPrewriteOK(t, s, putMutations("p4", "v14", "s3", "v14", "s4", "v14"), "p4", 14)
	mustPrewriteOK(t, s, putMutations("p5", "v15", "s5", "v15"), "p5", 15)
	req := &kvrpcpb.ResolveLockRequest{TxnInfos: []*kvrpcpb.TxnInfo{{Txn: 11}, {Txn: 12, Status: 22}, {Txn: 13}, {Txn: 14, Status: 24}}}
	if e := s.ResolveLock(req, Range{}).Error; e != nil {
		t.Fatal(e)
	}
	mustGetNone(t, s, "p1", 20)
	mustGetNone(t, s, "p3", 30)
	mustGetOK(t, s, "p2", 30, "v12")
	mustGetOK(t, s, "s4", 30, "v14")
	eqStrings(t, scanLocks(s, "", "", 30), "p5/p5@15", "s5/p5@15")
	s.ResolveLock(&kvrpcpb.ResolveLockRequest{TxnInfos: []*kvrpcpb.TxnInfo{{Txn: 15}}}, Range{})
	eqStrings(t, scanLocks(s, "", "", 30))
}

func TestPortGC(t *testing.T) {
	s := New(Options{})
	mustPut(t, s, "k1", "v1", 1, 2)
	mustPut(t, s, "k1", "v2", 11, 12)
	mustPut(t, s, "k2", "v1", 1, 2)
	mustPut(t, s, "k2", "v2", 11, 12)
	mustPut(t, s, "k2", "v3", 101, 102)
	mustPut(t, s, "k3", "v1", 1, 2)
	mustPut(t, s, "k3", "v2", 11, 12)
	mustDelete(t, s, "k3", 101, 102)
	mustPut(t, s, "k4", "v1", 1, 2)
	mustDelete(t, s, "k4", 11, 12)

	mustGetOK(t, s, "k1", 5, "v1")
	mustGetOK(t, s, "k3", 15, "v2")
	mustGetOK(t, s, "k4", 5, "v1")
	s.GC(100)
	mustGetNone(t, s, "k1", 5)
	mustGetOK(t, s, "k1", 15, "v2")
	mustGetNone(t, s, "k2", 5)
	mustGetOK(t, s, "k2", 15, "v2")
	mustGetOK(t, s, "k2", 105, "v3")
	mustGetNone(t, s, "k3", 5)
	mustGetOK(t, s, "k3", 15, "v2")
	mustGetNone(t, s, "k3", 105)
	mustGetNone(t, s, "k4", 5)
	mustGetNone(t, s, "k4", 105)
	eq(t, len(writesOf(s, "k4")), 0, "k4's records after GC")
}

func TestPortRollbackAndWriteConflict(t *testing.T) {
	s := New(Options{})
	mustPut(t, s, "test", "test", 1, 3)
	req := prewriteReq(putMutations("lock", "lock", "test", "test1"), "test", 2)
	eq(t, kinds(s.Prewrite(req).Errors), "conflict:Optimistic", "prewrite below a newer commit")
	mustPut(t, s, "test", "test2", 5, 8)
	// getTxnStatus of txn 2: a protected rollback of the missing primary.
	if e := s.Cleanup(&kvrpcpb.CleanupRequest{Key: []byte("test"), StartVersion: 2, CurrentTs: math.MaxUint64}).Error; e != nil {
		t.Fatal(e)
	}
	req = prewriteReq(putMutations("test", "test3"), "test", 6)
	eq(t, kinds(s.Prewrite(req).Errors), "conflict:Optimistic", "prewrite at 6 below the commit at 8")
}

func TestPortDeleteRange(t *testing.T) {
	s := New(Options{})
	for i := 1; i <= 5; i++ {
		k := string(rune('0' + i))
		mustPut(t, s, k, "v"+k, uint64(1+2*i), uint64(2+2*i))
	}
	all := func(ts uint64, want ...string) {
		t.Helper()
		eqStrings(t, scan(s, "0", "", 10, ts, false), want...)
	}
	all(20, "1=v1", "2=v2", "3=v3", "4=v4", "5=v5")
	del := func(a, b string) { s.DeleteRange(Range{Start: EncodeKey([]byte(a)), End: EncodeKey([]byte(b))}) }
	del("2", "4")
	all(30, "1=v1", "4=v4", "5=v5")
	del("5", "5")
	all(40, "1=v1", "4=v4", "5=v5")
	del("41", "42")
	all(50, "1=v1", "4=v4", "5=v5")
	del("4\x00", "5\x00")
	all(60, "1=v1", "4=v4")
	del("0", "9")
	all(70)
}

func TestPortRC(t *testing.T) {
	s := New(Options{})
	mustPut(t, s, "key", "v1", 5, 10)
	mustPrewriteOK(t, s, putMutations("key", "v2"), "key", 15)
	mustGetLocked(t, s, "key", 20)
	for _, ts := range []uint64{12, 20} {
		r := get(s, "key", ts, kvrpcpb.IsolationLevel_RC)
		eq(t, string(r.Value), "v1", "RC read ignores the lock")
	}
}

func TestPortCheckTxnStatus(t *testing.T) {
	s := New(Options{})
	start := uint64(5 << 18)
	check := func(pk string, lockTS, caller, current uint64, rollbackIfNotExist bool) *kvrpcpb.CheckTxnStatusResponse {
		return s.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte(pk), LockTs: lockTS, CallerStartTs: caller, CurrentTs: current, RollbackIfNotExist: rollbackIfNotExist})
	}
	req := prewriteReq(putMutations("pk", "val"), "pk", start)
	req.LockTtl = 666
	mustPrewrite(t, s, req)

	r := check("pk", start, start+100, 666, false)
	eq(t, r.LockTtl, uint64(666), "ttl")
	eq(t, r.Action, kvrpcpb.Action_MinCommitTSPushed, "action")
	// u64::MAX as caller_start_ts does not push but reports pushed.
	r = check("pk", start, math.MaxUint64, 666, false)
	eq(t, r.Action, kvrpcpb.Action_MinCommitTSPushed, "action at MAX")
	eq(t, lockOf(s, "pk").MinCommitTS, start+101, "min_commit_ts after the push")
	mustCommit(t, s, start, start+101, "pk")
	r = check("pk", start, 0, 666, false)
	eq(t, r.LockTtl, uint64(0), "ttl")
	eq(t, r.CommitVersion, start+101, "commit ts")

	req = prewriteReq(putMutations("pk1", "val"), "pk1", start)
	req.LockTtl = 666
	mustPrewrite(t, s, req)
	if e := rollback(s, start, "pk1"); e != nil {
		t.Fatal(e)
	}
	r = check("pk1", start, 0, 666, false)
	eq(t, r.CommitVersion+r.LockTtl, uint64(0), "rolled back")
	eq(t, r.Action, kvrpcpb.Action_NoAction, "action")

	req = prewriteReq(putMutations("pk2", "val"), "pk2", start)
	req.LockTtl = 666
	mustPrewrite(t, s, req)
	r = check("pk2", start, 0, 777<<18, false)
	eq(t, r.Action, kvrpcpb.Action_TTLExpireRollback, "expired")

	r = check("txnNotFound", 5, 0, 666, false)
	eqProto(t, r.Error.GetTxnNotFound(), &kvrpcpb.TxnNotFound{StartTs: 5, PrimaryKey: []byte("txnNotFound")}, "txn not found")
	r = check("txnNotFound", 5, 0, 666, true)
	eq(t, r.Action, kvrpcpb.Action_LockNotExistRollback, "rollback if not exist")
	// The protected rollback at 5 stops a prewrite at 4.
	eq(t, kinds(s.Prewrite(prewriteReq(putMutations("txnNotFound", "val"), "txnNotFound", 4)).Errors), "conflict:Optimistic", "late prewrite")
}

func TestPortRejectCommitTS(t *testing.T) {
	s := New(Options{})
	mustPrewriteOK(t, s, putMutations("x", "A"), "x", 5)
	s.CheckTxnStatus(&kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("x"), LockTs: 5, CallerStartTs: 100, CurrentTs: 100})
	e := commit(s, 5, 10, "x")
	eqProto(t, e.GetCommitTsExpired(), &kvrpcpb.CommitTsExpired{StartTs: 5, AttemptedCommitTs: 10, Key: []byte("x"), MinCommitTs: 101}, "commit ts expired")
}

func TestPortMvccGetByKey(t *testing.T) {
	s := New(Options{})
	mustPrewriteOK(t, s, putMutations("q1", "v5"), "p1", 5)
	eqProto(t, s.MvccGetByKey([]byte("q1")), &kvrpcpb.MvccInfo{Lock: &kvrpcpb.MvccLock{
		Type: kvrpcpb.Op_Put, StartTs: 5, Primary: []byte("p1"), ShortValue: []byte("v5"),
	}}, "mvcc info")
}

func TestPortTxnHeartBeat(t *testing.T) {
	s := New(Options{})
	req := prewriteReq(putMutations("pk", "val"), "pk", 5)
	req.LockTtl = 666
	mustPrewrite(t, s, req)
	hb := func(ttl uint64) *kvrpcpb.TxnHeartBeatResponse {
		return s.TxnHeartBeat(&kvrpcpb.TxnHeartBeatRequest{PrimaryLock: []byte("pk"), StartVersion: 5, AdviseLockTtl: ttl})
	}
	eq(t, hb(888).LockTtl, uint64(888), "ttl raised")
	eq(t, hb(300).LockTtl, uint64(888), "ttl never lowered")
	s.Cleanup(&kvrpcpb.CleanupRequest{Key: []byte("pk"), StartVersion: 5, CurrentTs: math.MaxUint64})
	eq(t, kind(hb(1000).Error), "txn_not_found", "heartbeat after cleanup")
}

// TestPortRegionContains is mvcc_test.go's TestRegionContains, on Range.
func TestPortRegionContains(t *testing.T) {
	for _, c := range []struct {
		start, end, key []byte
		want            bool
	}{
		{nil, nil, nil, true},
		{nil, nil, []byte{1}, true},
		{[]byte{1, 1, 1}, nil, []byte{1, 1, 0}, false},
		{[]byte{1, 1, 1}, nil, []byte{1, 1, 1}, true},
		{nil, []byte{2, 2, 2}, []byte{2, 2, 1}, true},
		{nil, []byte{2, 2, 2}, []byte{2, 2, 2}, false},
		{[]byte{1, 1, 1}, []byte{2, 2, 2}, []byte{1, 1, 0}, false},
		{[]byte{1, 1, 1}, []byte{2, 2, 2}, []byte{1, 1, 1}, true},
		{[]byte{1, 1, 1}, []byte{2, 2, 2}, []byte{2, 2, 1}, true},
		{[]byte{1, 1, 1}, []byte{2, 2, 2}, []byte{2, 2, 2}, false},
	} {
		eq(t, Range{Start: c.start, End: c.end}.contains(c.key), c.want, "contains")
	}
}
