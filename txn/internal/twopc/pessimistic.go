package twopc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/internal/keyhash"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
)

// LockNoWait, as LockRequest.Wait, fails a lock request at once with a
// *kv.LockWaitError (kv.ErrLockAcquireFailAndNoWait) when another
// transaction's live lock is in the way (client-go's kv.LockNoWait).
const LockNoWait time.Duration = -1

// skipResolveWithin is client-go's skipResolveThresholdMs: a lock TiKV saw
// change less than this long ago belongs to a live, busy transaction
// (its holder is being replaced on a hot key), so a timed-out wait on it
// is sent again rather than handed to the resolver.
const skipResolveWithin = 300 * time.Millisecond

// LockRequest is one LockKeys call of a pessimistic transaction: keys to
// lock at ForUpdateTS (client-go's actionPessimisticLock).
type LockRequest struct {
	StartTS, ForUpdateTS uint64
	// Primary is the transaction's primary key; when it is among Keys it is
	// locked first, alone, before any other key (client-go locks the
	// primary's batch first), so that no secondary is ever locked while
	// its primary is not.
	Primary []byte
	// Keys are the keys to lock, sorted and without duplicates.
	Keys [][]byte
	// NotExist lists, by index into Keys, keys that must not exist (TiKV
	// then answers *kv.AlreadyExistError): the lock mutation asserts
	// NotExist (TiKV's acquire_pessimistic_lock should_not_exist).
	NotExist []bool
	// IsFirstLock tells TiKV not to run deadlock detection: the
	// transaction holds no other lock, so it cannot close a cycle.
	IsFirstLock bool
	// Wait bounds how long the request waits for other transactions'
	// locks, from WaitStart: LockNoWait, a positive duration, or zero to
	// wait as long as ctx lasts.
	Wait      time.Duration
	WaitStart time.Time
	// Deadline, when set, is the statement's max execution deadline
	// (client-go's LockCtx.MaxExecutionDeadline): the request waits for
	// locks no later than it, and fails with a *kv.QueryInterruptedError
	// (kv.MaxExecTimeExceededSignal) once it has passed, before a send
	// and whenever it meets a live lock.
	Deadline time.Time
	// Stats, when set, receives what the request cost: RPCs, their time,
	// regions, lock resolution (client-go's LockKeysDetails).
	Stats *LockStats
	// Began is when the transaction began: the lock TTL is its age plus
	// Options.ManagedLockTTL (client-go's handleSingleBatch).
	Began time.Time
	// Shared locks the keys in share mode (Op_SharedPessimisticLock):
	// other transactions' shared locks do not block them, exclusive ones
	// do, and the Primary must be another key, already locked
	// exclusively (shared_lock.go).
	Shared bool
	// ReturnValues, CheckExistence and LockOnlyIfExists are TiKV's request
	// flags of the same names.
	ReturnValues, CheckExistence, LockOnlyIfExists bool
	// ForceLock sends the request in TiKV's force-lock wake-up mode
	// (WakeUpModeForceLock, pessimistic_force.go): a newer write than
	// ForUpdateTS does not fail the key but locks it at that write's
	// commit ts (LockedValue.LockedWithConflictTS), and a waiter woken by
	// the release of the lock it waited for takes the lock at once
	// instead of answering a write conflict. TiKV allows it for one key
	// only: Keys must hold exactly one (kv.ErrInvalidArgument otherwise).
	ForceLock bool
	// PrimaryLocked, when set, is called once the primary is locked
	// (before the other keys are), to start its heartbeats.
	PrimaryLocked func()
	// Context is the request context; ResourceGroupTag, when set, tags
	// the request (it shows in TiKV's deadlock wait chains).
	Context RequestContext
}

// LockedValue is what TiKV read for a locked key when asked to
// (ReturnValues, CheckExistence).
type LockedValue struct {
	Value  []byte
	Exists bool
	// LockedWithConflictTS, for a ForceLock request, is the commit ts of
	// the newer write the key was locked over (the lock's for_update_ts
	// in TiKV); zero when there was none. Value and Exists are then read
	// at that ts, whatever the request asked.
	LockedWithConflictTS uint64
}

type lockReq struct {
	pb  *kvrpcpb.PessimisticLockRequest
	req *LockRequest
}

// PessimisticLock locks req.Keys for the transaction, the primary first;
// with ReturnValues or CheckExistence it returns what TiKV read for each
// key, keyed by string(key). It fails with:
//   - *kv.LockWaitError when the wait ended on another transaction's live
//     lock (no wait, or the wait time passed);
//   - *kv.DeadlockError when waiting would close a cycle;
//   - *kv.WriteConflictError when a newer write than ForUpdateTS exists,
//     or a lock waited for was released (TiKV's legacy wake-up answers a
//     conflict): the caller may lock again at a fresh ForUpdateTS;
//   - *kv.AlreadyExistError for a NotExist key that exists;
//   - kv.ErrProtocol for a ForceLock answer without a usable result;
//   - ctx's error.
//
// Keys it locked before failing stay locked: the caller rolls them back
// (PessimisticRollback).
func (c *Committer) PessimisticLock(ctx context.Context, req LockRequest) (map[string]LockedValue, error) {
	if req.StartTS == 0 || req.ForUpdateTS < req.StartTS {
		return nil, fmt.Errorf("twopc: pessimistic lock: start ts %d, for update ts %d: %w", req.StartTS, req.ForUpdateTS, kv.ErrInvalidArgument)
	}
	if req.ForceLock && len(req.Keys) != 1 {
		return nil, fmt.Errorf("twopc: force-lock request of %d keys, TiKV takes exactly one: %w", len(req.Keys), kv.ErrInvalidArgument)
	}
	if req.WaitStart.IsZero() {
		req.WaitStart = time.Now()
	}
	rest := req.Keys
	var first [][]byte
	if i, ok := slices.BinarySearchFunc(req.Keys, req.Primary, bytes.Compare); ok && len(req.Keys) > 1 {
		first = req.Keys[i : i+1]
		rest = slices.Delete(slices.Clone(req.Keys), i, i+1)
	}
	values := map[string]LockedValue{}
	for _, keys := range [][][]byte{first, rest} {
		if len(keys) == 0 {
			continue
		}
		parts, err := c.pessimisticLock(ctx, c.lockRequest(&req, keys))
		if req.Stats != nil {
			req.Stats.Regions.Add(int64(len(parts)))
		}
		if err != nil {
			return nil, err
		}
		if req.PrimaryLocked != nil && req.Primary != nil {
			if _, ok := slices.BinarySearchFunc(keys, req.Primary, bytes.Compare); ok {
				req.PrimaryLocked()
			}
		}
		if req.ForceLock {
			for _, p := range parts {
				if err := fillResults(values, p.Req.pb, p.Resp); err != nil {
					return nil, err
				}
			}
			continue
		}
		if !req.ReturnValues && !req.CheckExistence {
			continue
		}
		for _, p := range parts {
			fillValues(values, p.Req.pb, p.Resp, req.ReturnValues)
		}
	}
	return values, nil
}

// fillValues records the values and existence one answer reports, aligned
// with its mutations (TiKV's future_acquire_pessimistic_lock, normal mode).
func fillValues(into map[string]LockedValue, pb *kvrpcpb.PessimisticLockRequest, resp *kvrpcpb.PessimisticLockResponse, withValues bool) {
	for i, m := range pb.Mutations {
		var v LockedValue
		if i < len(resp.NotFounds) {
			v.Exists = !resp.NotFounds[i]
		}
		if withValues && i < len(resp.Values) {
			v.Value = resp.Values[i]
			if len(resp.NotFounds) == 0 {
				v.Exists = len(v.Value) > 0
			}
		}
		into[string(m.Key)] = v
	}
}

func (c *Committer) lockRequest(req *LockRequest, keys [][]byte) *lockReq {
	muts := make([]*kvrpcpb.Mutation, len(keys))
	for i, k := range keys {
		muts[i] = &kvrpcpb.Mutation{Op: lockOp(req.Shared), Key: k}
		if j, ok := slices.BinarySearchFunc(req.Keys, k, bytes.Compare); ok && j < len(req.NotExist) && req.NotExist[j] {
			muts[i].Assertion = kvrpcpb.Assertion_NotExist
		}
	}
	rc := req.Context.over(c.opts.Context)
	return &lockReq{req: req, pb: &kvrpcpb.PessimisticLockRequest{
		Context:          rc.writeContext(),
		Mutations:        muts,
		PrimaryLock:      req.Primary,
		StartVersion:     req.StartTS,
		ForUpdateTs:      req.ForUpdateTS,
		IsFirstLock:      req.IsFirstLock,
		ReturnValues:     req.ReturnValues,
		CheckExistence:   req.CheckExistence,
		LockOnlyIfExists: req.LockOnlyIfExists,
		WakeUpMode:       wakeUpMode(req.ForceLock),
		// client-go's actionPessimisticLock: a lock taken at for_update_ts
		// is never committed at or below it.
		MinCommitTs: req.ForUpdateTS + 1,
	}}
}

// waitTimeout is the wait_timeout of the next send (client-go's
// calculateEffectiveWaitTime): what is left of the wait, capped by ctx's
// deadline, in ms; -1 (no wait) once nothing is left. TiKV caps any wait
// at its wait-for-lock-timeout (1 s), so a long wait is a loop of sends.
func (r *LockRequest) waitTimeout(ctx context.Context, now time.Time) int64 {
	if r.Wait < 0 {
		return -1
	}
	left := time.Duration(math.MaxInt64)
	if r.Wait > 0 {
		left = r.Wait - now.Sub(r.WaitStart)
	}
	if dl, ok := ctx.Deadline(); ok {
		left = min(left, dl.Sub(now))
	}
	if !r.Deadline.IsZero() {
		left = min(left, r.Deadline.Sub(now))
	}
	if left <= 0 {
		return -1
	}
	return max(left.Milliseconds(), 1)
}

// pastDeadline returns the error of a request whose max execution
// deadline has passed at now, nil otherwise.
func (r *LockRequest) pastDeadline(now time.Time) error {
	if !r.Deadline.IsZero() && now.After(r.Deadline) {
		return &kv.QueryInterruptedError{Signal: kv.MaxExecTimeExceededSignal}
	}
	return nil
}

// lockStep sends one region's lock request until it locks its keys or
// fails for good (client-go's handlePessimisticLockResponseNormalMode):
// TiKV waits for a lock server-side at most wait_timeout and then answers
// the lock; the step hands it to the resolver (caller ts 0, so that a
// lock holder's min commit ts is never pushed for a writer), and, while it
// is alive, fails at once for a no-wait request, fails once the wait time
// has passed, or sends again.
func (c *Committer) lockStep(send pipeline.Step[*kvrpcpb.PessimisticLockRequest, *kvrpcpb.PessimisticLockResponse]) pipeline.Step[*lockReq, *kvrpcpb.PessimisticLockResponse] {
	return func(ctx context.Context, r *pdclient.Region, lr *lockReq) (*kvrpcpb.PessimisticLockResponse, error) {
		req := lr.req
		for {
			now := time.Now()
			if err := req.pastDeadline(now); err != nil {
				return nil, err
			}
			lr.pb.WaitTimeout = req.waitTimeout(ctx, now)
			lr.pb.LockTtl = uint64((max(now.Sub(req.Began), 0) + c.opts.ManagedLockTTL) / time.Millisecond)
			sent := time.Now()
			resp, err := send(ctx, r, lr.pb)
			if st := req.Stats; st != nil {
				st.RPCs.Add(1)
				st.RPCTime.Add(int64(time.Since(sent)))
			}
			var dl *kv.DeadlockError
			if errors.As(err, &dl) {
				dl.IsRetryable = hashInKeys(dl.DeadlockKeyHash, req.Keys)
			}
			var locked *kv.LockedError
			if err == nil || !errors.As(err, &locked) {
				return resp, err
			}
			var resolve []*kv.Lock
			blocked := false
			for _, l := range locked.Locks {
				if l.SinceLastUpdate > 0 && l.SinceLastUpdate < skipResolveWithin {
					blocked = true
					continue
				}
				resolve = append(resolve, l)
			}
			if len(resolve) > 0 {
				resolveStart := time.Now()
				res, err := c.lockResolver.ResolveLocks(ctx, 0, resolve)
				if st := req.Stats; st != nil {
					st.ResolveTime.Add(int64(time.Since(resolveStart)))
				}
				if err != nil {
					return resp, err
				}
				blocked = blocked || res.Live > 0
			}
			if err := ctx.Err(); err != nil {
				return resp, context.Cause(ctx)
			}
			if !blocked {
				continue // the locks were resolved: lock again at once
			}
			if err := req.pastDeadline(time.Now()); err != nil {
				return resp, err
			}
			waited := time.Since(req.WaitStart)
			switch {
			case req.Wait < 0:
				return resp, &kv.LockWaitError{NoWait: true, Lock: locked.Locks[0]}
			case req.Wait > 0 && waited >= req.Wait:
				return resp, &kv.LockWaitError{Waited: waited, Lock: locked.Locks[0]}
			}
		}
	}
}

// hashInKeys reports whether one of keys has TiKV's deadlock-detector
// hash h (client-go's hashInKeys).
func hashInKeys(h uint64, keys [][]byte) bool {
	for _, k := range keys {
		if keyhash.Fingerprint64(k) == h {
			return true
		}
	}
	return false
}

// PessimisticRollback removes the transaction's pessimistic locks on keys
// whose for_update_ts is at most forUpdateTS (TiKV's
// pessimistic_rollback.rs leaves other locks, and missing ones, alone),
// every region to its end. It returns the first region's failure; locks
// left behind expire and are rolled back by whoever meets them.
func (c *Committer) PessimisticRollback(ctx context.Context, startTS, forUpdateTS uint64, keys [][]byte, rc RequestContext) error {
	if len(keys) == 0 {
		return nil
	}
	req := &kvrpcpb.PessimisticRollbackRequest{
		Context: rc.over(c.opts.Context).rollbackContext(), StartVersion: startTS, ForUpdateTs: forUpdateTS, Keys: keys,
	}
	outs, _ := c.pessimisticRollback(ctx, req)
	return piecesFailed("pessimistic rollback", startTS, outs)
}

// KeepAlive starts the heartbeats of a pessimistic transaction's primary
// lock, from the moment it is locked until stop is called (client-go
// starts its ttlManager once the primary is locked; the commit's own
// heartbeats may run alongside). The goroutine also stops on the
// transaction's MaxTxnTTL, on a key error (the lock is gone) and when ctx
// ends; stop waits for it.
func (c *Committer) KeepAlive(ctx context.Context, startTS uint64, primary []byte, rc RequestContext) (stop func()) {
	t := &txn{committer: c, startTS: startTS, primary: primary, rpcs: &rpcCounter{}, ctx: ctx}
	t.writeCtx = rc.over(c.opts.Context).writeContext()
	t.startHeartbeat()
	return t.stopHeartbeat
}

func (c *Committer) buildPessimistic() {
	split := pipeline.ByKeys(
		func(r *lockReq) []*kvrpcpb.Mutation { return r.pb.Mutations },
		(*kvrpcpb.Mutation).GetKey,
		func(r *lockReq, ms []*kvrpcpb.Mutation) *lockReq {
			pb := *r.pb
			pb.Mutations = ms
			return &lockReq{pb: &pb, req: r.req}
		},
		pipeline.Limit[*kvrpcpb.Mutation]{Bytes: c.opts.BatchSize, Size: func(m *kvrpcpb.Mutation) int { return len(m.Key) }})
	c.pessimisticLock = pipeline.Shard(c.env, split, c.lockStep(pipeline.Retry(c.env, plans.KvPessimisticLock)), pipeline.Named("PessimisticLock"))
	c.pessimisticRollback = pipeline.ShardEach(c.env, keysSplit[*kvrpcpb.PessimisticRollbackRequest](
		func(r *kvrpcpb.PessimisticRollbackRequest) [][]byte { return r.Keys },
		func(r *kvrpcpb.PessimisticRollbackRequest, keys [][]byte) *kvrpcpb.PessimisticRollbackRequest {
			c := *r
			c.Keys = keys
			return &c
		}, c.opts.BatchSize), pipeline.Retry(c.env, plans.KvPessimisticRollback), pipeline.Named("PessimisticRollback"))
}

// LockStats is what a pessimistic lock request cost (client-go's
// LockKeysDetails, the part the committer sees); safe for concurrent use,
// as a request's regions are locked in parallel.
type LockStats struct {
	// RPCs and RPCTime count the KvPessimisticLock attempts sent and the
	// time spent in them (nanoseconds), waits in TiKV included.
	RPCs, RPCTime atomic.Int64
	// Regions counts the region pieces the request was split into.
	Regions atomic.Int64
	// ResolveTime is the time spent resolving the locks met (nanoseconds).
	ResolveTime atomic.Int64
}
