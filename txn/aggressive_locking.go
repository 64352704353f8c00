package txn

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/txn/internal/twopc"
	"github.com/tikvgo/tikv/txn/membuf"
)

// Aggressive ("fair") locking lets a pessimistic statement that met a
// write conflict keep the locks it took and run again, instead of
// releasing them and queueing behind every other waiter once more
// (client-go's aggressive locking, TiDB's fair locking):
//
//   - a LockKeys of one key locks it in TiKV's force-lock mode: a write
//     newer than the for-update ts does not fail it, the key is locked at
//     that write's commit ts and LockedValue.LockedWithConflictTS reports
//     it; a waiter woken by the release of the lock it waited for takes
//     the lock at once instead of answering a write conflict, so a hot key
//     goes to the waiters in turn;
//   - the keys a stage locks are held apart from the write buffer until
//     DoneAggressiveLocking; RetryAggressiveLocking starts the statement's
//     next attempt, in which locking a key the last attempt locked costs
//     no RPC, and releases the last attempt's locks the new one did not
//     take again;
//   - DoneAggressiveLocking keeps the stage's locks as if LockKeys had
//     taken them normally, CancelAggressiveLocking releases them.
//
// A lock taken in force-lock mode needs one more check at commit: a stale
// copy of its request, replayed after the lock was lost, succeeds over the
// write made meanwhile and brings the lock back at another for_update_ts.
// Done therefore records each key's for_update_ts, and the prewrite asks
// TiKV to fail (PessimisticLockNotFound) when the lock's differs
// (for_update_ts_constraints, twopc.Mutation.ExpectedForUpdateTS).

// The misuses of aggressive locking. client-go panics on them; here they
// are errors that wrap kv.ErrInvalidArgument and change nothing.
var (
	// ErrAggressiveLockingStarted: StartAggressiveLocking while the
	// transaction is already in aggressive locking.
	ErrAggressiveLockingStarted = fmt.Errorf("txn: aggressive locking already started: %w", kv.ErrInvalidArgument)
	// ErrAggressiveLockingNotStarted: Retry, Cancel or Done outside
	// aggressive locking.
	ErrAggressiveLockingNotStarted = fmt.Errorf("txn: aggressive locking not started: %w", kv.ErrInvalidArgument)
	// ErrAggressiveLockingPending: Commit or Rollback while the current
	// aggressive-locking stage holds locks, which the caller must first
	// keep (DoneAggressiveLocking) or release (CancelAggressiveLocking).
	// client-go ends the transaction and leaves every lock to expire;
	// here the transaction is rolled back, its locks released, and the
	// error reports the misuse.
	ErrAggressiveLockingPending = fmt.Errorf("txn: aggressive locking stage holds locks: done or cancel it first: %w", kv.ErrInvalidArgument)
	// ErrAggressiveLockingOptimistic: StartAggressiveLocking in an
	// optimistic transaction, which takes no lock before commit.
	ErrAggressiveLockingOptimistic = fmt.Errorf("txn: aggressive locking needs a pessimistic transaction: %w", kv.ErrInvalidArgument)
)

// LockedWithConflictTSError says TiKV locked Key with a conflict whose
// commit ts is not above the for-update ts the lock was asked at: a
// force-lock answer TiKV never gives (it reports only newer writes). The
// key is locked in the stage all the same, for Retry, Cancel or Done to
// handle. It wraps kv.ErrProtocol.
type LockedWithConflictTSError struct {
	Key                               []byte
	LockedWithConflictTS, ForUpdateTS uint64
}

// Error names what happened, on one line.
func (e *LockedWithConflictTSError) Error() string {
	return fmt.Sprintf("txn: key %q locked with conflict ts %d not above for update ts %d", e.Key, e.LockedWithConflictTS, e.ForUpdateTS)
}

// Unwrap returns kv.ErrProtocol.
func (e *LockedWithConflictTSError) Unwrap() error { return kv.ErrProtocol }

// fairLocking is a pessimistic transaction's aggressive-locking state.
type fairLocking struct {
	// stage is the current stage; nil outside aggressive locking.
	stage *lockStage
	// checks holds, for each key a stage locked and Done kept, the
	// for_update_ts of its lock in TiKV: the prewrite's
	// for_update_ts_constraints.
	checks map[string]uint64
}

// lockStage is one aggressive-locking stage: the current attempt of a
// statement and what is left of the one before.
type lockStage struct {
	// current holds the keys this attempt locked.
	current map[string]stageLock
	// last holds the keys the last attempt locked that this one has not
	// locked again (yet): released when the stage moves on.
	last map[string]stageLock
	// maxConflictTS is the largest LockedWithConflictTS of the stage: a
	// lock may sit at that for_update_ts, so the rollback of the stage's
	// locks reaches up to it.
	maxConflictTS uint64
	// assignedPrimary says this attempt chose the transaction's primary
	// (none was chosen before), primary being that key;
	// lastAssignedPrimary and lastPrimary say the same of the attempts
	// before. The heartbeats started for the last attempt's primary keep
	// running into the next attempt, which most likely chooses the same
	// key again (TiDB issue 58279: stopping them let the lock expire).
	assignedPrimary, lastAssignedPrimary bool
	primary, lastPrimary                 []byte
	// started is when this attempt started, lastStarted the last one.
	started, lastStarted time.Time
}

// stageLock is a lock a stage holds.
type stageLock struct {
	// hasValue and hasExistence say what the lock read (ReturnValues,
	// CheckExistence).
	hasValue, hasExistence bool
	value                  LockedValue
	// forUpdateTS is the lock's for_update_ts in TiKV: the one asked, or
	// the conflict's commit ts when it was locked with conflict.
	forUpdateTS uint64
}

// reusable reports whether a lock the last attempt took serves a new
// attempt's LockKeys without an RPC, and shapes its value for it
// (client-go's trySkipLockingOnRetry): it does if it read what the new
// call asks for, or was locked with conflict (which reads the value);
// the conflict is then forgotten, the new attempt running at a for-update
// ts past it.
func (l *stageLock) reusable(returnValues, checkExistence bool) bool {
	if l.value.LockedWithConflictTS != 0 {
		l.value.LockedWithConflictTS = 0
	} else if (returnValues && !l.hasValue) || (checkExistence && !returnValues && !l.hasExistence) {
		return false
	}
	if !returnValues {
		l.hasValue, l.value.Value = false, nil
	}
	if !checkExistence {
		l.hasExistence = false
	}
	return true
}

// StartAggressiveLocking enters aggressive locking (client-go's
// KVTxn.StartAggressiveLocking; see the file's comment): until Done or
// Cancel, a LockKeys of one key locks it in force-lock mode and holds it
// in the current stage, and a LockKeys of several keys first leaves the
// mode as DoneAggressiveLocking does. It fails with
// ErrAggressiveLockingOptimistic in an optimistic transaction, a
// *PipelinedUnsupportedError in a pipelined one, and
// ErrAggressiveLockingStarted (client-go panics) when already started.
func (t *Txn) StartAggressiveLocking() error {
	if err := t.checkActive(); err != nil {
		return err
	}
	switch {
	case t.pl != nil:
		return &PipelinedUnsupportedError{What: "StartAggressiveLocking"}
	case !t.pess.on:
		return ErrAggressiveLockingOptimistic
	case t.fair.stage != nil:
		return ErrAggressiveLockingStarted
	}
	t.fair.stage = &lockStage{current: map[string]stageLock{}, started: time.Now()}
	return nil
}

// RetryAggressiveLocking ends the current attempt of the statement and
// starts the next (client-go's KVTxn.RetryAggressiveLocking): the locks
// the ending attempt took are kept for the next one, which may lock them
// again without an RPC when its primary is unchanged, the lock read what
// the new call asks for, and the last attempt started less than the
// client's ManagedLockTTL ago (the locks may have expired since). The
// locks of the attempt before that the ending one did not take again are
// released, in the background (KvPessimisticRollback on the client's
// Group; ctx does not bound it). It fails with
// ErrAggressiveLockingNotStarted (client-go panics) outside aggressive
// locking.
func (t *Txn) RetryAggressiveLocking(ctx context.Context) error {
	s := t.fair.stage
	if s == nil {
		return ErrAggressiveLockingNotStarted
	}
	t.releaseLastAttempt()
	if s.assignedPrimary {
		// The primary is chosen again by the next attempt; its
		// heartbeats go on meanwhile (lockStage).
		s.assignedPrimary, s.lastAssignedPrimary = false, true
		t.pess.primary = nil
	}
	s.lastPrimary, s.primary = s.primary, nil
	s.lastStarted, s.started = s.started, time.Now()
	s.last, s.current = s.current, map[string]stageLock{}
	return nil
}

// CancelAggressiveLocking leaves aggressive locking and releases every
// lock the stage holds, in the background (client-go's
// KVTxn.CancelAggressiveLocking); locks taken before the stage began stay,
// and so does a primary chosen before it. It fails with
// ErrAggressiveLockingNotStarted (client-go panics) outside aggressive
// locking.
func (t *Txn) CancelAggressiveLocking(ctx context.Context) error {
	s := t.fair.stage
	if s == nil {
		return ErrAggressiveLockingNotStarted
	}
	defer func() { t.fair.stage = nil }()
	t.releaseLastAttempt()
	if s.assignedPrimary || s.lastAssignedPrimary {
		t.unsetPrimary()
	}
	keys := make([][]byte, 0, len(s.current))
	for k := range s.current {
		keys = append(keys, []byte(k))
	}
	t.releaseStageLocks(keys)
	return nil
}

// DoneAggressiveLocking leaves aggressive locking keeping the current
// attempt's locks, as if LockKeys had taken them normally (client-go's
// KVTxn.DoneAggressiveLocking): the keys are flagged locked in the write
// buffer, with the existence their lock read, and their locks'
// for_update_ts are checked at prewrite. The last attempt's locks the
// current one did not take again are released in the background. It fails
// with ErrAggressiveLockingNotStarted (client-go panics) outside
// aggressive locking, and with the write buffer's error if flagging a key
// fails; the mode is left either way.
func (t *Txn) DoneAggressiveLocking(ctx context.Context) error {
	s := t.fair.stage
	if s == nil {
		return ErrAggressiveLockingNotStarted
	}
	defer func() { t.fair.stage = nil }()
	if s.lastAssignedPrimary && !s.assignedPrimary {
		// The primary's heartbeats ran on for an attempt that finally
		// chose no primary.
		t.unsetPrimary()
	}
	t.releaseLastAttempt()
	if t.fair.checks == nil {
		t.fair.checks = make(map[string]uint64, len(s.current))
	}
	var firstErr error
	for k, l := range s.current {
		key := []byte(k)
		// A stage locks exclusively only (share mode is refused in
		// aggressive locking), and says so, as every recorded lock does.
		ops := []membuf.FlagsOp{membuf.SetKeyLocked, membuf.SetKeyLockedInExclusiveMode}
		if l.hasValue || l.hasExistence || l.value.LockedWithConflictTS != 0 {
			if t.pess.existenceRead == nil {
				t.pess.existenceRead = map[string]struct{}{}
			}
			t.pess.existenceRead[k] = struct{}{}
			if l.value.Exists {
				ops = append(ops, membuf.SetKeyLockedValueExists)
			} else {
				ops = append(ops, membuf.SetKeyLockedValueNotExists)
			}
		}
		if err := t.buf.UpdateFlags(key, ops...); err != nil && firstErr == nil {
			firstErr = err
		}
		if _, ok := t.fair.checks[k]; !ok {
			t.fair.checks[k] = l.forUpdateTS
		}
	}
	// The commit's for_update_ts covers the locks taken with conflict: its
	// pessimistic rollback must reach them, and an async commit's or
	// 1PC's commit ts, which TiKV derives from it, must exceed the writes
	// they were locked over.
	t.pess.forUpdateTS = max(t.pess.forUpdateTS, s.maxConflictTS)
	return firstErr
}

// IsInAggressiveLockingMode reports whether the transaction is in
// aggressive locking (StartAggressiveLocking, until Done or Cancel).
func (t *Txn) IsInAggressiveLockingMode() bool { return t.fair.stage != nil }

// IsInAggressiveLockingStage reports whether key was locked by the
// current attempt of the aggressive-locking stage.
func (t *Txn) IsInAggressiveLockingStage(key []byte) bool {
	if t.fair.stage == nil {
		return false
	}
	_, ok := t.fair.stage.current[string(key)]
	return ok
}

// leaveAggressiveLocking ends aggressive locking before Commit or
// Rollback by cancelling the stage, which releases its locks. pending
// reports that the current attempt held locks: the caller forgot Done or
// Cancel (ErrAggressiveLockingPending).
func (t *Txn) leaveAggressiveLocking() (pending bool) {
	s := t.fair.stage
	if s == nil {
		return false
	}
	pending = len(s.current) > 0
	_ = t.CancelAggressiveLocking(context.Background())
	return pending
}

// releaseLastAttempt releases the last attempt's locks the current one
// did not take again.
func (t *Txn) releaseLastAttempt() {
	s := t.fair.stage
	keys := make([][]byte, 0, len(s.last))
	for k := range s.last {
		keys = append(keys, []byte(k))
	}
	s.last = nil
	t.releaseStageLocks(keys)
}

// releaseStageLocks rolls back the stage's locks on keys in the
// background, on the client's Group (which Close waits for), up to the
// largest for_update_ts they may have: a lock taken with conflict sits at
// its conflict's commit ts (client-go's asyncPessimisticRollback with
// max(forUpdateTS, maxLockedWithConflictTS)). A lock the stage takes on
// one of these keys meanwhile has a newer for_update_ts, which the
// rollback leaves alone.
func (t *Txn) releaseStageLocks(keys [][]byte) {
	if len(keys) == 0 {
		return
	}
	t.pess.locked -= len(keys)
	startTS, bound, rc := t.startTS, max(t.pess.forUpdateTS, t.fair.stage.maxConflictTS), t.reqCtx
	// A closed client runs nothing: the locks expire and are rolled back
	// by whoever meets them.
	_ = t.client.group.Go(func(ctx context.Context) error {
		return t.client.committer.PessimisticRollback(ctx, startTS, bound, keys, rc)
	})
}

// stageLocksMayHaveExpired reports whether the last attempt started at
// least ManagedLockTTL ago: its locks may have expired and been rolled
// back by other transactions since (client-go's
// mayAggressiveLockingLastLockedKeysExpire).
func (t *Txn) stageLocksMayHaveExpired() bool {
	ttl := t.client.cfg.commitOpts.ManagedLockTTL
	if ttl <= 0 {
		ttl = twopc.DefaultManagedLockTTL
	}
	return time.Since(t.fair.stage.lastStarted) >= ttl
}

// lockInStage is LockKeys in aggressive locking (client-go's lockKeys with
// an aggressiveLockingContext). Several keys leave the mode first, as
// Done does, and LockKeys goes on normally (done false); one key is
// locked here, in force-lock mode, and held in the stage (done true).
func (t *Txn) lockInStage(ctx context.Context, lc *LockCtx, keys [][]byte) (done bool, err error) {
	if len(keys) > 1 {
		return false, t.DoneAggressiveLocking(ctx)
	}
	if len(keys) == 0 {
		return true, nil
	}
	s := t.fair.stage
	key := keys[0]
	k := string(key)
	reading := lc.ReturnValues || lc.CheckExistence
	if reading && lc.Values == nil {
		lc.Values = make(map[string]LockedValue, 1)
	}
	f, _ := t.buf.GetFlags(key)
	switch cur, inStage := s.current[k]; {
	case f.HasNeedConstraintCheckInPrewrite() && !f.HasLocked():
		return true, nil // InsertLazy: checked at prewrite (LockKeys)
	case f.HasLocked() || inStage:
		// Locked already, before the stage or by this attempt: an
		// Insert of it fails if the lock saw a value.
		exists := f.HasLockedValueExists()
		if inStage {
			exists = cur.value.Exists
		}
		if f.HasPresumeKeyNotExists() && exists {
			return true, &kv.AlreadyExistError{Key: key}
		}
		if reading {
			lc.Values[k] = LockedValue{AlreadyLocked: true, Exists: exists}
		}
		return true, nil
	}

	last, wasLast := s.last[k]
	if wasLast && lc.AtForUpdateTS != 0 && lc.AtForUpdateTS < last.value.LockedWithConflictTS {
		// The lock sits at the conflict's ts already: a retry must read
		// past it.
		return true, fmt.Errorf("txn: lock %q at for update ts %d below its last attempt's conflict ts %d: %w",
			key, lc.AtForUpdateTS, last.value.LockedWithConflictTS, kv.ErrInvalidArgument)
	}
	assigned := t.pess.primary == nil
	if assigned {
		// One key: it is the primary (client-go prefers the last
		// attempt's primary among several keys, which never reach here).
		t.pess.primary = bytes.Clone(key)
		s.assignedPrimary, s.primary = true, t.pess.primary
	}
	if wasLast {
		delete(s.last, k)
		samePrimary := !s.assignedPrimary || bytes.Equal(s.lastPrimary, s.primary)
		if samePrimary && last.reusable(lc.ReturnValues, lc.CheckExistence) && !t.stageLocksMayHaveExpired() {
			if lc.Values != nil {
				lc.Values[k] = last.value
			}
			s.current[k] = last
			return true, nil
		}
	}
	if assigned && !bytes.Equal(s.primary, s.lastPrimary) && t.pess.stopKeepAlive != nil {
		// The heartbeats kept for the last attempt's primary are not
		// this one's.
		t.pess.stopKeepAlive()
		t.pess.stopKeepAlive = nil
	}

	values, err := t.lockKeys(ctx, lc, [][]byte{key})
	if err != nil {
		t.lockFailed(ctx, [][]byte{key}, assigned, err)
		if assigned {
			s.assignedPrimary, s.primary = false, nil
		}
		if wasLast {
			if isLockConflict(err) {
				// lockFailed leaves a key the request did not lock, but
				// the last attempt's lock on it is still there.
				t.releaseStageLocks([][]byte{key})
			} else {
				t.pess.locked--
			}
		}
		return true, err
	}
	v := values[k]
	lv := LockedValue{Value: v.Value, Exists: v.Exists, LockedWithConflictTS: v.LockedWithConflictTS}
	if !lc.ReturnValues && v.LockedWithConflictTS == 0 {
		lv.Value = nil
	}
	if reading || v.LockedWithConflictTS != 0 {
		if lc.Values == nil {
			lc.Values = make(map[string]LockedValue, 1)
		}
		lc.Values[k] = lv
	}
	if lc.LockOnlyIfExists && !v.Exists {
		// TiKV locked nothing for a key without value (nor kept the last
		// attempt's lock: LockOnlyIfExists never skips the check).
		if wasLast {
			t.releaseStageLocks([][]byte{key})
		}
		if assigned {
			t.unsetPrimary()
			s.assignedPrimary, s.primary = false, nil
		}
		return true, nil
	}
	lockTS := lc.ForUpdateTS
	if v.LockedWithConflictTS != 0 {
		lc.MaxLockedWithConflictTS = max(lc.MaxLockedWithConflictTS, v.LockedWithConflictTS)
		s.maxConflictTS = max(s.maxConflictTS, v.LockedWithConflictTS)
		if v.LockedWithConflictTS > lockTS {
			lockTS = v.LockedWithConflictTS
		} else {
			err = &LockedWithConflictTSError{Key: key, LockedWithConflictTS: v.LockedWithConflictTS, ForUpdateTS: lc.ForUpdateTS}
		}
	}
	s.current[k] = stageLock{hasValue: lc.ReturnValues, hasExistence: lc.CheckExistence, value: lv, forUpdateTS: lockTS}
	if !wasLast {
		t.pess.locked++ // a lock of the last attempt was counted then
	}
	return true, err
}
