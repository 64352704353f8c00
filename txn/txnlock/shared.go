package txnlock

import (
	"fmt"

	"github.com/tikvgo/tikv/kv"
)

// ErrSharedLock is what ResolveLocks, ResolveLocksWith and
// BatchResolveLocks fail with, before sending anything, when handed a
// shared lock as a whole (kv.Lock.IsShared: TiKV's SharedLocks container,
// LockInfo.lock_type Op_SharedLock). The container belongs to no one
// transaction, so there is no status to check; its holders, listed in the
// LockInfo's shared_lock_infos, are resolved one by one
// (plans.LocksFromInfo expands them, as every plan of this module does for
// the locks a response reports). client-go's resolvers refuse it the same
// way ("misuse of resolveLocks: trying to resolve a shared lock
// directly"). It wraps kv.ErrInvalidArgument.
var ErrSharedLock = fmt.Errorf("txnlock: a shared lock cannot be resolved as a whole, only its holders' locks: %w", kv.ErrInvalidArgument)

// refuseShared fails with ErrSharedLock, naming the key, when locks hold
// a shared lock as a whole; checked before anything is sent, so that a
// refused call changes nothing.
func refuseShared(locks []*kv.Lock) error {
	for _, l := range locks {
		if l.IsShared() {
			return fmt.Errorf("%w (key %q)", ErrSharedLock, l.Key)
		}
	}
	return nil
}
