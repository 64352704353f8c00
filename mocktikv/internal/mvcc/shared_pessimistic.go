package mvcc

import (
	"bytes"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// sharedLockStep is checkSharedLock's verdict. With end set the key's lock
// acquisition is over with res, kerr or blocked; otherwise container (nil
// when the key holds none) is the SharedLocks a shared request joins.
type sharedLockStep struct {
	end       bool
	res       lockResult
	kerr      *kvrpcpb.KeyError
	blocked   *kvrpcpb.LockInfo
	container *sharedLocks
}

// checkSharedLock is the shared-lock part of acquire_pessimistic_lock
// (src/storage/txn/actions/acquire_pessimistic_lock.rs), run before the
// exclusive checks:
//   - a shared request meeting an exclusive lock, even its own, is blocked
//     by it (KeyIsLocked);
//   - an exclusive request meeting a SharedLocks that is not shrink-only
//     makes it shrink-only and fails at once with KeyIsLocked of the
//     container, writing nothing else and not waiting
//     (NotInShrinkMode, handled in commands/acquire_pessimistic_lock.rs);
//     meeting a shrink-only one, it is blocked by the container and waits
//     for the last holder. A resumed force-lock request never marks the
//     container (acquire_pessimistic_lock_resumed.rs) and is blocked;
//   - a shared request whose transaction holds a sub-lock re-locks it:
//     only a larger for_update_ts rewrites it, and no value is read
//     (handle_existing_shared_lock);
//   - a shared request meeting a shrink-only SharedLocks is blocked;
//     otherwise it joins the container after the usual write-conflict and
//     constraint checks.
func (s *Store) checkSharedLock(b *batch, req *kvrpcpb.PessimisticLockRequest, m *kvrpcpb.Mutation, e *entry, shared, resumed bool) sharedLockStep {
	key, start := m.Key, req.StartVersion
	if e != nil && e.lock != nil {
		if shared {
			return sharedLockStep{end: true, blocked: e.lock.Info(key)}
		}
		return sharedLockStep{}
	}
	sl := b.sharedOf(key, e)
	if sl == nil {
		return sharedLockStep{}
	}
	if !shared {
		if sl.shrinkOnly || resumed {
			return sharedLockStep{end: true, blocked: sl.info(key)}
		}
		shrunk := sl.shrunk()
		b.discard()
		b.putShared(key, shrunk, false)
		return sharedLockStep{end: true, res: lockResult{shrunk: true}, kerr: &kvrpcpb.KeyError{Locked: shrunk.info(key)}}
	}
	if own := sl.get(start); own != nil {
		if req.ForUpdateTs > own.ForUpdateTS {
			c := own.clone()
			c.Primary, c.TTL, c.ForUpdateTS, c.MinCommitTS = bytes.Clone(req.PrimaryLock), req.LockTtl, req.ForUpdateTs, req.MinCommitTs
			b.putShared(key, sl.with(c), false)
		}
		return sharedLockStep{end: true}
	}
	if sl.shrinkOnly {
		return sharedLockStep{end: true, blocked: sl.info(key)}
	}
	return sharedLockStep{container: sl}
}

// PessimisticLockResumedOrWait is PessimisticLockOrWait for the
// re-execution of a woken force-lock request, as TiKV's
// AcquirePessimisticLockResumed runs it: every key is locked exclusively
// (an Op_SharedPessimisticLock mutation included), and a SharedLocks on a
// key is never made shrink-only, only reported to wait as a blocking lock
// whose LockType is Op_SharedLock. TiKV then fails that key with
// KeyIsLocked instead of waiting again (scheduler.rs
// on_wait_for_lock_after_resuming); the caller decides.
func (s *Store) PessimisticLockResumedOrWait(req *kvrpcpb.PessimisticLockRequest, wait func(*Blocked)) (*kvrpcpb.PessimisticLockResponse, *Blocked) {
	return s.pessimisticLock(req, wait, true)
}
