package plans

import (
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
)

// LocksFromInfo converts TiKV's description of a lock into the locks a
// resolver can act on. An ordinary lock is one. A shared lock (TiKV's
// SharedLocks: LockInfo.lock_type Op_SharedLock, the holders in
// shared_lock_infos) is the holders' locks, one per transaction, each an
// ordinary pessimistic (Op_PessimisticLock) or prewritten (Op_Lock) lock
// of its own transaction; the container itself is dropped, as client-go
// does wherever it meets one (prewrite's extractKeyErrs, the pessimistic
// lock's handleKeyErrorForResolve, GC's lock scan): it has no transaction
// whose status could be checked. A shared lock listing no holder, which
// TiKV never sends, is returned as is (kv.Lock.IsShared), so that a
// resolver refuses it instead of the lock going unnoticed.
func LocksFromInfo(l *kvrpcpb.LockInfo) []*kv.Lock {
	holders := l.GetSharedLockInfos()
	if len(holders) == 0 {
		return []*kv.Lock{LockFromInfo(l)}
	}
	out := make([]*kv.Lock, len(holders))
	for i, h := range holders {
		out[i] = LockFromInfo(h)
	}
	return out
}
