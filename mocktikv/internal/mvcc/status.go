package mvcc

import (
	"bytes"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// CheckTxnStatus is KvCheckTxnStatus (commands/check_txn_status.rs,
// actions/check_txn_status.rs) on the primary key: it reports a
// transaction as committed, rolled back or alive, rolling back an expired
// lock (as of current_ts), pushing a live lock's min_commit_ts past
// caller_start_ts, and writing a protected rollback for a missing
// transaction when rollback_if_not_exist. A primary pessimistic lock
// acquired with conflict is checked against the transaction's own commit
// or rollback record first, as it may be stale. A committed answer is
// recorded in the txn-status cache.
func (s *Store) CheckTxnStatus(req *kvrpcpb.CheckTxnStatusRequest) *kvrpcpb.CheckTxnStatusResponse {
	resp := &kvrpcpb.CheckTxnStatusResponse{}
	push := req.LockTs
	if req.CurrentTs != maxU64 {
		push = max(push, req.CurrentTs)
	}
	if req.CallerStartTs != maxU64 {
		push = max(push, req.CallerStartTs)
	}
	s.UpdateMaxTS(push)
	s.update(func(b *batch) {
		defer func() {
			// A Committed answer is a known txn status (commands/
			// check_txn_status.rs known_txn_status).
			if resp.Error == nil && resp.CommitVersion != 0 {
				s.txnStatus.insertCommitted(req.LockTs, resp.CommitVersion)
			}
		}()
		key := req.PrimaryKey
		e := s.lookup(key)
		if e != nil && e.shared != nil {
			// A shared-locked key is never a primary: whatever
			// transactions hold it, PrimaryMismatch with the container
			// (commands/check_txn_status.rs).
			resp.Error = &kvrpcpb.KeyError{PrimaryMismatch: &kvrpcpb.PrimaryMismatch{LockInfo: e.shared.info(key)}}
			return
		}
		if e != nil && e.lock != nil && e.lock.StartTS == req.LockTs {
			s.checkTxnStatusLock(b, e, req, resp)
			return
		}
		s.checkTxnStatusMissing(b, e, req, resp)
		if resp.Error == nil {
			b.apply()
		}
	})
	return resp
}

func (s *Store) checkTxnStatusLock(b *batch, e *entry, req *kvrpcpb.CheckTxnStatusRequest, resp *kvrpcpb.CheckTxnStatusResponse) {
	key, l := req.PrimaryKey, e.lock
	if req.VerifyIsPrimary && !bytes.Equal(key, l.Primary) {
		if !req.ResolvingPessimisticLock && l.Type == kvrpcpb.Op_PessimisticLock {
			// A stale pessimistic lock left by a primary change: decide as
			// if the lock were missing, and remove it.
			s.checkTxnStatusMissing(b, e, &kvrpcpb.CheckTxnStatusRequest{
				PrimaryKey: key, LockTs: req.LockTs, RollbackIfNotExist: req.RollbackIfNotExist,
			}, resp)
			if resp.Error == nil {
				b.unlock(key, l.StartTS, 0)
				b.apply()
			}
			return
		}
		resp.Error = errPrimaryMismatch(l, key)
		return
	}
	// An async-commit lock's fate is decided by its secondaries
	// (CheckSecondaryLocks), never by expiry or a push here, unless the
	// client knows the transaction fell back (force_sync_commit).
	if l.UseAsyncCommit && !req.ForceSyncCommit {
		// Like every Uncommitted answer, the lock info is keyed by the
		// lock's primary (kv.rs future_check_txn_status).
		resp.LockTtl = l.TTL
		resp.LockInfo = l.Info(l.Primary)
		resp.Action = kvrpcpb.Action_NoAction
		return
	}
	if l.Type == kvrpcpb.Op_PessimisticLock && l.IsLockedWithConflict {
		// A lock acquired with conflict may come from a stale force-lock
		// request that arrived after the transaction finished: the
		// transaction's own commit or rollback record decides first, and
		// the stale lock goes (check_txn_status.rs,
		// check_txn_status_from_pessimistic_primary_lock; TiDB issue 43540).
		// TiKV releases it with commit ts 0 whatever the record says.
		switch rec := txnCommitRecord(e, l.StartTS); rec.kind {
		case recCommitted:
			b.unlock(key, l.StartTS, 0)
			b.apply()
			resp.CommitVersion = rec.commitTS
			return
		case recRolledBack, recOverlapped:
			b.unlock(key, l.StartTS, 0)
			b.apply()
			resp.Action = kvrpcpb.Action_NoAction
			return
		}
	}
	if l.expired(req.CurrentTs) {
		if l.Type == kvrpcpb.Op_PessimisticLock && req.ResolvingPessimisticLock {
			b.unlock(key, l.StartTS, 0)
			b.apply()
			resp.Action = kvrpcpb.Action_TTLExpirePessimisticRollback
			return
		}
		b.rollbackLock(e, key, l, protectRollback(key, l), true)
		b.apply()
		resp.Action = kvrpcpb.Action_TTLExpireRollback
		return
	}
	// Push min_commit_ts so the caller may read past this transaction.
	if l.MinCommitTS != 0 && req.CallerStartTs != maxU64 && req.CallerStartTs >= l.MinCommitTS {
		c := l.clone()
		c.MinCommitTS = max(req.CallerStartTs+1, req.CurrentTs)
		b.putLock(key, c)
		b.apply()
		l = c
	}
	pushed := (req.CallerStartTs != 0 && l.MinCommitTS > req.CallerStartTs) || req.CallerStartTs == maxU64
	resp.LockTtl = l.TTL
	resp.LockInfo = l.Info(l.Primary)
	resp.Action = kvrpcpb.Action_NoAction
	if pushed {
		resp.Action = kvrpcpb.Action_MinCommitTSPushed
	}
}

// checkTxnStatusMissing is check_txn_status_missing_lock; the caller
// applies the batch when resp carries no error.
func (s *Store) checkTxnStatusMissing(b *batch, e *entry, req *kvrpcpb.CheckTxnStatusRequest, resp *kvrpcpb.CheckTxnStatusResponse) {
	key := req.PrimaryKey
	rec := txnCommitRecord(e, req.LockTs)
	switch rec.kind {
	case recCommitted:
		resp.CommitVersion = rec.commitTS
		return
	case recRolledBack, recOverlapped:
		resp.Action = kvrpcpb.Action_NoAction
		return
	}
	if !req.RollbackIfNotExist {
		resp.Error = errTxnNotFound(req.LockTs, key)
		return
	}
	if req.ResolvingPessimisticLock {
		resp.Action = kvrpcpb.Action_LockNotExistDoNothing
		return
	}
	// A protected rollback so that a late prewrite of the primary fails.
	// Another transaction's async lock remembers it only when no commit
	// record sits at (key, lock_ts): otherwise the rollback is folded into
	// that record (check_txn_status_missing_lock).
	b.makeRollback(e, key, req.LockTs, true, rec.overlap)
	if e != nil && rec.overlap == nil {
		b.markRollbackOnMismatchingLock(key, e.lock, req.LockTs, true)
	}
	resp.Action = kvrpcpb.Action_LockNotExistRollback
}

// CheckSecondaryLocks is KvCheckSecondaryLocks
// (commands/check_secondary_locks.rs), the async-commit status check: all
// keys locked by the transaction gives their locks; the first key found
// committed or rolled back decides the answer (commit_ts, or nothing); a
// key with no trace of the transaction gets a protected rollback so the
// transaction can never commit.
func (s *Store) CheckSecondaryLocks(req *kvrpcpb.CheckSecondaryLocksRequest) *kvrpcpb.CheckSecondaryLocksResponse {
	resp := &kvrpcpb.CheckSecondaryLocksResponse{}
	start := req.StartVersion
	s.UpdateMaxTS(start)
	s.update(func(b *batch) {
		defer b.apply()
		defer func() {
			// A Committed answer is a known txn status
			// (check_secondary_locks.rs known_txn_status).
			if resp.CommitTs != 0 {
				s.txnStatus.insertCommitted(start, resp.CommitTs)
			}
		}()
		var locks []*kvrpcpb.LockInfo
		for _, k := range req.Keys {
			e := s.lookup(k)
			if e != nil && e.lock != nil && e.lock.StartTS == start {
				l := e.lock
				if l.Type != kvrpcpb.Op_PessimisticLock {
					locks = append(locks, l.Info(k))
					continue
				}
				// A pessimistic lock means the key was never prewritten:
				// the transaction cannot have committed.
				if l.IsLockedWithConflict {
					// A stale force lock: the record decides, and the
					// lock is released with commit ts 0 whatever it says
					// (check_status_from_lock).
					if rec := txnCommitRecord(e, start); rec.kind == recCommitted {
						b.unlock(k, start, 0)
						resp.CommitTs = rec.commitTS
						return
					} else if rec.kind != recNone {
						b.unlock(k, start, 0)
						return
					}
				}
				rec := txnCommitRecord(e, start)
				b.unlock(k, start, 0)
				b.makeRollback(e, k, start, true, rec.overlap)
				b.collapsePrevRollback(e, k, start)
				return
			}
			rec := txnCommitRecord(e, start)
			switch rec.kind {
			case recCommitted:
				resp.CommitTs = rec.commitTS
				return
			case recRolledBack, recOverlapped:
				return
			}
			b.makeRollback(e, k, start, true, rec.overlap)
			if e != nil {
				b.markRollbackOnMismatchingLock(k, e.lock, start, true)
			}
			b.collapsePrevRollback(e, k, start)
			return
		}
		resp.Locks = locks
	})
	return resp
}

// TxnHeartBeat is KvTxnHeartBeat (commands/txn_heart_beat.rs): the lock of
// the transaction on primary_lock gets ttl = max(ttl, advise_lock_ttl)
// (no check that it is a primary, nor of expiry); a pipelined lock's
// min_commit_ts may be raised. No such lock is TxnNotFound.
func (s *Store) TxnHeartBeat(req *kvrpcpb.TxnHeartBeatRequest) *kvrpcpb.TxnHeartBeatResponse {
	resp := &kvrpcpb.TxnHeartBeatResponse{}
	s.update(func(b *batch) {
		e := s.lookup(req.PrimaryLock)
		if e.sharedLock(req.StartVersion) != nil {
			// Heartbeats go to primaries, which are never shared-locked
			// (commands/txn_heart_beat.rs).
			resp.Error = &kvrpcpb.KeyError{PrimaryMismatch: &kvrpcpb.PrimaryMismatch{LockInfo: e.shared.info(req.PrimaryLock)}}
			return
		}
		if e == nil || e.lock == nil || e.lock.StartTS != req.StartVersion {
			resp.Error = errTxnNotFound(req.StartVersion, req.PrimaryLock)
			return
		}
		l := e.lock
		ttl := max(l.TTL, req.AdviseLockTtl)
		bump := !l.UseAsyncCommit && l.Generation > 0 && req.MinCommitTs > 0 && l.MinCommitTS < req.MinCommitTs
		if ttl != l.TTL || bump {
			c := l.clone()
			c.TTL = ttl
			if bump {
				c.MinCommitTS = req.MinCommitTs
			}
			b.putLock(req.PrimaryLock, c)
			b.apply()
		}
		resp.LockTtl = ttl
	})
	return resp
}
