package mvcc

import (
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// PessimisticLockOrWait is PessimisticLock for a caller with a lock-wait
// queue. When the request meets another transaction's lock, wait is called
// with it before PessimisticLock returns, while the Store's write lock is
// still held: the blocking lock cannot be removed, nor its release reported
// through OnLockReleased, until wait has returned. That is how TiKV keeps a
// request's latch on the key while it parks the request in the key's
// lock-wait queue, so that no release slips in between and wakes nobody
// (commands/acquire_pessimistic_lock.rs, lock_manager/lock_waiting_queue.rs).
// wait must not block nor call into the Store.
func (s *Store) PessimisticLockOrWait(req *kvrpcpb.PessimisticLockRequest, wait func(*Blocked)) (*kvrpcpb.PessimisticLockResponse, *Blocked) {
	return s.pessimisticLock(req, wait, false)
}

// WriteConflictError is the KeyError TiKV's extract_key_error builds from a
// WriteConflict: the conflict itself plus its Debug rendering in retryable.
// A lock waiter woken by a release is answered with it.
func WriteConflictError(wc *kvrpcpb.WriteConflict) *kvrpcpb.KeyError {
	return errWriteConflict(wc.GetStartTs(), wc.GetConflictTs(), wc.GetConflictCommitTs(), wc.GetKey(), wc.GetPrimary(), wc.GetReason())
}
