package mvcc

import (
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// resolveBatchSize is how many locks a region-wide ResolveLock or
// PessimisticRollback handles per write (RESOLVE_LOCK_BATCH_SIZE); each
// batch is applied on its own, so an error leaves earlier batches applied.
const resolveBatchSize = 256

// ResolveLock is KvResolveLock. With keys it is ResolveLockLite for
// start_version: each key is committed at commit_version (no commit > start
// check, a TiKV quirk) or rolled back when it is 0, the first error
// aborting everything. Without keys it scans the lock CF of region for
// locks of the transactions named by start_version/commit_version or, when
// start_version is 0, by txn_infos (status 0 = roll back).
func (s *Store) ResolveLock(req *kvrpcpb.ResolveLockRequest, region Range) *kvrpcpb.ResolveLockResponse {
	resp := &kvrpcpb.ResolveLockResponse{}
	status := map[uint64]uint64{}
	if req.StartVersion > 0 {
		status[req.StartVersion] = req.CommitVersion
	} else {
		for _, t := range req.TxnInfos {
			status[t.Txn] = t.Status
		}
	}
	if len(req.Keys) > 0 {
		if req.StartVersion == 0 {
			resp.Error = errOther("resolve lock lite needs start_version")
			return resp
		}
		s.update(func(b *batch) {
			for _, k := range req.Keys {
				e := s.lookup(k)
				var kerr *kvrpcpb.KeyError
				if req.CommitVersion != 0 {
					kerr = b.commitKey(e, k, req.StartVersion, req.CommitVersion)
				} else {
					kerr = b.cleanupKey(e, k, req.StartVersion)
				}
				if kerr != nil {
					resp.Error = kerr
					return
				}
			}
			b.apply()
			if req.CommitVersion != 0 {
				// resolve_lock_lite.rs known_txn_status.
				s.txnStatus.insertCommitted(req.StartVersion, req.CommitVersion)
			}
		})
		return resp
	}
	next := region.Start
	for {
		done := false
		s.update(func(b *batch) {
			lo, hi := s.spanLocked(Range{Start: next, End: region.End})
			n := 0
			var committed [][2]uint64 // resolve_lock.rs known_txn_status
			i := lo
			for ; i < hi && n < resolveBatchSize; i++ {
				e := s.sorted[i]
				// A SharedLocks yields each sub-lock of a transaction in
				// the map (resolve_lock_readphase.rs flattens it); the
				// mock keeps a container's sub-locks in one batch.
				for _, l := range e.locksForResolve() {
					commitTS, ok := status[l.StartTS]
					if !ok {
						continue
					}
					n++
					ok, kerr := s.resolveOne(b, e, l, commitTS)
					if kerr != nil {
						resp.Error = kerr
						done = true
						return
					}
					if ok && commitTS != 0 {
						committed = append(committed, [2]uint64{l.StartTS, commitTS})
					}
				}
			}
			b.apply()
			for _, c := range committed {
				s.txnStatus.insertCommitted(c[0], c[1])
			}
			if i >= hi {
				done = true
			} else {
				next = s.sorted[i].enc
			}
		})
		if done {
			return resp
		}
	}
}

// resolveOne resolves one lock found by the region scan
// (commands/resolve_lock.rs); done reports that the lock was rolled back
// or committed, not skipped.
func (s *Store) resolveOne(b *batch, e *entry, l *Lock, commitTS uint64) (done bool, kerr *kvrpcpb.KeyError) {
	switch {
	case commitTS == 0:
		kerr := b.cleanupKey(e, e.raw, l.StartTS)
		return kerr == nil, kerr
	case commitTS > l.StartTS:
		kerr := b.commitKey(e, e.raw, l.StartTS, commitTS)
		if kerr != nil && kerr.TxnLockNotFound != nil && l.Type == kvrpcpb.Op_PessimisticLock {
			return false, nil
		}
		return kerr == nil, kerr
	}
	return false, errInvalidTxnTSO(l.StartTS, commitTS)
}

// ScanLock is KvScanLock (MvccReader::scan_locks): the locks of every type
// with lock ts <= max_version in [start_key, end_key) within region (empty
// bounds meaning the region's), ascending, at most limit (0: no limit).
func (s *Store) ScanLock(req *kvrpcpb.ScanLockRequest, region Range) *kvrpcpb.ScanLockResponse {
	s.UpdateMaxTS(req.MaxVersion)
	r := region
	if len(req.StartKey) > 0 {
		if enc := EncodeKey(req.StartKey); string(enc) > string(r.Start) {
			r.Start = enc
		}
	}
	if len(req.EndKey) > 0 {
		if enc := EncodeKey(req.EndKey); len(r.End) == 0 || string(enc) < string(r.End) {
			r.End = enc
		}
	}
	resp := &kvrpcpb.ScanLockResponse{}
	s.mu.RLock()
	defer s.mu.RUnlock()
	lo, hi := s.spanLocked(r)
	n := 0 // locks returned, a SharedLocks counting each sub-lock
	for i := lo; i < hi; i++ {
		e := s.sorted[i]
		if e.shared != nil {
			// scan_locks_from_storage: the container keeps the sub-locks
			// passing the filter, truncated to the smallest start ts that
			// fit in the limit, and is reported as one SharedLock info.
			sl := e.shared.filter(func(l *Lock) bool { return l.StartTS <= req.MaxVersion })
			if len(sl.locks) == 0 {
				continue
			}
			if req.Limit > 0 && n+len(sl.locks) > int(req.Limit) {
				sl.locks = sl.locks[:int(req.Limit)-n]
			}
			n += len(sl.locks)
			resp.Locks = append(resp.Locks, sl.info(e.raw))
		} else {
			if e.lock == nil || e.lock.StartTS > req.MaxVersion {
				continue
			}
			n++
			resp.Locks = append(resp.Locks, e.lock.Info(e.raw))
		}
		if req.Limit > 0 && n >= int(req.Limit) {
			break
		}
	}
	return resp
}

// PessimisticRollback is KVPessimisticRollback
// (commands/pessimistic_rollback.rs): it removes the transaction's
// pessimistic locks with for_update_ts <= the request's, on the given keys
// or, with no keys, in the whole region. Other locks and missing locks are
// left alone; it never fails and writes no rollback records.
func (s *Store) PessimisticRollback(req *kvrpcpb.PessimisticRollbackRequest, region Range) *kvrpcpb.PessimisticRollbackResponse {
	resp := &kvrpcpb.PessimisticRollbackResponse{}
	match := func(l *Lock) bool {
		return l != nil && l.Type == kvrpcpb.Op_PessimisticLock && l.StartTS == req.StartVersion && l.ForUpdateTS <= req.ForUpdateTs
	}
	// A SharedLocks loses the transaction's sub-lock under the same
	// conditions (pessimistic_rollback.rs); the container is deleted, and
	// released, only with its last holder.
	one := func(b *batch, k []byte, e *entry) {
		if e == nil {
			return
		}
		if sl := b.sharedOf(k, e); sl != nil {
			if match(sl.get(req.StartVersion)) {
				b.removeShared(k, sl, req.StartVersion, 0)
			}
			return
		}
		if match(e.lock) {
			b.unlock(k, req.StartVersion, 0)
		}
	}
	s.update(func(b *batch) {
		if len(req.Keys) > 0 {
			for _, k := range req.Keys {
				one(b, k, s.lookup(k))
			}
		} else {
			lo, hi := s.spanLocked(region)
			for i := lo; i < hi; i++ {
				one(b, s.sorted[i].raw, s.sorted[i])
			}
		}
		b.apply()
	})
	return resp
}
