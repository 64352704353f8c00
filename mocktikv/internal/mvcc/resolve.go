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
		})
		return resp
	}
	next := region.Start
	for {
		done := false
		s.update(func(b *batch) {
			lo, hi := s.spanLocked(Range{Start: next, End: region.End})
			n := 0
			i := lo
			for ; i < hi && n < resolveBatchSize; i++ {
				e := s.sorted[i]
				if e.lock == nil {
					continue
				}
				commitTS, ok := status[e.lock.StartTS]
				if !ok {
					continue
				}
				n++
				if kerr := s.resolveOne(b, e, commitTS); kerr != nil {
					resp.Error = kerr
					done = true
					return
				}
			}
			b.apply()
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
// (commands/resolve_lock.rs).
func (s *Store) resolveOne(b *batch, e *entry, commitTS uint64) *kvrpcpb.KeyError {
	l := e.lock
	switch {
	case commitTS == 0:
		return b.cleanupKey(e, e.raw, l.StartTS)
	case commitTS > l.StartTS:
		kerr := b.commitKey(e, e.raw, l.StartTS, commitTS)
		if kerr != nil && kerr.TxnLockNotFound != nil && l.Type == kvrpcpb.Op_PessimisticLock {
			return nil
		}
		return kerr
	}
	return errInvalidTxnTSO(l.StartTS, commitTS)
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
	for i := lo; i < hi; i++ {
		e := s.sorted[i]
		if e.lock == nil || e.lock.StartTS > req.MaxVersion {
			continue
		}
		resp.Locks = append(resp.Locks, e.lock.Info(e.raw))
		if req.Limit > 0 && len(resp.Locks) >= int(req.Limit) {
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
	s.update(func(b *batch) {
		if len(req.Keys) > 0 {
			for _, k := range req.Keys {
				if e := s.lookup(k); e != nil && match(e.lock) {
					b.unlock(k, req.StartVersion, 0)
				}
			}
		} else {
			lo, hi := s.spanLocked(region)
			for i := lo; i < hi; i++ {
				if e := s.sorted[i]; match(e.lock) {
					b.unlock(e.raw, req.StartVersion, 0)
				}
			}
		}
		b.apply()
	})
	return resp
}
