package mvcc

import (
	"bytes"
	"slices"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Shared locks (TiKV components/txn_types/src/lock.rs SharedLocks). A key's
// lock-CF slot holds either one Lock or a SharedLocks container: several
// transactions' sub-locks, each a Pessimistic lock (acquired with
// Op_SharedPessimisticLock) or, once prewritten with Op_SharedLock, a Lock
// lock. A shared-locked key is never a transaction's primary. Reads ignore
// the container (check_ts_conflict_si / _rc_check_ts skip SharedLocks), so
// an entry keeps it apart from entry.lock and every reader that looks only
// at entry.lock sees "no lock", as TiKV's readers do.

// sharedLocks is one key's SharedLocks container. It is immutable once
// stored: updates build a new one.
type sharedLocks struct {
	// shrinkOnly is SharedLocksFlags::SHRINK_ONLY: set (for good) when an
	// exclusive lock request met the container, it refuses new holders so
	// that the exclusive request is not starved.
	shrinkOnly bool
	locks      []*Lock // by StartTS, never empty while stored
}

// get returns the sub-lock of transaction ts, or nil.
func (s *sharedLocks) get(ts uint64) *Lock {
	if s == nil {
		return nil
	}
	if i, ok := s.search(ts); ok {
		return s.locks[i]
	}
	return nil
}

func (s *sharedLocks) search(ts uint64) (int, bool) {
	return slices.BinarySearchFunc(s.locks, ts, func(l *Lock, ts uint64) int {
		switch {
		case l.StartTS < ts:
			return -1
		case l.StartTS > ts:
			return 1
		}
		return 0
	})
}

// with returns a copy of s (or a new container when s is nil) holding l as
// its transaction's sub-lock (SharedLocks::insert_lock / update_lock).
func (s *sharedLocks) with(l *Lock) *sharedLocks {
	c := &sharedLocks{}
	if s != nil {
		c.shrinkOnly = s.shrinkOnly
		c.locks = slices.Clone(s.locks)
	}
	if i, ok := c.search(l.StartTS); ok {
		c.locks[i] = l
	} else {
		c.locks = slices.Insert(c.locks, i, l)
	}
	return c
}

// without returns a copy of s without transaction ts's sub-lock
// (SharedLocks::remove_lock).
func (s *sharedLocks) without(ts uint64) *sharedLocks {
	c := &sharedLocks{shrinkOnly: s.shrinkOnly, locks: slices.Clone(s.locks)}
	if i, ok := c.search(ts); ok {
		c.locks = slices.Delete(c.locks, i, i+1)
	}
	return c
}

// shrunk returns a shrink-only copy of s (SharedLocks::set_shrink_only).
func (s *sharedLocks) shrunk() *sharedLocks {
	return &sharedLocks{shrinkOnly: true, locks: slices.Clone(s.locks)}
}

// info is SharedLocks::into_lock_info: lock_type SharedLock, the key, and
// one LockInfo per holder in shared_lock_infos (each into_lock_info of the
// sub-lock, key included); every other field is left zero. TiKV lists the
// holders in hash-map order; the mock lists them by start ts.
func (s *sharedLocks) info(key []byte) *kvrpcpb.LockInfo {
	info := &kvrpcpb.LockInfo{LockType: kvrpcpb.Op_SharedLock, Key: bytes.Clone(key)}
	for _, l := range s.locks {
		info.SharedLockInfos = append(info.SharedLockInfos, l.Info(key))
	}
	return info
}

// sharedLock returns transaction ts's sub-lock in the key's stored
// SharedLocks, or nil.
func (e *entry) sharedLock(ts uint64) *Lock {
	if e == nil {
		return nil
	}
	return e.shared.get(ts)
}

// sharedOf returns key's SharedLocks as the running command sees it: its
// own pending rewrite if it made one (a command may touch several
// sub-locks of one key, as ResolveLock does, and each must see the
// previous one's change: TiKV reads MvccTxn's pending lock bytes first),
// else the stored container; nil if the key holds none.
func (b *batch) sharedOf(key []byte, e *entry) *sharedLocks {
	if s, ok := b.shared[string(key)]; ok {
		return s
	}
	if e == nil {
		return nil
	}
	return e.shared
}

// putShared stores s as key's container (MvccTxn::put_shared_locks). A
// container written where the key had none is a new lock for
// OnLockAcquired (put_shared_locks with is_new: only the request that
// creates the container reports it).
func (b *batch) putShared(key []byte, s *sharedLocks, isNew bool) {
	if b.shared == nil {
		b.shared = map[string]*sharedLocks{}
	}
	b.shared[string(key)] = s
	b.ops = append(b.ops, func() {
		e := b.s.ensureLocked(key)
		if isNew && e.shared == nil && e.lock == nil && b.s.opts.OnLockAcquired != nil {
			b.acquired = append(b.acquired, s.info(key))
		}
		e.shared = s
	})
}

// removeShared takes transaction startTS's sub-lock out of s, key's
// container. While other holders remain the container is only rewritten
// and nothing is released, so nobody waiting on the key is woken; removing
// the last one deletes the container and is a release (commitTS 0 for a
// rollback), as TiKV's commit, rollback_shared_lock and
// pessimistic_rollback call unlock_key only when the container is empty.
func (b *batch) removeShared(key []byte, s *sharedLocks, startTS, commitTS uint64) {
	rest := s.without(startTS)
	if len(rest.locks) > 0 {
		b.putShared(key, rest, false)
		return
	}
	if b.shared == nil {
		b.shared = map[string]*sharedLocks{}
	}
	b.shared[string(key)] = nil
	b.ops = append(b.ops, func() {
		if e := b.s.lookup(key); e != nil && e.shared != nil {
			e.shared = nil
			b.released = append(b.released, released{bytes.Clone(key), startTS, commitTS})
		}
	})
}

// rollbackShared is rollback_shared_lock
// (src/storage/txn/actions/check_txn_status.rs): remove startTS's sub-lock
// and, unless the write CF already records the transaction here, write its
// rollback, which is never protected (a shared-locked key is never a
// primary); collapse the previous unprotected rollback when asked.
func (b *batch) rollbackShared(e *entry, key []byte, s *sharedLocks, startTS uint64, collapse bool) {
	if rec := txnCommitRecord(e, startTS); rec.kind == recNone {
		b.makeRollback(e, key, startTS, false, rec.overlap)
		if collapse {
			b.collapsePrevRollback(e, key, startTS)
		}
	}
	// A commit record of the transaction next to its live sub-lock is a
	// TiKV panic; the mock just drops the sub-lock.
	b.removeShared(key, s, startTS, 0)
}

// commitShared is commit (src/storage/txn/actions/commit.rs) of
// transaction startTS's sub-lock sub in s: CommitTsExpired below its
// min_commit_ts; a Pessimistic sub-lock (never prewritten) is only removed,
// released as a rollback; a prewritten one becomes a Lock record.
func (b *batch) commitShared(key []byte, s *sharedLocks, sub *Lock, commitTS uint64) *kvrpcpb.KeyError {
	if commitTS < sub.MinCommitTS {
		return errCommitTSExpired(sub.StartTS, commitTS, sub.MinCommitTS, key)
	}
	wt, ok := writeTypeOf(sub.Type)
	if !ok {
		b.removeShared(key, s, sub.StartTS, 0)
		return nil
	}
	w := &Write{Type: wt, StartTS: sub.StartTS, CommitTS: commitTS, ShortValue: sub.ShortValue, LastChange: sub.LastChange}
	if slices.Contains(sub.RollbackTS, commitTS) {
		w.HasOverlappedRollback = true
	}
	b.putWrite(key, w)
	b.removeShared(key, s, sub.StartTS, commitTS)
	return nil
}

// filter returns a copy of s with only the sub-locks that pass keep
// (SharedLocks::filter_shared_locks, as scan_locks_from_storage uses it).
func (s *sharedLocks) filter(keep func(*Lock) bool) *sharedLocks {
	c := &sharedLocks{shrinkOnly: s.shrinkOnly}
	for _, l := range s.locks {
		if keep(l) {
			c.locks = append(c.locks, l)
		}
	}
	return c
}

// locksForResolve lists the key's locks a region-wide ResolveLock looks
// at: its lock, or each sub-lock of its SharedLocks by start ts.
func (e *entry) locksForResolve() []*Lock {
	if e.shared != nil {
		return e.shared.locks
	}
	if e.lock != nil {
		return []*Lock{e.lock}
	}
	return nil
}
