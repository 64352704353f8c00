package txnlock

import (
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// TestStatusCacheEvictsOldestAndRefusesContradictions: the cache keeps
// the newest size settled txns (client-go's FIFO of ResolvedCacheSize),
// ignores undetermined statuses, and reports a second, different outcome
// for a txn instead of overwriting it (client-go panics there).
func TestStatusCacheEvictsOldestAndRefusesContradictions(t *testing.T) {
	c := newStatusCache(2)
	committed := func(ts uint64) TxnStatus { return TxnStatus{CommitTS: ts} }
	rolledBack := TxnStatus{Action: kvrpcpb.Action_TTLExpireRollback}
	for ts := uint64(1); ts <= 3; ts++ {
		if err := c.put(ts, committed(ts+10)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := c.get(1); ok {
		t.Fatal("oldest not evicted")
	}
	for ts := uint64(2); ts <= 3; ts++ {
		if s, ok := c.get(ts); !ok || s.CommitTS != ts+10 {
			t.Fatalf("txn %d: %v %v", ts, s, ok)
		}
	}
	if err := c.put(4, TxnStatus{TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.get(4); ok {
		t.Fatal("a live status was cached")
	}
	if err := c.put(3, committed(13)); err != nil {
		t.Fatalf("same outcome again: %v", err)
	}
	var conflict *ConflictingStatusError
	if err := c.put(3, rolledBack); !errors.As(err, &conflict) || conflict.StartTS != 3 {
		t.Fatalf("contradiction: %v", err)
	}
	if err := c.put(2, committed(99)); !errors.As(err, &conflict) {
		t.Fatalf("two commit ts: %v", err)
	}
	if s, _ := c.get(3); s.CommitTS != 13 {
		t.Fatalf("cached status overwritten: %v", s)
	}
}

// TestTxnStatusPredicates: a rollback is TTL 0, commit ts 0 and one of
// the rollback actions (client-go's TxnStatus.IsRolledBack); a pushed or
// pessimistic-rollback answer is not a determined status.
func TestTxnStatusPredicates(t *testing.T) {
	for _, tc := range []struct {
		s                     TxnStatus
		committed, rolledBack bool
	}{
		{TxnStatus{CommitTS: 5}, true, false},
		{TxnStatus{Action: kvrpcpb.Action_NoAction}, false, true},
		{TxnStatus{Action: kvrpcpb.Action_LockNotExistRollback}, false, true},
		{TxnStatus{Action: kvrpcpb.Action_TTLExpireRollback}, false, true},
		{TxnStatus{Action: kvrpcpb.Action_TTLExpirePessimisticRollback}, false, false},
		{TxnStatus{Action: kvrpcpb.Action_LockNotExistDoNothing}, false, false},
		{TxnStatus{TTL: time.Second, Action: kvrpcpb.Action_MinCommitTSPushed}, false, false},
		{TxnStatus{TTL: time.Second}, false, false},
	} {
		if tc.s.IsCommitted() != tc.committed || tc.s.IsRolledBack() != tc.rolledBack ||
			tc.s.IsDetermined() != (tc.committed || tc.rolledBack) {
			t.Errorf("%v: committed %v rolled back %v", tc.s, tc.s.IsCommitted(), tc.s.IsRolledBack())
		}
	}
}
