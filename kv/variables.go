package kv

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// ErrQueryInterrupted marks work that stopped because its kill signal was
// raised (Variables.Killed): a SQL KILL, a statement timeout of the layer
// above. Compare with errors.Is; *QueryInterruptedError carries the signal.
var ErrQueryInterrupted = errors.New("tikv: query interrupted")

// QueryInterruptedError reports work stopped by a raised kill signal
// (client-go's ErrQueryInterruptedWithSignal). It matches
// ErrQueryInterrupted.
type QueryInterruptedError struct {
	// Signal is the value the kill flag held: the caller's reason code
	// (TiDB's sqlkiller values); never 0.
	Signal uint32
}

// Error describes the failure on one line.
func (e *QueryInterruptedError) Error() string {
	return fmt.Sprintf("tikv: query interrupted (signal %d)", e.Signal)
}

// MaxExecTimeExceededSignal is the Signal of a QueryInterruptedError for
// a statement past its max execution deadline (txn.LockCtx's
// MaxExecutionDeadline); TiDB's sqlkiller value, as client-go's.
const MaxExecTimeExceededSignal uint32 = 2

// Is makes errors.Is(err, ErrQueryInterrupted) hold.
func (e *QueryInterruptedError) Is(target error) bool { return target == ErrQueryInterrupted }

// Defaults of Variables, client-go's (kv/variables.go).
const (
	// DefaultBackoffWeight is the weight every backoff budget is given
	// unless a caller sets another. The pipeline's budgets already include
	// it (pipeline.DefaultBackoffBudget is client-go's 20 s base times 2),
	// so a weight w scales them by w/DefaultBackoffWeight.
	DefaultBackoffWeight = 2
	// DefaultLockFastBackoff is the first wait of a read that met a live
	// lock (the TxnLockFast policy's base).
	DefaultLockFastBackoff = 10 * time.Millisecond
)

// Variables are the retry knobs of one transaction or snapshot
// (client-go's kv.Variables): how long its requests may back off, how
// soon a read retries a live lock, and the flag another goroutine raises
// to stop it. The zero value means the defaults and no kill flag. Context
// cancellation remains the usual way to stop a Go caller's work; the kill
// flag exists for callers (a SQL layer) whose KILL must stop only the
// interruptible steps and let a commit that passed its prewrite finish.
type Variables struct {
	// BackoffWeight scales every backoff budget of the work by
	// BackoffWeight/DefaultBackoffWeight (client-go multiplies its base
	// budgets by it). Zero or less means DefaultBackoffWeight.
	BackoffWeight int
	// LockFastBackoff is the first wait of a read that met a live lock;
	// later waits double it up to the policy's cap. Zero or less means
	// DefaultLockFastBackoff.
	LockFastBackoff time.Duration
	// Killed, when set, is the kill flag: another goroutine stores a
	// non-zero signal to stop the work. It is checked before each attempt
	// of an interruptible command (every command but Commit,
	// BatchRollback and PessimisticRollback), after each backoff sleep,
	// and before each prewrite batch; the work then fails with a
	// *QueryInterruptedError. The flag is never reset here: its owner
	// does that.
	Killed *atomic.Uint32
}

// Interrupted returns a *QueryInterruptedError when the kill flag is
// raised, nil otherwise.
func (v Variables) Interrupted() error {
	if v.Killed == nil {
		return nil
	}
	if s := v.Killed.Load(); s != 0 {
		return &QueryInterruptedError{Signal: s}
	}
	return nil
}

// ScaleBudget returns budget scaled by the backoff weight. A budget of
// zero or less (none) stays as it is.
func (v Variables) ScaleBudget(budget time.Duration) time.Duration {
	if budget <= 0 || v.BackoffWeight <= 0 || v.BackoffWeight == DefaultBackoffWeight {
		return budget
	}
	return budget / DefaultBackoffWeight * time.Duration(v.BackoffWeight)
}
