package txn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/txn/internal/twopc"
	"github.com/tikvgo/tikv/txn/membuf"
)

// WithPessimistic begins a pessimistic transaction (client-go's
// KVTxn.SetPessimistic(true)): LockKeys locks keys in TiKV at once,
// waiting for other transactions' locks, and the commit does not fail on
// write conflicts of the keys it locked.
func WithPessimistic() BeginOption { return func(c *beginConfig) { c.pessimistic = true } }

// maxNoWaitConflictRetries bounds the fresh for-update ts a no-wait
// LockKeys tries after write conflicts: it never waits, so only newer
// writes than each ts stop it, and a hot key may keep getting them.
const maxNoWaitConflictRetries = 16

// pessimisticState is a pessimistic transaction's locking state.
type pessimisticState struct {
	on bool
	// primary is the first key locked; nil until a lock request holding
	// it succeeds.
	primary []byte
	// forUpdateTS is the largest for-update ts a lock was tried at: the
	// commit's for_update_ts, and the bound of its pessimistic rollbacks.
	forUpdateTS uint64
	// locked counts the keys the transaction locked.
	locked int
	// stopKeepAlive stops the primary lock's heartbeats; nil when none
	// run.
	stopKeepAlive func()
	// existenceRead holds the keys whose lock read their existence
	// (ReturnValues, CheckExistence): their KeyLockedValueExists flag is
	// known, and checks the assertions of their writes (D9).
	existenceRead map[string]struct{}
}

// IsPessimistic reports whether the transaction is pessimistic
// (WithPessimistic).
func (t *Txn) IsPessimistic() bool { return t.pess.on }

// LockKeys locks keys for the transaction. In a pessimistic transaction
// (WithPessimistic) it locks them in TiKV now, at a fresh for-update ts
// from the TSO, the first key locked becoming the primary, whose lock is
// then kept alive by heartbeats until the transaction ends (Commit,
// Rollback) or the client closes (client-go's KVTxn.LockKeys). Keys the transaction already locked are skipped, and so
// are keys InsertLazy wrote (their check waits for prewrite). A lock
// request that meets a newer write is tried again at a fresh for-update ts
// (values read at the start ts may then be stale: ask for ReturnValues).
// lc, which may be nil, sets how long to wait for other transactions'
// locks and what to read; LockKeys fails with:
//   - *kv.LockWaitError: a no-wait call met a live lock
//     (kv.ErrLockAcquireFailAndNoWait), or the wait time passed
//     (kv.ErrLockWaitTimeout);
//   - *kv.DeadlockError (kv.ErrTxnRetryable): waiting would close a
//     cycle of waiting transactions, of which this one is the victim; its
//     wait chain lists the cycle;
//   - *kv.AlreadyExistError: a key Insert presumed absent exists;
//   - ErrLockOnlyIfExistsNoReturnValue, ErrLockOnlyIfExistsNoPrimaryKey;
//   - ErrSharedLockOptimistic, ErrSharedLockNoPrimary, ErrSharedLockUpgrade
//     (LockCtx.InShareMode, shared_lock.go);
//   - ctx's error.
//
// A failed call rolls back the locks it took (KvPessimisticRollback); the
// transaction stays usable. In aggressive locking (StartAggressiveLocking)
// a call of one key locks it in force-lock mode and holds it in the
// current stage, and a call of several keys first leaves the mode as
// DoneAggressiveLocking does. In an optimistic transaction LockKeys sends
// nothing: the keys are locked at commit (Op_Lock), which fails with a
// write conflict if another transaction wrote one after this one began.
func (t *Txn) LockKeys(ctx context.Context, lc *LockCtx, keys ...[]byte) error {
	if t.pl != nil {
		return &PipelinedUnsupportedError{What: "LockKeys"}
	}
	for _, k := range keys {
		if err := t.checkWrite(k); err != nil {
			return err
		}
	}
	if err := t.checkLockMode(lc, keys); err != nil {
		return err
	}
	if !t.pess.on {
		for _, k := range keys {
			if err := t.buf.UpdateFlags(k, membuf.SetKeyLocked); err != nil {
				return err
			}
		}
		return nil
	}
	if lc == nil {
		lc = &LockCtx{}
	}
	if lc.LockOnlyIfExists && !lc.ReturnValues {
		return ErrLockOnlyIfExistsNoReturnValue
	}
	if lc.AtForUpdateTS != 0 && lc.AtForUpdateTS < t.startTS {
		return fmt.Errorf("txn: lock at for update ts %d below start ts %d: %w", lc.AtForUpdateTS, t.startTS, kv.ErrInvalidArgument)
	}
	if t.fair.stage != nil {
		if done, err := t.lockInStage(ctx, lc, keys); done || err != nil {
			return err
		}
	}
	reading := lc.ReturnValues || lc.CheckExistence
	if reading && lc.Values == nil {
		lc.Values = make(map[string]LockedValue, len(keys))
	}
	todo := make([][]byte, 0, len(keys))
	for _, k := range keys {
		if f, ok := t.buf.GetFlags(k); ok && f.HasNeedConstraintCheckInPrewrite() && !f.HasLocked() {
			// InsertLazy postponed this key's check to prewrite, which
			// sends it with DO_CONSTRAINT_CHECK: a pessimistic lock would
			// turn that into DO_PESSIMISTIC_CHECK, which skips it.
			continue
		}
		if f, ok := t.buf.GetFlags(k); ok && f.HasLocked() {
			if reading {
				lc.Values[string(k)] = LockedValue{AlreadyLocked: true, Exists: f.HasLockedValueExists()}
			}
			continue
		}
		todo = append(todo, k)
	}
	slices.SortFunc(todo, bytes.Compare)
	todo = slices.CompactFunc(todo, bytes.Equal)
	if len(todo) == 0 {
		return nil
	}
	if lc.InShareMode && t.pess.primary == nil {
		return ErrSharedLockNoPrimary
	}
	if lc.LockOnlyIfExists && t.pess.primary == nil && len(todo) > 1 {
		return ErrLockOnlyIfExistsNoPrimaryKey
	}
	newPrimary := t.pess.primary == nil
	if newPrimary {
		t.pess.primary = todo[0]
	}
	values, err := t.lockKeys(ctx, lc, todo)
	if err != nil {
		t.lockFailed(ctx, todo, newPrimary, err)
		return err
	}
	for _, k := range todo {
		v, read := values[string(k)]
		if reading {
			lc.Values[string(k)] = LockedValue{Value: v.Value, Exists: v.Exists}
		}
		if lc.LockOnlyIfExists && !v.Exists {
			// TiKV locked nothing for a key without value.
			if newPrimary && bytes.Equal(k, t.pess.primary) {
				t.unsetPrimary()
			}
			continue
		}
		ops := []membuf.FlagsOp{membuf.SetKeyLocked, lockModeOp(lc)}
		if read {
			if t.pess.existenceRead == nil {
				t.pess.existenceRead = map[string]struct{}{}
			}
			t.pess.existenceRead[string(k)] = struct{}{}
			if v.Exists {
				ops = append(ops, membuf.SetKeyLockedValueExists)
			} else {
				ops = append(ops, membuf.SetKeyLockedValueNotExists)
			}
		}
		if err := t.buf.UpdateFlags(k, ops...); err != nil {
			return err
		}
		t.pess.locked++
	}
	return nil
}

// lockKeys locks keys at fresh for-update ts until no write conflict
// stops it, within lc's wait.
func (t *Txn) lockKeys(ctx context.Context, lc *LockCtx, keys [][]byte) (map[string]twopc.LockedValue, error) {
	notExist := make([]bool, len(keys))
	for i, k := range keys {
		f, _ := t.buf.GetFlags(k)
		notExist[i] = f.HasPresumeKeyNotExists()
	}
	rc := t.reqCtx
	if lc.ResourceGroupTag != nil {
		rc.ResourceGroupTag = lc.ResourceGroupTag
	}
	waitStart := time.Now()
	var stats *twopc.LockStats
	if d := lc.Details; d != nil {
		stats = &twopc.LockStats{}
		defer func() { d.add(stats, time.Since(waitStart)) }()
	}
	for attempt := 1; ; attempt++ {
		if attempt > 1 && lc.Details != nil {
			lc.Details.Retries++
		}
		forUpdateTS := lc.AtForUpdateTS
		if forUpdateTS == 0 {
			var err error
			if forUpdateTS, err = t.client.oracle.Now(ctx); err != nil {
				return nil, fmt.Errorf("txn: for update ts: %w", err)
			}
		}
		t.pess.forUpdateTS = max(t.pess.forUpdateTS, forUpdateTS)
		lc.ForUpdateTS = forUpdateTS
		values, err := t.client.committer.PessimisticLock(ctx, twopc.LockRequest{
			StartTS: t.startTS, ForUpdateTS: forUpdateTS, Primary: t.pess.primary,
			Keys: keys, NotExist: notExist, IsFirstLock: t.pess.locked == 0 && len(keys) == 1,
			Wait: lc.Wait, WaitStart: waitStart, Deadline: lc.MaxExecutionDeadline, Began: t.began, Shared: lc.InShareMode,
			ReturnValues: lc.ReturnValues, CheckExistence: lc.CheckExistence, LockOnlyIfExists: lc.LockOnlyIfExists,
			Context: rc, PrimaryLocked: t.keepPrimaryAlive,
			// Aggressive locking locks one key at a time in force-lock
			// mode (aggressive_locking.go).
			ForceLock: t.fair.stage != nil && len(keys) == 1,
			Stats:     stats,
		})
		if err == nil && lc.Details != nil {
			lc.Details.Keys += len(keys)
		}
		var conflict *kv.WriteConflictError
		if err == nil || !errors.As(err, &conflict) || ctx.Err() != nil || lc.AtForUpdateTS != 0 {
			return values, err
		}
		// A newer write, or the release of a lock waited for (TiKV's
		// legacy wake-up answers a conflict): lock again at a newer ts,
		// as TiDB re-runs a statement that met one.
		switch {
		case lc.Wait < 0 && attempt >= maxNoWaitConflictRetries:
			return nil, err
		case !lc.MaxExecutionDeadline.IsZero() && time.Now().After(lc.MaxExecutionDeadline):
			return nil, &kv.QueryInterruptedError{Signal: kv.MaxExecTimeExceededSignal}
		case lc.Wait > 0 && time.Since(waitStart) >= lc.Wait:
			return nil, &kv.LockWaitError{Waited: time.Since(waitStart)}
		}
	}
}

// keepPrimaryAlive starts the primary lock's heartbeats, once.
func (t *Txn) keepPrimaryAlive() {
	if t.pess.stopKeepAlive != nil {
		return
	}
	stop := t.client.committer.KeepAlive(context.Background(), t.startTS, t.pess.primary, t.reqCtx)
	t.pess.stopKeepAlive = t.client.keepAlives.add(stop)
}

// unsetPrimary forgets a primary whose lock is not held, and its
// heartbeats.
func (t *Txn) unsetPrimary() {
	t.pess.primary = nil
	if t.pess.stopKeepAlive != nil {
		t.pess.stopKeepAlive()
		t.pess.stopKeepAlive = nil
	}
}

// lockFailed rolls back the locks a failed LockKeys may have taken, at
// once and whatever ctx's state (client-go rolls them back
// asynchronously; waiting lets a deadlock's other party proceed before
// the caller retries), and forgets the primary it chose.
func (t *Txn) lockFailed(ctx context.Context, keys [][]byte, newPrimary bool, err error) {
	if newPrimary {
		t.unsetPrimary()
	}
	if len(keys) == 1 && isLockConflict(err) {
		return // the only key was not locked
	}
	if t.keepPessimisticLocks {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	if rerr := t.client.committer.PessimisticRollback(rctx, t.startTS, t.pess.forUpdateTS, keys, t.reqCtx); rerr != nil {
		t.client.noteBackgroundError(rerr)
	}
}

// rollbackTimeout bounds a pessimistic rollback run on behalf of a caller
// whose ctx may have ended.
const rollbackTimeout = 10 * time.Second

// rollbackPessimistic ends a pessimistic transaction that will not commit:
// its heartbeats stop, and its locks are rolled back on the client's Group
// (client-go's asyncPessimisticRollback), which Close waits for.
func (t *Txn) rollbackPessimistic() {
	if !t.pess.on {
		return
	}
	t.unsetPrimary()
	if t.pess.locked == 0 || t.keepPessimisticLocks {
		return
	}
	var keys [][]byte
	for e, err := range t.buf.Entries(nil, nil) {
		if err == nil && e.Flags.HasLocked() {
			keys = append(keys, e.Key)
		}
	}
	startTS, forUpdateTS, rc := t.startTS, t.pess.forUpdateTS, t.reqCtx
	_ = t.client.group.Go(func(ctx context.Context) error {
		return t.client.committer.PessimisticRollback(ctx, startTS, forUpdateTS, keys, rc)
	})
}

// keepAliveSet holds the stop functions of the client's pessimistic
// transactions' heartbeats, so that Close stops those a caller left
// running.
type keepAliveSet struct {
	mu     sync.Mutex
	next   int
	stops  map[int]func()
	closed bool
}

// add registers stop and returns the function that stops it and forgets
// it; once the set is closed, stop runs at once.
func (s *keepAliveSet) add(stop func()) func() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		stop()
		return func() {}
	}
	if s.stops == nil {
		s.stops = map[int]func(){}
	}
	id := s.next
	s.next++
	s.stops[id] = stop
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.stops, id)
		s.mu.Unlock()
		stop()
	}
}

// closeAll stops every heartbeat still running.
func (s *keepAliveSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	stops := s.stops
	s.stops = nil
	s.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
}

// pessimisticCommit makes req the commit of a pessimistic transaction:
// its for_update_ts (the largest it locked at) and its primary, the first
// key it locked, whose lock the commit turns into the prewrite lock.
func (t *Txn) pessimisticCommit(req *twopc.Request) {
	if !t.pess.on || t.pess.forUpdateTS == 0 {
		return
	}
	req.ForUpdateTS = t.pess.forUpdateTS
	if t.pess.primary != nil {
		req.Primary = t.pess.primary
	}
	req.StashedError = t.checkAssertionsByLocks(req.Mutations)
}

// checkAssertionsByLocks compares the existence assertions of the
// mutations of locked keys with what their locks read (client-go's
// checkAssertionByPessimisticLockResults): an assertion the read
// contradicts is a *kv.AssertionFailedError, stashed until the prewrite
// succeeds, since a lost lock could make the read stale (and then the
// prewrite fails, for that reason). Keys whose lock read nothing are not
// checked; nor is anything at assertion level Off.
func (t *Txn) checkAssertionsByLocks(muts []twopc.Mutation) error {
	if t.assertion == kvrpcpb.AssertionLevel_Off || len(t.pess.existenceRead) == 0 {
		return nil
	}
	for _, m := range muts {
		if !m.Pessimistic || m.Assertion == kvrpcpb.Assertion_None {
			continue
		}
		if _, ok := t.pess.existenceRead[string(m.Key)]; !ok {
			continue
		}
		f, _ := t.buf.GetFlags(m.Key)
		if f.HasLockedValueExists() != (m.Assertion == kvrpcpb.Assertion_Exist) {
			return &kv.AssertionFailedError{StartTS: t.startTS, Key: m.Key, Assertion: m.Assertion}
		}
	}
	return nil
}
