package plans

import (
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
)

// KeyError maps one of TiKV's key errors to the typed error of package kv
// that names it; nil for nil. TiKV's extract_key_error
// (src/storage/errors.rs) sets one field per error, except that a write
// conflict and a missing transaction lock also set retryable: the specific
// field wins. A key error with no field this client knows becomes a
// *kv.AbortError carrying its text. A shared lock met (KeyIsLocked of a
// SharedLocks) is reported as its holders' locks (LocksFromInfo).
func KeyError(e *kvrpcpb.KeyError) error {
	switch {
	case e == nil:
		return nil
	case e.Locked != nil:
		return &kv.LockedError{Locks: LocksFromInfo(e.Locked)}
	case e.Conflict != nil:
		c := e.Conflict
		return &kv.WriteConflictError{
			StartTS: c.StartTs, ConflictStartTS: c.ConflictTs, ConflictCommitTS: c.ConflictCommitTs,
			Key: c.Key, Primary: c.Primary, Reason: c.Reason,
		}
	case e.AlreadyExist != nil:
		return &kv.AlreadyExistError{Key: e.AlreadyExist.Key}
	case e.Deadlock != nil:
		d := e.Deadlock
		return &kv.DeadlockError{
			LockTS: d.LockTs, LockKey: d.LockKey, DeadlockKeyHash: d.DeadlockKeyHash,
			DeadlockKey: d.DeadlockKey, WaitChain: d.WaitChain,
		}
	case e.CommitTsExpired != nil:
		c := e.CommitTsExpired
		return &kv.CommitTSExpiredError{
			StartTS: c.StartTs, AttemptedCommitTS: c.AttemptedCommitTs, Key: c.Key, MinCommitTS: c.MinCommitTs,
		}
	case e.TxnNotFound != nil:
		return &kv.TxnNotFoundError{StartTS: e.TxnNotFound.StartTs, PrimaryKey: e.TxnNotFound.PrimaryKey}
	case e.CommitTsTooLarge != nil:
		return &kv.CommitTSTooLargeError{CommitTS: e.CommitTsTooLarge.CommitTs}
	case e.AssertionFailed != nil:
		a := e.AssertionFailed
		return &kv.AssertionFailedError{
			StartTS: a.StartTs, Key: a.Key, Assertion: a.Assertion,
			ExistingStartTS: a.ExistingStartTs, ExistingCommitTS: a.ExistingCommitTs,
		}
	case e.PrimaryMismatch != nil:
		var l *kv.Lock
		if e.PrimaryMismatch.LockInfo != nil {
			l = LockFromInfo(e.PrimaryMismatch.LockInfo)
		}
		return &kv.PrimaryMismatchError{Lock: l}
	case e.TxnLockNotFound != nil:
		return &kv.TxnLockNotFoundError{Key: e.TxnLockNotFound.Key, DebugInfo: e.DebugInfo}
	case e.Retryable != "":
		return &kv.RetryableError{Msg: e.Retryable}
	case e.Abort != "":
		return &kv.AbortError{Msg: e.Abort}
	}
	return &kv.AbortError{Msg: "unknown key error: " + e.String()}
}

// KeyErrors maps the key errors of a response that reports one per key
// (KvPrewrite, KvPessimisticLock, KvFlush, ...); nil when there are none.
// Locks are collected (a shared lock as its holders' locks, LocksFromInfo):
// when every error is a lock, the result is one
// *kv.LockedError listing all of them, so a caller can resolve them in one
// round. Any other error decides the request (TiKV's prewrite returns a
// fatal error alone, src/storage/txn/commands/prewrite.rs), and the first
// such error is returned.
func KeyErrors(es []*kvrpcpb.KeyError) error {
	var locks []*kv.Lock
	for _, e := range es {
		if e == nil {
			continue
		}
		if e.Locked == nil {
			return KeyError(e)
		}
		locks = append(locks, LocksFromInfo(e.Locked)...)
	}
	if len(locks) == 0 {
		return nil
	}
	return &kv.LockedError{Locks: locks}
}

// LockFromInfo converts TiKV's description of a lock. Keys are referenced,
// not copied.
func LockFromInfo(l *kvrpcpb.LockInfo) *kv.Lock {
	var secondaries []kv.Key
	if len(l.Secondaries) > 0 {
		secondaries = make([]kv.Key, len(l.Secondaries))
		for i, s := range l.Secondaries {
			secondaries[i] = s
		}
	}
	return &kv.Lock{
		Key:             l.Key,
		Primary:         l.PrimaryLock,
		StartTS:         l.LockVersion,
		TTL:             time.Duration(l.LockTtl) * time.Millisecond,
		TxnSize:         l.TxnSize,
		Type:            l.LockType,
		ForUpdateTS:     l.LockForUpdateTs,
		UseAsyncCommit:  l.UseAsyncCommit,
		MinCommitTS:     l.MinCommitTs,
		Secondaries:     secondaries,
		SinceLastUpdate: time.Duration(l.DurationToLastUpdateMs) * time.Millisecond,
		IsTxnFile:       l.IsTxnFile,
	}
}

// KeyErr returns the Method.Err of a command whose response carries one
// key error (KvGet, KvCommit, KvCheckTxnStatus, ...): KeyError of it.
func KeyErr[R interface{ GetError() *kvrpcpb.KeyError }]() func(R) error {
	return func(resp R) error { return KeyError(resp.GetError()) }
}

// KeyErrs returns the Method.Err of a command whose response carries a
// list of key errors (KvPrewrite, KvPessimisticLock, KvFlush, ...):
// KeyErrors of it.
func KeyErrs[R interface{ GetErrors() []*kvrpcpb.KeyError }]() func(R) error {
	return func(resp R) error { return KeyErrors(resp.GetErrors()) }
}

// PairKeyErrs returns the Method.Err of a transactional read that reports
// a request-level key error and per-key errors inside its pairs (KvScan,
// KvBatchGet: a locked key is a keyless pair whose error is set, TiKV's
// future_batch_get in src/server/service/kv.rs). The request-level error
// wins; otherwise the pairs' errors are mapped as KeyErrors does, so the
// locks of every locked key come back in one *kv.LockedError, alongside
// the response and its readable pairs.
func PairKeyErrs[R interface{ GetError() *kvrpcpb.KeyError }](pairs func(R) []*kvrpcpb.KvPair) func(R) error {
	return func(resp R) error {
		if err := KeyError(resp.GetError()); err != nil {
			return err
		}
		var es []*kvrpcpb.KeyError
		for _, p := range pairs(resp) {
			if e := p.GetError(); e != nil {
				es = append(es, e)
			}
		}
		return KeyErrors(es)
	}
}
