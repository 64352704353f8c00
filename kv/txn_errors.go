package kv

import (
	"errors"
	"fmt"
	"time"

	"github.com/pingcap/kvproto/pkg/deadlock"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Sentinels of the transactional key errors TiKV reports in a response's
// KeyError (see the error types below, which wrap them). Compare with
// errors.Is; use errors.As for the detail.
var (
	// ErrTxnRetryable marks a failure that a new attempt of the whole
	// transaction, with a new start ts, may not meet again: a write
	// conflict, a deadlock, a lock that was rolled back under a commit,
	// or TiKV's retryable error. It is what a closure-form transaction
	// (re-run the closure) branches on; nothing below it is retried.
	ErrTxnRetryable = errors.New("tikv: transaction may be retried")

	// ErrKeyLocked marks a read or write that met another transaction's
	// lock; *LockedError lists the locks to resolve.
	ErrKeyLocked = errors.New("tikv: key is locked")

	// ErrWriteConflict marks a write that met a newer committed write (or,
	// for a pessimistic lock, a lock released after it queued).
	ErrWriteConflict = errors.New("tikv: write conflict")

	// ErrKeyExists marks an insert (a must-not-exist mutation) of a key
	// that has a value.
	ErrKeyExists = errors.New("tikv: key already exists")

	// ErrDeadlock marks a pessimistic lock request that would close a
	// cycle of waiting transactions.
	ErrDeadlock = errors.New("tikv: deadlock")

	// ErrTxnNotFound marks a status check or heartbeat for a transaction
	// that left neither a lock nor a commit record on its primary.
	ErrTxnNotFound = errors.New("tikv: transaction not found")

	// ErrAssertionFailed marks a mutation whose existence assertion did
	// not hold: a sign of data corruption or a client bug, never retried.
	ErrAssertionFailed = errors.New("tikv: assertion failed")
)

// Lock is another transaction's lock on a key, as TiKV reports it
// (kvrpcpb.LockInfo): what a lock resolver needs to find the transaction's
// status and clean the lock up.
type Lock struct {
	// Key is the locked key.
	Key Key
	// Primary is the transaction's primary key, where its status lives.
	Primary Key
	// StartTS is the lock's transaction start ts (lock_version).
	StartTS uint64
	// TTL is how long after StartTS's physical time the lock is alive,
	// unless its owner's heartbeats extended it.
	TTL time.Duration
	// TxnSize is how many keys the transaction has in the lock's region.
	TxnSize uint64
	// Type is the lock kind: Put, Del, Lock, PessimisticLock, ...
	Type kvrpcpb.Op
	// ForUpdateTS is a pessimistic lock's for-update ts.
	ForUpdateTS uint64
	// UseAsyncCommit says the transaction commits asynchronously: its
	// status is decided by its secondaries, not its primary alone.
	UseAsyncCommit bool
	// MinCommitTS is the smallest ts the transaction may commit at.
	MinCommitTS uint64
	// Secondaries are an async-commit primary's secondary keys.
	Secondaries []Key
	// SinceLastUpdate is how long ago TiKV last saw the lock change while
	// the request waited on it (zero when unknown).
	SinceLastUpdate time.Duration
	// IsTxnFile marks a lock of a file-based transaction.
	IsTxnFile bool
}

// String describes the lock on one line.
func (l *Lock) String() string {
	return fmt.Sprintf("key %q locked by txn %d (primary %q, ttl %v, %s)", l.Key, l.StartTS, l.Primary, l.TTL, l.Type)
}

// LockedError says the request met locks of other transactions (TiKV's
// KeyIsLocked). Locks holds every lock the response reported, in response
// order (a prewrite collects one per locked key), at least one. It wraps
// ErrKeyLocked.
type LockedError struct {
	Locks []*Lock
}

// Error names what happened, on one line.
func (e *LockedError) Error() string {
	switch len(e.Locks) {
	case 0:
		return "tikv: key is locked"
	case 1:
		return "tikv: " + e.Locks[0].String()
	}
	return fmt.Sprintf("tikv: %d keys locked, first %s", len(e.Locks), e.Locks[0])
}

// Unwrap returns ErrKeyLocked.
func (e *LockedError) Unwrap() error { return ErrKeyLocked }

// WriteConflictError is TiKV's WriteConflict: the transaction StartTS met
// the transaction ConflictStartTS's write (committed at ConflictCommitTS,
// zero when it is still a lock) on Key. It wraps ErrWriteConflict and
// ErrTxnRetryable.
type WriteConflictError struct {
	StartTS          uint64
	ConflictStartTS  uint64
	ConflictCommitTS uint64
	Key              Key
	Primary          Key
	// Reason says which check found the conflict (optimistic prewrite,
	// pessimistic lock, a lock released while waiting, RC check ts, ...).
	Reason kvrpcpb.WriteConflict_Reason
}

// Error names what happened, on one line.
func (e *WriteConflictError) Error() string {
	return fmt.Sprintf("tikv: write conflict on key %q: txn %d met txn %d (commit ts %d, primary %q, reason %s)",
		e.Key, e.StartTS, e.ConflictStartTS, e.ConflictCommitTS, e.Primary, e.Reason)
}

// Unwrap returns ErrWriteConflict and ErrTxnRetryable.
func (e *WriteConflictError) Unwrap() []error { return []error{ErrWriteConflict, ErrTxnRetryable} }

// AlreadyExistError says a must-not-exist mutation found a value at Key.
// It wraps ErrKeyExists.
type AlreadyExistError struct {
	Key Key
}

// Error names what happened, on one line.
func (e *AlreadyExistError) Error() string { return fmt.Sprintf("tikv: key %q already exists", e.Key) }

// Unwrap returns ErrKeyExists.
func (e *AlreadyExistError) Unwrap() error { return ErrKeyExists }

// DeadlockError says a pessimistic lock request on LockKey, blocked by the
// transaction LockTS, would close a cycle of waiters; TiKV fails the
// request that closes it. WaitChain is the cycle as TiKV's detector saw it
// (the waiter's own edge last). It wraps ErrDeadlock and ErrTxnRetryable:
// the victim's retry, with a new start ts, meets no cycle unless it forms
// again.
type DeadlockError struct {
	LockTS  uint64
	LockKey Key
	// DeadlockKeyHash is the hash of a key the requesting transaction
	// holds that another member of the cycle waits for.
	DeadlockKeyHash uint64
	// DeadlockKey is that key, when TiKV reports it (TiKV at HEAD does
	// not: deadlock.rs leaves it unset).
	DeadlockKey Key
	WaitChain   []*deadlock.WaitForEntry
	// IsRetryable says DeadlockKeyHash is the hash of a key the failed
	// request itself was locking (client-go's ErrDeadlock.IsRetryable):
	// the cycle closed within this one lock call, so re-running just that
	// call, once the transaction released what it took, may succeed; set
	// by the pessimistic lock path, which knows the request's keys.
	IsRetryable bool
}

// Error names what happened, on one line.
func (e *DeadlockError) Error() string {
	return fmt.Sprintf("tikv: deadlock: lock on key %q held by txn %d closes a cycle of %d waiters",
		e.LockKey, e.LockTS, len(e.WaitChain))
}

// Unwrap returns ErrDeadlock and ErrTxnRetryable.
func (e *DeadlockError) Unwrap() []error { return []error{ErrDeadlock, ErrTxnRetryable} }

// CommitTSExpiredError says a commit at AttemptedCommitTS is below the
// lock's MinCommitTS (a reader pushed it): TiKV's commit.rs refuses it and
// writes nothing. The committer may commit again with a commit ts above
// MinCommitTS (only the primary may be re-timestamped; an async-commit
// transaction is already decided).
type CommitTSExpiredError struct {
	StartTS           uint64
	AttemptedCommitTS uint64
	Key               Key
	MinCommitTS       uint64
}

// Error names what happened, on one line.
func (e *CommitTSExpiredError) Error() string {
	return fmt.Sprintf("tikv: txn %d: commit ts %d expired on key %q (min commit ts %d)",
		e.StartTS, e.AttemptedCommitTS, e.Key, e.MinCommitTS)
}

// TxnNotFoundError says the transaction StartTS has neither a lock nor a
// commit or rollback record on PrimaryKey (check_txn_status.rs with
// rollback_if_not_exist unset, or a heartbeat after the lock was
// resolved). It wraps ErrTxnNotFound.
type TxnNotFoundError struct {
	StartTS    uint64
	PrimaryKey Key
}

// Error names what happened, on one line.
func (e *TxnNotFoundError) Error() string {
	return fmt.Sprintf("tikv: txn %d not found on primary %q", e.StartTS, e.PrimaryKey)
}

// Unwrap returns ErrTxnNotFound.
func (e *TxnNotFoundError) Unwrap() error { return ErrTxnNotFound }

// CommitTSTooLargeError says an async-commit or one-phase prewrite would
// need a commit ts above its max_commit_ts. TiKV falls back to two-phase
// commit instead of reporting it, so it is rare in practice; a client that
// sees it commits the usual way.
type CommitTSTooLargeError struct {
	CommitTS uint64
}

// Error names what happened, on one line.
func (e *CommitTSTooLargeError) Error() string {
	return fmt.Sprintf("tikv: commit ts %d is too large", e.CommitTS)
}

// AssertionFailedError says a mutation's existence Assertion did not hold
// on Key: the key was found written by ExistingStartTS at ExistingCommitTS
// (both zero when it has no value). It wraps ErrAssertionFailed.
type AssertionFailedError struct {
	StartTS          uint64
	Key              Key
	Assertion        kvrpcpb.Assertion
	ExistingStartTS  uint64
	ExistingCommitTS uint64
}

// Error names what happened, on one line.
func (e *AssertionFailedError) Error() string {
	return fmt.Sprintf("tikv: txn %d: assertion %s failed on key %q (existing start ts %d, commit ts %d)",
		e.StartTS, e.Assertion, e.Key, e.ExistingStartTS, e.ExistingCommitTS)
}

// Unwrap returns ErrAssertionFailed.
func (e *AssertionFailedError) Unwrap() error { return ErrAssertionFailed }

// PrimaryMismatchError says a status check named a primary key that is not
// the primary of the lock it found (verify_is_primary): the caller's
// notion of the primary is stale. Lock is the lock found.
type PrimaryMismatchError struct {
	Lock *Lock
}

// Error names what happened, on one line.
func (e *PrimaryMismatchError) Error() string {
	if e.Lock == nil {
		return "tikv: primary mismatch"
	}
	return fmt.Sprintf("tikv: primary mismatch: %s", e.Lock)
}

// TxnLockNotFoundError says a commit found neither its lock nor its commit
// record on Key: the transaction was rolled back (a resolver judged it
// expired), so it cannot commit. TiKV marks it retryable; it wraps
// ErrTxnRetryable.
type TxnLockNotFoundError struct {
	Key Key
	// DebugInfo is the MVCC state of the key TiKV attached to the error
	// (kvrpcpb.KeyError.debug_info), nil when it sent none. It is for
	// diagnosis, never in Error(), as it holds user keys and values:
	// render it with DebugInfoJSON.
	DebugInfo *kvrpcpb.DebugInfo
}

// Error names what happened, on one line.
func (e *TxnLockNotFoundError) Error() string {
	return fmt.Sprintf("tikv: transaction lock not found on key %q", e.Key)
}

// Unwrap returns ErrTxnRetryable.
func (e *TxnLockNotFoundError) Unwrap() error { return ErrTxnRetryable }

// RetryableError is a retryable key error TiKV describes only by a message
// (its Debug rendering of the error; not to be parsed). It wraps
// ErrTxnRetryable.
type RetryableError struct {
	Msg string
}

// Error names what happened, on one line.
func (e *RetryableError) Error() string { return "tikv: retryable: " + e.Msg }

// Unwrap returns ErrTxnRetryable.
func (e *RetryableError) Unwrap() error { return ErrTxnRetryable }

// AbortError is any other key error (TiKV's abort: PessimisticLockNotFound,
// Committed, InvalidTxnTso, KeyTooLarge, ...), described only by a message
// that is not to be parsed. Retrying the same request will not help.
type AbortError struct {
	Msg string
}

// Error names what happened, on one line.
func (e *AbortError) Error() string { return "tikv: aborted: " + e.Msg }
