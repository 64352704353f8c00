package txn_test

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/plans"
)

// TestPortNewLockZeroTTL ports client-go integration_tests/lock_test.go
// TestNewLockZeroTTL: a lock TiKV describes without a TTL has a zero TTL,
// and the other fields stay zero; a TTL is read in milliseconds.
func TestPortNewLockZeroTTL(t *testing.T) {
	l := plans.LockFromInfo(&kvrpcpb.LockInfo{})
	if l.TTL != 0 || l.StartTS != 0 || l.MinCommitTS != 0 || len(l.Key) != 0 {
		t.Fatalf("lock from an empty LockInfo = %+v, want zero TTL and fields", l)
	}
	if l := plans.LockFromInfo(&kvrpcpb.LockInfo{LockTtl: 1500}); l.TTL.Milliseconds() != 1500 {
		t.Fatalf("lock_ttl 1500 ms read as %v", l.TTL)
	}
}
