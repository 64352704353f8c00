package plans_test

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/coprocessor"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/plans"
)

// sharedInfo is TiKV's KeyIsLocked of a SharedLocks on "s": lock_type
// SharedLock, the key, and one LockInfo per holder (a pessimistic one and a
// prewritten one).
func sharedInfo() *kvrpcpb.LockInfo {
	return &kvrpcpb.LockInfo{LockType: kvrpcpb.Op_SharedLock, Key: []byte("s"), SharedLockInfos: []*kvrpcpb.LockInfo{
		{PrimaryLock: []byte("p1"), LockVersion: 10, Key: []byte("s"), LockTtl: 3000, LockType: kvrpcpb.Op_PessimisticLock, LockForUpdateTs: 11},
		{PrimaryLock: []byte("p2"), LockVersion: 20, Key: []byte("s"), LockTtl: 3000, LockType: kvrpcpb.Op_Lock},
	}}
}

// TestLocksFromInfoExpandsSharedLocks: a shared lock is reported as its
// holders' locks, wherever a response reports it (KeyError, KeyErrors,
// coprocessor), so that resolvers act on each holder's transaction; an
// ordinary lock is itself; a shared lock without holders stays whole
// (kv.Lock.IsShared), for a resolver to refuse.
func TestLocksFromInfoExpandsSharedLocks(t *testing.T) {
	check := func(t *testing.T, locks []*kv.Lock, prefix ...uint64) {
		t.Helper()
		var got []uint64
		for _, l := range locks {
			require.False(t, l.IsShared(), "a holder's lock is not the container")
			got = append(got, l.StartTS)
		}
		require.Equal(t, append(prefix, 10, 20), got)
		n := len(prefix)
		require.Equal(t, kv.Key("p1"), locks[n].Primary)
		require.Equal(t, kvrpcpb.Op_PessimisticLock, locks[n].Type)
		require.Equal(t, uint64(11), locks[n].ForUpdateTS)
		require.Equal(t, kvrpcpb.Op_Lock, locks[n+1].Type)
		require.Equal(t, kv.Key("s"), locks[n+1].Key)
	}
	check(t, plans.LocksFromInfo(sharedInfo()))

	var le *kv.LockedError
	require.ErrorAs(t, plans.KeyError(&kvrpcpb.KeyError{Locked: sharedInfo()}), &le)
	check(t, le.Locks)

	other := &kvrpcpb.LockInfo{PrimaryLock: []byte("p0"), LockVersion: 5, Key: []byte("o")}
	require.ErrorAs(t, plans.KeyErrors([]*kvrpcpb.KeyError{{Locked: other}, {Locked: sharedInfo()}}), &le)
	check(t, le.Locks, 5)

	require.ErrorAs(t, plans.CoprocessorErr(0)(&coprocessor.Response{Locked: sharedInfo()}), &le)
	check(t, le.Locks)

	require.Len(t, plans.LocksFromInfo(other), 1)
	empty := plans.LocksFromInfo(&kvrpcpb.LockInfo{LockType: kvrpcpb.Op_SharedLock, Key: []byte("s")})
	require.Len(t, empty, 1)
	require.True(t, empty[0].IsShared())
}
