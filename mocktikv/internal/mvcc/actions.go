package mvcc

import (
	"slices"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// The per-key actions several commands share (src/storage/txn/actions/).

// recordKind classifies what the write CF says about one transaction.
type recordKind uint8

const (
	recNone       recordKind = iota // no record of the transaction
	recCommitted                    // a Put/Delete/Lock record with its start ts
	recRolledBack                   // a Rollback record at its start ts
	recOverlapped                   // another txn's record at its start ts carries the rollback flag
)

// commitRecord is the result of get_txn_commit_record.
type commitRecord struct {
	kind     recordKind
	commitTS uint64
	write    *Write
	// overlap is, for recNone, another transaction's commit record sitting
	// at (key, start_ts): a rollback there must be folded into it.
	overlap *Write
}

// txnCommitRecord is MvccReader::get_txn_commit_record: it walks the key's
// versions from newest down to startTS looking for startTS's transaction.
func txnCommitRecord(e *entry, startTS uint64) commitRecord {
	if e == nil {
		return commitRecord{}
	}
	var rec commitRecord
	for _, w := range e.writes {
		if w.CommitTS < startTS {
			break
		}
		if w.StartTS == startTS {
			if w.Type == WriteRollback {
				return commitRecord{kind: recRolledBack, commitTS: w.CommitTS, write: w}
			}
			return commitRecord{kind: recCommitted, commitTS: w.CommitTS, write: w}
		}
		if w.CommitTS == startTS {
			if w.HasOverlappedRollback {
				return commitRecord{kind: recOverlapped, commitTS: w.CommitTS, write: w}
			}
			rec.overlap = w
		}
	}
	return rec
}

// makeRollback writes T's rollback record at (key, startTS), following
// make_rollback (src/storage/txn/actions/check_txn_status.rs): if another
// transaction's commit record occupies that slot, a protected rollback
// becomes its has_overlapped_rollback flag (with a gc_fence naming the next
// newer data version) and an unprotected one writes nothing.
func (b *batch) makeRollback(e *entry, key []byte, startTS uint64, protected bool, overlap *Write) {
	if overlap != nil {
		if !protected {
			return
		}
		w := *overlap
		w.HasOverlappedRollback = true
		w.HasGCFence = true
		w.GCFence = 0
		// The gc fence is the commit ts of the oldest Put/Delete newer than
		// the overlapped record.
		for _, n := range e.writes {
			if n.CommitTS <= w.CommitTS {
				break
			}
			if n.Type == WritePut || n.Type == WriteDelete {
				w.GCFence = n.CommitTS
			}
		}
		b.putWrite(key, &w)
		return
	}
	w := &Write{Type: WriteRollback, StartTS: startTS, CommitTS: startTS}
	if protected {
		w.ShortValue = protectedRollbackMark
	}
	b.putWrite(key, w)
}

// collapsePrevRollback is collapse_prev_rollback: the newest record with
// commit_ts <= startTS is deleted if it is an unprotected Rollback, so
// rollbacks of abandoned transactions do not pile up.
func (b *batch) collapsePrevRollback(e *entry, key []byte, startTS uint64) {
	if e == nil {
		return
	}
	if i := e.seekWrite(startTS); i < len(e.writes) {
		if w := e.writes[i]; w.Type == WriteRollback && !w.Protected() {
			b.deleteWrite(key, w.CommitTS)
		}
	}
}

// markRollbackOnMismatchingLock is MvccTxn::mark_rollback_on_mismatching_lock:
// a protected rollback of startTS written while another transaction's
// async-commit lock sits on the key is remembered in that lock, so that if
// it commits at exactly startTS its record carries the rollback.
func (b *batch) markRollbackOnMismatchingLock(key []byte, l *Lock, startTS uint64, protected bool) {
	if !protected || l == nil || l.StartTS == startTS || !l.UseAsyncCommit || startTS < l.MinCommitTS {
		return
	}
	c := l.clone()
	c.RollbackTS = append(c.RollbackTS, startTS)
	b.putLock(key, c)
}

// rollbackLock is rollback_lock (check_txn_status.rs): delete the lock and
// its long value, write the rollback record (protected iff the key is the
// lock's primary or the lock is pipelined) and optionally collapse the
// previous unprotected rollback. When the write CF already records the
// transaction here, the lock is only removed: a rollback record (or
// overlapped rollback) of it makes TiKV skip the value deletion, the new
// record and the collapse, which would delete that very record if it is
// unprotected; a commit record is a TiKV panic, and the mock, which must
// not delete the committed value, also just removes the lock.
func (b *batch) rollbackLock(e *entry, key []byte, l *Lock, protected, collapse bool) {
	rec := txnCommitRecord(e, l.StartTS)
	if rec.kind != recNone {
		b.unlock(key, l.StartTS, 0)
		return
	}
	if l.Type == kvrpcpb.Op_Put && l.ShortValue == nil {
		b.deleteValue(key, l.StartTS)
	}
	b.makeRollback(e, key, l.StartTS, protected, rec.overlap)
	if collapse {
		b.collapsePrevRollback(e, key, l.StartTS)
	}
	b.unlock(key, l.StartTS, 0)
}

// protectRollback is the protection rule of rollback_lock: the primary's
// rollback (and a pipelined lock's) is protected.
func protectRollback(key []byte, l *Lock) bool {
	return string(key) == string(l.Primary) || l.Generation > 0
}

// commitKey is the per-key commit action (src/storage/txn/actions/commit.rs).
func (b *batch) commitKey(e *entry, key []byte, startTS, commitTS uint64) *kvrpcpb.KeyError {
	// A SharedLocks holding the transaction: commit its sub-lock; one not
	// holding it is "lock not found" (commit.rs).
	if sl := b.sharedOf(key, e); sl != nil {
		if sub := sl.get(startTS); sub != nil {
			return b.commitShared(key, sl, sub, commitTS)
		}
	} else if e != nil && e.lock != nil && e.lock.StartTS == startTS {
		l := e.lock
		// A commit ts below min_commit_ts would break async commit's and
		// CheckTxnStatus's pushed timestamps: CommitTsExpired, checked
		// before anything else, pessimistic locks included.
		if commitTS < l.MinCommitTS {
			return errCommitTSExpired(startTS, commitTS, l.MinCommitTS, key)
		}
		wt, ok := writeTypeOf(l.Type)
		if !ok {
			// Committing a pessimistic lock only removes it, released as
			// a rollback: nothing was committed here (commit.rs unlocks
			// it with commit ts 0).
			b.unlock(key, startTS, 0)
			return nil
		}
		w := &Write{Type: wt, StartTS: startTS, CommitTS: commitTS, ShortValue: l.ShortValue, LastChange: l.LastChange}
		if slices.Contains(l.RollbackTS, commitTS) {
			w.HasOverlappedRollback = true
		}
		b.putWrite(key, w)
		b.unlock(key, startTS, commitTS)
		return nil
	}
	// No lock of ours: a commit record of the transaction means an earlier
	// commit succeeded (whatever its commit ts); anything else is
	// TxnLockNotFound.
	if rec := txnCommitRecord(e, startTS); rec.kind == recCommitted {
		return nil
	}
	return errTxnLockNotFound(startTS, commitTS, key)
}

// cleanupKey is cleanup(current_ts=0, protect=false) as BatchRollback and
// ResolveLock use it (src/storage/txn/actions/cleanup.rs).
func (b *batch) cleanupKey(e *entry, key []byte, startTS uint64) *kvrpcpb.KeyError {
	// The transaction's sub-lock in a SharedLocks is rolled back on its own
	// (cleanup.rs -> rollback_shared_lock, collapsing).
	if sl := b.sharedOf(key, e); sl != nil && sl.get(startTS) != nil {
		b.rollbackShared(e, key, sl, startTS, true)
		return nil
	}
	if e != nil && e.lock != nil && e.lock.StartTS == startTS {
		b.rollbackLock(e, key, e.lock, protectRollback(key, e.lock), true)
		return nil
	}
	rec := txnCommitRecord(e, startTS)
	switch rec.kind {
	case recCommitted:
		return errCommitted(startTS, rec.commitTS, key)
	case recRolledBack, recOverlapped:
		return nil
	}
	// Never prewritten here: leave an unprotected rollback so a late
	// prewrite fails, collapsing the previous unprotected one.
	b.collapsePrevRollback(e, key, startTS)
	b.makeRollback(e, key, startTS, false, rec.overlap)
	return nil
}

// dataVersion returns the newest Put or Delete at or after index i of the
// key's versions (skipping Lock and Rollback records), or nil.
func dataVersion(e *entry, i int) *Write {
	for ; i < len(e.writes); i++ {
		if w := e.writes[i]; w.Type == WritePut || w.Type == WriteDelete {
			return w
		}
	}
	return nil
}

// latestData returns the key's newest data version as constraint and
// assertion checks see it: a newest record with any non-zero gc_fence means
// the key does not exist (check_data_constraint.rs); Lock and Rollback
// records are skipped.
func latestData(e *entry) *Write {
	if e == nil || len(e.writes) == 0 {
		return nil
	}
	if w := e.writes[0]; w.HasGCFence && w.GCFence != 0 {
		return nil
	}
	return dataVersion(e, 0)
}

// exists reports whether the key has a live value in its newest version.
func exists(e *entry) bool {
	w := latestData(e)
	return w != nil && w.Type == WritePut
}

// readAt returns the value visible at ts from the write CF alone (no lock
// checks): Put gives its value, Delete or nothing gives not found, Lock and
// Rollback records are skipped, and a gc-fenced version reads as absent.
func readAt(e *entry, ts uint64) (value []byte, commitTS uint64, found bool) {
	if e == nil {
		return nil, 0, false
	}
	for i := e.seekWrite(ts); i < len(e.writes); i++ {
		w := e.writes[i]
		switch w.Type {
		case WritePut:
			if w.gcFenced(ts) {
				return nil, 0, false
			}
			return e.value(w.StartTS, w.ShortValue), w.CommitTS, true
		case WriteDelete:
			return nil, 0, false
		}
	}
	return nil, 0, false
}
