package kv

import (
	"errors"
	"fmt"
	"time"
)

// Sentinels of a pessimistic lock request that gave up waiting (client-go's
// ErrLockAcquireFailAndNoWaitSet and ErrLockWaitTimeout). Neither marks the
// transaction retryable: the lock's owner is alive, and the caller chose
// not to wait for it (longer).
var (
	// ErrLockAcquireFailAndNoWait marks a no-wait lock request that met
	// a live lock of another transaction.
	ErrLockAcquireFailAndNoWait = errors.New("tikv: lock acquire failed and no wait is set")
	// ErrLockWaitTimeout marks a lock request that waited its whole wait
	// time for another transaction's lock.
	ErrLockWaitTimeout = errors.New("tikv: lock wait timeout")
)

// LockWaitError says a pessimistic lock request stopped waiting for Lock,
// another transaction's live lock: at once (NoWait, wrapping
// ErrLockAcquireFailAndNoWait) or after Waited (wrapping
// ErrLockWaitTimeout).
type LockWaitError struct {
	// NoWait is set for a no-wait request.
	NoWait bool
	// Waited is how long the request waited in all.
	Waited time.Duration
	// Lock is the lock that blocked the request last; nil when unknown.
	Lock *Lock
}

// Error names what happened, on one line.
func (e *LockWaitError) Error() string {
	what := fmt.Sprintf("lock wait timeout after %v", e.Waited.Truncate(time.Millisecond))
	if e.NoWait {
		what = "lock acquire failed and no wait is set"
	}
	if e.Lock == nil {
		return "tikv: " + what
	}
	return fmt.Sprintf("tikv: %s: %s", what, e.Lock)
}

// Unwrap returns ErrLockAcquireFailAndNoWait or ErrLockWaitTimeout.
func (e *LockWaitError) Unwrap() error {
	if e.NoWait {
		return ErrLockAcquireFailAndNoWait
	}
	return ErrLockWaitTimeout
}
