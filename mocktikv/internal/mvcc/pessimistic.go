package mvcc

import (
	"bytes"
	"fmt"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// DefaultWaitForLockTimeout is TiKV's pessimistic-txn.wait-for-lock-timeout.
const DefaultWaitForLockTimeout = time.Second

// WaitTimeout normalizes a PessimisticLockRequest's wait_timeout as TiKV
// does (lock_manager WaitTimeout, waiter_manager normalize_deadline):
// negative means no wait (ok=false), 0 the default, and a positive value
// is capped at the default.
func WaitTimeout(ms int64) (d time.Duration, ok bool) {
	switch {
	case ms < 0:
		return 0, false
	case ms == 0:
		return DefaultWaitForLockTimeout, true
	}
	return min(time.Duration(ms)*time.Millisecond, DefaultWaitForLockTimeout), true
}

// Blocked describes the other transaction's lock a PessimisticLock request
// ran into: what a lock-wait queue needs to park the request and what a
// deadlock detector needs to add the edge request.start -> Lock.StartTS.
type Blocked struct {
	// Index is the mutation that met the lock; Key is its key.
	Index int
	Key   []byte
	// Lock is the blocking lock as LockInfo: its LockVersion is the
	// holder's start ts or, for a SharedLocks (LockType Op_SharedLock),
	// each of its SharedLockInfos is one holder.
	Lock *kvrpcpb.LockInfo
	// Shared is set when the blocked mutation asked for a shared lock
	// (the lock-wait entry's is_shared_lock).
	Shared bool
}

// PessimisticLock is KvPessimisticLock (commands/acquire_pessimistic_lock.rs,
// actions/acquire_pessimistic_lock.rs) with TiKV's no-wait outcome. Keys
// are locked in order; a non-lock error aborts with nothing written. On
// another transaction's lock nothing is written and, besides the no-wait
// response (errors=[locked], plus results=[Failed] in force-lock mode), the
// blocking lock is returned so that a caller with a lock-wait queue can
// wait for its release and run the request again.
func (s *Store) PessimisticLock(req *kvrpcpb.PessimisticLockRequest) (*kvrpcpb.PessimisticLockResponse, *Blocked) {
	return s.pessimisticLock(req, nil, false)
}

// pessimisticLock is PessimisticLock; onBlocked, if set, is called with the
// blocking lock while the Store's write lock is still held. resumed marks
// the re-execution of a woken force-lock request
// (AcquirePessimisticLockResumed), which locks every key exclusively and
// never makes a SharedLocks shrink-only.
func (s *Store) pessimisticLock(req *kvrpcpb.PessimisticLockRequest, onBlocked func(*Blocked), resumed bool) (*kvrpcpb.PessimisticLockResponse, *Blocked) {
	resp := &kvrpcpb.PessimisticLockResponse{}
	force := req.WakeUpMode == kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock
	fail := func(e *kvrpcpb.KeyError) (*kvrpcpb.PessimisticLockResponse, *Blocked) {
		resp.Errors = []*kvrpcpb.KeyError{e}
		return resp, nil
	}
	if force && len(req.Mutations) > 1 {
		return fail(errOther("multiple keys in a single request with allowed_lock_with_conflict set is not allowed"))
	}
	if req.LockOnlyIfExists && !req.ReturnValues {
		return fail(abort(mvccDebug(fmt.Sprintf("LockIfExistsFailed { start_ts: TimeStamp(%d), key: [] }", req.StartVersion))))
	}
	for _, m := range req.Mutations {
		if m.Op != kvrpcpb.Op_PessimisticLock && m.Op != kvrpcpb.Op_SharedPessimisticLock {
			return fail(errOther(fmt.Sprintf("mutation op %s is not supported in pessimistic lock", m.Op)))
		}
		if e := checkKeySize(m.Key); e != nil {
			return fail(e)
		}
	}
	var blocked *Blocked
	s.update(func(b *batch) {
		results := make([]lockResult, 0, len(req.Mutations))
		for i, m := range req.Mutations {
			shared := m.Op == kvrpcpb.Op_SharedPessimisticLock && !resumed
			r, kerr, lock := s.lockKey(b, req, m, force, shared, resumed)
			if lock != nil {
				blocked = &Blocked{Index: i, Key: bytes.Clone(m.Key), Lock: lock, Shared: shared}
				resp.Errors = []*kvrpcpb.KeyError{{Locked: proto.Clone(lock).(*kvrpcpb.LockInfo)}}
				if force {
					resp.Results = []*kvrpcpb.PessimisticLockKeyResult{{Type: kvrpcpb.PessimisticLockKeyResultType_LockResultFailed}}
				}
				if onBlocked != nil {
					onBlocked(blocked)
				}
				return
			}
			if kerr != nil {
				resp.Errors = []*kvrpcpb.KeyError{kerr}
				if r.shrunk {
					// The shrink-only mark is written although the
					// request fails (acquire_pessimistic_lock.rs).
					b.apply()
				}
				return
			}
			results = append(results, r)
		}
		b.apply()
		// Response shapes of future_acquire_pessimistic_lock.
		for _, r := range results {
			switch {
			case force:
				kr := &kvrpcpb.PessimisticLockKeyResult{Type: kvrpcpb.PessimisticLockKeyResultType_LockResultNormal}
				if r.conflict != 0 {
					kr.Type = kvrpcpb.PessimisticLockKeyResultType_LockResultLockedWithConflict
					kr.LockedWithConflictTs = r.conflict
					kr.Value, kr.Existence = r.value, r.exists
				} else if req.ReturnValues {
					kr.Value, kr.Existence = r.value, r.exists
				} else if req.CheckExistence {
					// Existence alone: TiKV does not load the value
					// (PessimisticLockKeyResult::new_success).
					kr.Existence = r.exists
				}
				resp.Results = append(resp.Results, kr)
			case req.ReturnValues:
				resp.Values = append(resp.Values, append([]byte{}, r.value...))
				resp.NotFounds = append(resp.NotFounds, !r.exists)
			case req.CheckExistence:
				resp.NotFounds = append(resp.NotFounds, !r.exists)
			}
		}
	})
	return resp, blocked
}

type lockResult struct {
	value    []byte
	exists   bool
	conflict uint64 // locked_with_conflict_ts
	// shrunk: the key error reports a SharedLocks this request just made
	// shrink-only; the batch holds only that rewrite.
	shrunk bool
}

// lockKey acquires one pessimistic lock (a shared one if shared) into b.
// It returns the lock that blocks it, or a key error, or the result.
func (s *Store) lockKey(b *batch, req *kvrpcpb.PessimisticLockRequest, m *kvrpcpb.Mutation, force, shared, resumed bool) (lockResult, *kvrpcpb.KeyError, *kvrpcpb.LockInfo) {
	key, start, fut := m.Key, req.StartVersion, req.ForUpdateTs
	shouldNotExist := m.Assertion == kvrpcpb.Assertion_NotExist
	needValue := req.ReturnValues || req.CheckExistence || req.LockOnlyIfExists
	if shouldNotExist || req.ReturnValues || req.CheckExistence {
		s.UpdateMaxTS(fut)
	}
	e := s.lookup(key)
	var res lockResult
	read := func(ts uint64) {
		res.value, _, res.exists = readAt(e, ts)
	}
	conflictErr := func(w *Write) *kvrpcpb.KeyError {
		return errWriteConflict(start, w.StartTS, w.CommitTS, key, req.PrimaryLock, kvrpcpb.WriteConflict_PessimisticRetry)
	}

	sc := s.checkSharedLock(b, req, m, e, shared, resumed)
	if sc.end {
		return sc.res, sc.kerr, sc.blocked
	}
	if e != nil && e.lock != nil {
		l := e.lock
		if l.StartTS != start {
			return res, nil, l.Info(key)
		}
		if l.Type != kvrpcpb.Op_PessimisticLock {
			return res, errLockTypeNotMatch(start, key, false), nil
		}
		// Our own pessimistic lock (handle_existing_exclusive_lock): no
		// write-conflict check.
		readTS := fut
		if force && fut < l.ForUpdateTS {
			readTS = l.ForUpdateTS
			res.conflict = l.ForUpdateTS
		}
		if needValue || shouldNotExist || res.conflict != 0 {
			read(readTS)
		}
		if shouldNotExist && res.exists {
			if w := dataVersion(e, e.seekWrite(readTS)); w != nil && w.CommitTS > fut {
				return res, conflictErr(w), nil
			}
			return res, errAlreadyExist(key), nil
		}
		if readTS > l.ForUpdateTS {
			c := l.clone()
			c.TTL, c.ForUpdateTS, c.MinCommitTS, c.Primary = req.LockTtl, readTS, req.MinCommitTs, bytes.Clone(req.PrimaryLock)
			b.putLock(key, c)
		}
		return res, nil, nil
	}

	lockFUT := fut
	if w := e.newestWrite(); w != nil {
		// Any newer record, Rollback and Lock included, conflicts with the
		// lock's for_update_ts; force-lock mode locks anyway at that ts.
		if w.CommitTS > fut {
			if !force {
				return res, conflictErr(w), nil
			}
			res.conflict = w.CommitTS
			lockFUT = w.CommitTS
		}
		// This transaction was rolled back here: it must not lock again.
		if w.CommitTS == start && w.rolledBackAt() {
			return res, errPessimisticLockRolledBack(start, key), nil
		}
		if w.CommitTS > start {
			if i := e.seekWrite(start); i < len(e.writes) && e.writes[i].CommitTS == start && e.writes[i].rolledBackAt() {
				return res, errPessimisticLockRolledBack(start, key), nil
			}
		}
		if shouldNotExist && exists(e) {
			if res.conflict != 0 {
				return res, conflictErr(w), nil
			}
			return res, errAlreadyExist(key), nil
		}
	}
	if needValue || shouldNotExist || res.conflict != 0 {
		read(maxU64)
	}
	if !shared && req.LockOnlyIfExists && !res.exists {
		if res.conflict != 0 {
			return res, conflictErr(e.newestWrite()), nil
		}
		return res, nil, nil
	}
	lock := &Lock{
		Type:                 kvrpcpb.Op_PessimisticLock,
		Primary:              bytes.Clone(req.PrimaryLock),
		StartTS:              start,
		TTL:                  req.LockTtl,
		ForUpdateTS:          lockFUT,
		MinCommitTS:          req.MinCommitTs,
		IsLockedWithConflict: res.conflict != 0,
	}
	if shared {
		// Join (or create) the key's SharedLocks.
		b.putShared(key, sc.container.with(lock), sc.container == nil)
		return res, nil, nil
	}
	b.putLock(key, lock)
	return res, nil, nil
}
