package mvcc

import (
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Commit is KvCommit (commands/commit.rs, actions/commit.rs): keys are
// committed in order and the first error aborts the request with nothing
// written. commit_version <= start_version is InvalidTxnTso. Re-committing
// a committed transaction succeeds whatever commit ts it names.
func (s *Store) Commit(req *kvrpcpb.CommitRequest) *kvrpcpb.CommitResponse {
	resp := &kvrpcpb.CommitResponse{}
	if req.CommitVersion <= req.StartVersion {
		resp.Error = errInvalidTxnTSO(req.StartVersion, req.CommitVersion)
		return resp
	}
	s.update(func(b *batch) {
		for _, k := range req.Keys {
			if kerr := b.commitKey(s.lookup(k), k, req.StartVersion, req.CommitVersion); kerr != nil {
				resp.Error = kerr
				return
			}
		}
		b.apply()
		resp.CommitVersion = req.CommitVersion
		s.txnStatus.insertCommitted(req.StartVersion, req.CommitVersion)
	})
	return resp
}

// BatchRollback is KvBatchRollback (commands/rollback.rs): each key's lock
// of the transaction is rolled back (protected on the primary), a missing
// lock leaves an unprotected rollback record, and a committed key aborts
// the request with nothing written.
func (s *Store) BatchRollback(req *kvrpcpb.BatchRollbackRequest) *kvrpcpb.BatchRollbackResponse {
	resp := &kvrpcpb.BatchRollbackResponse{}
	s.update(func(b *batch) {
		for _, k := range req.Keys {
			if kerr := b.cleanupKey(s.lookup(k), k, req.StartVersion); kerr != nil {
				resp.Error = kerr
				return
			}
		}
		b.apply()
	})
	return resp
}

// Cleanup is the deprecated KvCleanup (commands/cleanup.rs): roll back the
// transaction's lock on key if its TTL expired as of current_ts (0 skips
// the TTL check); report a live lock as locked and a committed transaction
// by its commit ts. A missing lock leaves a protected rollback.
func (s *Store) Cleanup(req *kvrpcpb.CleanupRequest) *kvrpcpb.CleanupResponse {
	resp := &kvrpcpb.CleanupResponse{}
	s.UpdateMaxTS(req.StartVersion)
	s.update(func(b *batch) {
		e := s.lookup(req.Key)
		start := req.StartVersion
		if sub := e.sharedLock(start); sub != nil {
			// cleanup.rs on a SharedLocks holding the transaction: the
			// sub-lock's TTL decides; a live one reports the whole
			// container as locked.
			if req.CurrentTs != 0 && !sub.expired(req.CurrentTs) {
				resp.Error = &kvrpcpb.KeyError{Locked: e.shared.info(req.Key)}
				return
			}
			b.rollbackShared(e, req.Key, e.shared, start, false)
			b.apply()
			return
		}
		if e != nil && e.lock != nil && e.lock.StartTS == start {
			l := e.lock
			if req.CurrentTs != 0 && !l.expired(req.CurrentTs) {
				resp.Error = errLocked(l, req.Key)
				return
			}
			b.rollbackLock(e, req.Key, l, protectRollback(req.Key, l), false)
			b.apply()
			return
		}
		rec := txnCommitRecord(e, start)
		switch rec.kind {
		case recCommitted:
			resp.CommitVersion = rec.commitTS
			return
		case recRolledBack, recOverlapped:
			return
		}
		// check_txn_status_missing_lock: marking a mismatching async lock
		// only when no commit record sits at (key, start_ts).
		b.makeRollback(e, req.Key, start, true, rec.overlap)
		if e != nil && rec.overlap == nil {
			b.markRollbackOnMismatchingLock(req.Key, e.lock, start, true)
		}
		b.apply()
	})
	return resp
}
