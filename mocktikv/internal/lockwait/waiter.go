package lockwait

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/pingcap/kvproto/pkg/deadlock"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Outcome is how a wait ended.
type Outcome int

const (
	// Woken means the lock was released and the waiter is a legacy
	// (WakeUpModeNormal) request. Result.Conflict is the
	// WriteConflict(PessimisticRetry) TiKV answers with; the request is not
	// retried server-side.
	Woken Outcome = iota + 1
	// Resume means the lock was released and the waiter is a force-lock
	// request: it must re-execute its lock acquisition, then call Requeue
	// or Done.
	Resume
	// LockTimeout means the wait timed out, or the request does not wait
	// (wait_timeout < 0). Result.Lock is the blocking lock for
	// KeyError.locked.
	LockTimeout
	// Deadlock means waiting would close a cycle of waits. Result.Deadlock is
	// KeyError.deadlock.
	Deadlock
	// Canceled means the wait's ctx ended, the Manager was closed, or Done was
	// called. Result.Err says which.
	Canceled
)

// String returns the Outcome's name.
func (o Outcome) String() string {
	switch o {
	case Woken:
		return "Woken"
	case Resume:
		return "Resume"
	case LockTimeout:
		return "LockTimeout"
	case Deadlock:
		return "Deadlock"
	case Canceled:
		return "Canceled"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Result is the end of a wait. Exactly the field its Outcome names is set;
// the values are the caller's to keep.
type Result struct {
	Outcome  Outcome
	Conflict *kvrpcpb.WriteConflict // Woken
	Lock     *kvrpcpb.LockInfo      // LockTimeout
	Deadlock *kvrpcpb.Deadlock      // Deadlock
	Err      error                  // Canceled
}

type waiterState int

const (
	queued   waiterState = iota // in its key's queue
	resuming                    // popped for a force-lock re-execution
	done                        // result set; left queue and detector
)

// Waiter is one request's wait, created by Manager.Enqueue. Its methods are
// meant for the goroutine serving that request, one call at a time; the
// Manager wakes it from other goroutines.
type Waiter struct {
	m     *Manager
	req   Request
	hash  uint64
	seq   uint64
	ready chan struct{} // capacity 1: "state changed"

	// Guarded by m.mu.
	state       waiterState
	result      Result
	deadline    time.Time
	lock        *kvrpcpb.LockInfo // the blocking lock, as last known
	lastUpdate  time.Time         // when lock was last updated; zero if never
	q           *keyQueue         // while queued
	legacyIndex uint64
	indexed     bool
	edges       []uint64 // lock ts of the wait-for edges registered for it
}

// Wait blocks until the wait ends and returns how. It returns Resume for a
// woken force-lock waiter (call Requeue or Done next); every other Outcome
// is final, and further calls return the same Result.
//
// The deadline is fixed when the request is first enqueued: enqueue time
// plus its wait_timeout capped at the wait-for-lock-timeout (TiKV's
// normalize_deadline); a Requeue keeps it. On timeout the Result's Lock is
// the blocking lock as last known, with duration_to_last_update_ms set to
// the ms since LockAcquired last updated it (at least 1), or 0 if it never
// did (waiter_manager.rs cancel_for_timeout). If ctx ends first, the waiter
// leaves its queue and the detector and Wait returns Canceled with
// ctx.Err().
//
// Wait must be called without holding any lock that Released, LockAcquired
// or the request handlers of other transactions need.
func (w *Waiter) Wait(ctx context.Context) Result {
	m := w.m
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		m.mu.Lock()
		switch w.state {
		case done:
			res := w.result
			m.mu.Unlock()
			return res
		case resuming:
			m.mu.Unlock()
			return Result{Outcome: Resume}
		}
		now := time.Now()
		if !now.Before(w.deadline) {
			m.finishLocked(w, w.timeoutResult(now))
			m.mu.Unlock()
			continue
		}
		m.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(w.deadline.Sub(now))
		}
		select {
		case <-w.ready:
		case <-timer.C:
			timer = nil
		case <-ctx.Done():
			m.mu.Lock()
			if w.state == queued {
				m.finishLocked(w, Result{Outcome: Canceled, Err: ctx.Err()})
			}
			m.mu.Unlock()
		}
	}
}

// Requeue puts a resumed force-lock waiter back in its key's queue after
// its re-execution met lock (the key's new blocking lock); it keeps its
// deadline and its place by start_ts (TiKV's put_back_lock_wait_entries).
// If lock is held by other transactions than before, the wait-for edges move
// to them and are checked for deadlock unless the request is_first_lock.
// Call Wait next. Requeue does nothing unless the last Wait returned Resume.
func (w *Waiter) Requeue(lock *kvrpcpb.LockInfo) {
	m := w.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if w.state != resuming {
		return
	}
	if m.closed {
		m.finishLocked(w, Result{Outcome: Canceled, Err: ErrClosed})
		return
	}
	if lock != nil && !equalHolders(w.lock, lock) {
		now := time.Now()
		w.lock, w.lastUpdate = cloneLock(lock), now
		if !w.req.IsFirstLock {
			m.dropEdgesLocked(w)
			if dl := m.detectLocked(now, w); dl != nil {
				m.finishLocked(w, Result{Outcome: Deadlock, Deadlock: dl})
				return
			}
		}
	}
	m.pushLocked(w)
}

// Done ends the wait for good: a resumed waiter whose request finished, or
// a waiter its owner abandons. It leaves its queue and the detector; a
// later Wait returns Canceled. Done is idempotent and safe to defer.
func (w *Waiter) Done() {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	w.m.finishLocked(w, Result{Outcome: Canceled, Err: errDone})
}

// finish records res and wakes Wait. The caller holds m.mu (or owns w
// exclusively).
func (w *Waiter) finish(res Result) {
	w.state, w.result = done, res
	w.signal()
}

func (w *Waiter) signal() {
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

// wokenResult is a legacy waiter's answer to a release of the lock of
// startTS on its key (TiKV's WriteConflict for lock-waiting requests:
// conflict_commit_ts is 0 when the holder rolled back).
func (w *Waiter) wokenResult(startTS, commitTS uint64) Result {
	return Result{Outcome: Woken, Conflict: &kvrpcpb.WriteConflict{
		StartTs:          w.req.StartTS,
		ConflictTs:       startTS,
		ConflictCommitTs: commitTS,
		Key:              bytes.Clone(w.req.Key),
		Primary:          bytes.Clone(w.req.Primary),
		Reason:           kvrpcpb.WriteConflict_PessimisticRetry,
	}}
}

// timeoutResult is the KeyIsLocked a timed-out waiter answers with. The
// caller holds m.mu.
func (w *Waiter) timeoutResult(now time.Time) Result {
	lock := cloneLock(w.lock)
	if lock != nil {
		lock.DurationToLastUpdateMs = 0
		if !w.lastUpdate.IsZero() {
			// Rounded up so that a fresh update does not read as "never".
			lock.DurationToLastUpdateMs = uint64(max(now.Sub(w.lastUpdate).Milliseconds(), 1))
		}
	}
	return Result{Outcome: LockTimeout, Lock: lock}
}

// entry is w's own wait-for edge towards lockTS.
func (w *Waiter) entry(lockTS uint64) *deadlock.WaitForEntry {
	return &deadlock.WaitForEntry{
		Txn:              w.req.StartTS,
		WaitForTxn:       lockTS,
		KeyHash:          w.hash,
		Key:              bytes.Clone(w.req.Key),
		ResourceGroupTag: bytes.Clone(w.req.ResourceGroupTag),
	}
}

func equalHolders(a, b *kvrpcpb.LockInfo) bool {
	ha, hb := holders(a), holders(b)
	if len(ha) != len(hb) {
		return false
	}
	for i := range ha {
		if ha[i] != hb[i] {
			return false
		}
	}
	return true
}
