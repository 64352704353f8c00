package txn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// PipelinedRequestSource is the request source of a pipelined
// transaction's flushes, commit and lock resolution when the transaction
// names none (client-go's transaction.PipelinedRequestSource).
const PipelinedRequestSource = "external_pdml"

// pipelinedMaxHeartbeatFailures is how many heartbeats in a row may fail
// before the heartbeat gives up (client-go's maxConsecutiveFailure).
const pipelinedMaxHeartbeatFailures = 10

// pipelinedMaxCommitTSRetries bounds the fresh commit ts tried after TiKV
// refused one (CommitTsExpired: a reader pushed the primary's
// min_commit_ts), as the 2PC committer does.
const pipelinedMaxCommitTSRetries = 16

// pipelinedPlans are the plans of one pipelined transaction, on env
// copies whose concurrency is the transaction's.
type pipelinedPlans struct {
	flush     pipeline.Plan[*kvrpcpb.FlushRequest, []pipeline.Part[*kvrpcpb.FlushRequest, *kvrpcpb.FlushResponse]]
	bufferGet pipeline.Plan[*kvrpcpb.BufferBatchGetRequest, []*kvrpcpb.KvPair]
	heartbeat pipeline.Plan[*kvrpcpb.TxnHeartBeatRequest, *kvrpcpb.TxnHeartBeatResponse]
	commit    pipeline.Plan[*kvrpcpb.CommitRequest, *kvrpcpb.CommitResponse]
	resolve   pipeline.Plan[*kvrpcpb.ResolveLockRequest, []pipeline.PieceOutcome[*kvrpcpb.ResolveLockRequest, *kvrpcpb.ResolveLockResponse]]
	broadcast pipeline.Plan[*kvrpcpb.BroadcastTxnStatusRequest, []pipeline.StoreResult[*kvrpcpb.BroadcastTxnStatusResponse]]
}

func newPipelinedPlans(c *Client, o PipelinedOptions) *pipelinedPlans {
	flushEnv, resolveEnv := *c.env, *c.env
	flushEnv.Concurrency, resolveEnv.Concurrency = o.FlushConcurrency, o.ResolveConcurrency
	// Flush: Shard -> ResolveLocks -> flushStep -> Retry, the prewrite's
	// shape (client-go's actionPipelinedFlush resolves the locks it meets
	// and sends the batch again).
	step := pipeline.ResolveLocks(&flushEnv, c.resolver, func(r *kvrpcpb.FlushRequest) uint64 { return r.StartTs }, nil,
		flushStep(pipeline.Retry(&flushEnv, plans.KvFlush)))
	ps := &pipelinedPlans{}
	ps.flush = pipeline.Shard(&flushEnv, pipeline.ByKeys(
		(*kvrpcpb.FlushRequest).GetMutations,
		(*kvrpcpb.Mutation).GetKey,
		func(r *kvrpcpb.FlushRequest, ms []*kvrpcpb.Mutation) *kvrpcpb.FlushRequest {
			pb := *r
			pb.Mutations = ms
			return &pb
		},
		pipeline.Limit[*kvrpcpb.Mutation]{Bytes: o.BatchSize, Size: func(m *kvrpcpb.Mutation) int { return len(m.Key) + len(m.Value) }}),
		step, pipeline.Named("Flush"))
	ps.bufferGet = pipeline.Collect(pipeline.Shard(c.env, pipeline.ByKeys(
		func(r *kvrpcpb.BufferBatchGetRequest) [][]byte { return r.Keys },
		func(k []byte) []byte { return k },
		func(r *kvrpcpb.BufferBatchGetRequest, ks [][]byte) *kvrpcpb.BufferBatchGetRequest {
			cp := *r
			cp.Keys = ks
			return &cp
		}, pipeline.Limit[[]byte]{}),
		pipeline.Retry(c.env, plans.KvBufferBatchGet), pipeline.Named("BufferBatchGet")),
		(*kvrpcpb.BufferBatchGetResponse).GetPairs)
	hb := plans.KvTxnHeartBeat
	keyErr := hb.Err
	hb.Err = func(r *kvrpcpb.TxnHeartBeatResponse) error {
		if err := keyErr(r); err != nil {
			return &pipelinedHeartbeatKeyError{err}
		}
		return nil
	}
	ps.heartbeat = pipeline.Single(pipeline.ShardByKey(c.env,
		func(r *kvrpcpb.TxnHeartBeatRequest) []byte { return r.PrimaryLock },
		pipeline.Retry(c.env, hb), pipeline.Named("TxnHeartBeat")))
	ps.commit = pipeline.Single(pipeline.ShardByKey(c.env,
		func(r *kvrpcpb.CommitRequest) []byte { return r.PrimaryKey },
		pipeline.Retry(c.env, plans.KvCommit), pipeline.Named("Commit")))
	// Resolution of the transaction's key range: one ResolveLock without
	// keys per region (TiKV resolves the transaction's locks in the whole
	// region), every region to its end whatever the others do.
	ps.resolve = pipeline.ShardEach(&resolveEnv, pipeline.ByRange(
		func(r *kvrpcpb.ResolveLockRequest) ([]byte, []byte) { return r.Keys[0], r.Keys[1] },
		func(r *kvrpcpb.ResolveLockRequest, _, _ []byte) *kvrpcpb.ResolveLockRequest {
			cp := *r
			cp.Keys = nil
			return &cp
		}), pipeline.Retry(&resolveEnv, plans.KvResolveLock), pipeline.Named("ResolveFlushedLocks"))
	ps.broadcast = newBroadcastPlan(c)
	return ps
}

// flushStep judges the locks a flush meets before they are resolved: an
// optimistic transaction that meets a newer transaction's lock will meet
// its write too, so it fails at once with a write conflict (client-go's
// actionPipelinedFlush: lock.TxnID > startTS).
func flushStep(send pipeline.Step[*kvrpcpb.FlushRequest, *kvrpcpb.FlushResponse]) pipeline.Step[*kvrpcpb.FlushRequest, *kvrpcpb.FlushResponse] {
	return func(ctx context.Context, r *pdclient.Region, req *kvrpcpb.FlushRequest) (*kvrpcpb.FlushResponse, error) {
		resp, err := send(ctx, r, req)
		var locked *kv.LockedError
		if err == nil || !errors.As(err, &locked) {
			return resp, err
		}
		for _, l := range locked.Locks {
			if l.StartTS > req.StartTs {
				return resp, &kv.WriteConflictError{StartTS: req.StartTs, ConflictStartTS: l.StartTS,
					Key: l.Key, Primary: l.Primary, Reason: kvrpcpb.WriteConflict_Optimistic}
			}
		}
		return resp, err
	}
}

func holdsKey(ms []*kvrpcpb.Mutation, key []byte) bool {
	_, ok := slices.BinarySearchFunc(ms, key, func(m *kvrpcpb.Mutation, k []byte) int { return bytes.Compare(m.Key, k) })
	return ok
}

// writeContext is the Context template of the transaction's pipelined
// requests: its RequestContext, with PipelinedRequestSource when it names
// no source.
func (t *Txn) writeContext() *kvrpcpb.Context {
	rc := t.reqCtx
	c := &kvrpcpb.Context{
		Priority: rc.Priority, SyncLog: rc.SyncLog, RequestSource: rc.RequestSource,
		ResourceGroupTag: rc.ResourceGroupTag, DiskFullOpt: rc.DiskFullOpt, TxnSource: rc.TxnSource,
		MaxExecutionDurationMs: uint64(rc.MaxExecution.Milliseconds()),
	}
	if c.RequestSource == "" {
		c.RequestSource = PipelinedRequestSource
	}
	if rc.ResourceGroupName != "" {
		c.ResourceControlContext = &kvrpcpb.ResourceControlContext{ResourceGroupName: rc.ResourceGroupName}
	}
	return c
}

// startHeartbeat starts keeping primary's lock alive, once (client-go
// starts its ttl manager once the primary's batch is flushed).
func (p *pipelinedTxn) startHeartbeat(primary []byte) {
	p.hbOnce.Do(func() {
		done, stop := make(chan struct{}), make(chan struct{})
		started := p.t.client.pipelined.start(func(ctx context.Context) {
			defer close(done)
			p.keepAlive(ctx, stop, primary)
		})
		if !started {
			close(done)
		}
		p.hbStop, p.hbDone = stop, done
	})
}

// stopHeartbeat stops the heartbeat, if it runs, and waits for it.
func (p *pipelinedTxn) stopHeartbeat() {
	p.hbOnce.Do(func() {}) // none may start after this
	if p.hbDone != nil {
		p.hbStopOnce.Do(func() { close(p.hbStop) })
		<-p.hbDone
	}
}

// keepAlive sends a heartbeat every half LockTTL that sets the primary
// lock's TTL to the transaction's age plus LockTTL (client-go's keepAlive;
// TiKV's txn_heart_beat.rs keeps the larger TTL), and, until the commit
// begins, pushes its min_commit_ts to the TSO's now (TiKV raises a
// pipelined lock's min_commit_ts, never lowers it): a reader whose ts is
// below it passes the lock instead of stopping to resolve it. After each
// heartbeat that succeeded, the status (the min commit ts) is broadcast
// to every store: only then, so that no store's cache knows more than the
// primary lock says (client-go's rule). It gives up, marking
// hbStopped, once the transaction is older than MaxTTL, when TiKV answers
// with a key error (the lock is gone: another transaction resolved it),
// or after too many failures in a row.
func (p *pipelinedTxn) keepAlive(parent context.Context, stop <-chan struct{}, primary []byte) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	go func() { // the RPCs stop with stop too
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	p.hbRunning.Store(true)
	defer p.hbRunning.Store(false)
	tick := time.NewTicker(p.opts.LockTTL / 2)
	defer tick.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now, err := p.t.client.oracle.Now(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			continue
		}
		age := time.Duration(pdclient.ExtractPhysical(now)-pdclient.ExtractPhysical(p.t.startTS)) * time.Millisecond
		if age > p.opts.MaxTTL {
			p.hbStopped.Store(true)
			return
		}
		minCommit := p.minCommit.push(now)
		_, err = p.plans.heartbeat(ctx, &kvrpcpb.TxnHeartBeatRequest{Context: p.t.writeContext(),
			PrimaryLock: primary, StartVersion: p.t.startTS, AdviseLockTtl: uint64((age + p.opts.LockTTL) / time.Millisecond),
			MinCommitTs: minCommit})
		var keyErr *pipelinedHeartbeatKeyError
		switch {
		case err == nil:
			failures = 0
			p.broadcast(&kvrpcpb.TxnStatus{MinCommitTs: minCommit})
		case ctx.Err() != nil:
			return
		case errors.As(err, &keyErr):
			p.hbStopped.Store(true)
			return
		default:
			failures++
			if failures > pipelinedMaxHeartbeatFailures {
				p.hbStopped.Store(true)
				return
			}
		}
	}
}

// pipelinedHeartbeatKeyError marks a heartbeat TiKV answered with a key
// error: the primary lock is gone (committed or rolled back), there is
// nothing left to keep alive.
type pipelinedHeartbeatKeyError struct{ err error }

func (e *pipelinedHeartbeatKeyError) Error() string { return e.err.Error() }
func (e *pipelinedHeartbeatKeyError) Unwrap() error { return e.err }

// commit ends a pipelined transaction (client-go's pipelined commit):
// the rest of the buffer is flushed and waited for; the primary alone is
// committed (KvCommit), which commits the transaction; the other locks
// are then resolved at the commit ts over the transaction's key range,
// region by region, on the client's Group. Readers that meet them before
// resolve them from the committed primary.
func (p *pipelinedTxn) commit(ctx context.Context) error {
	t := p.t
	// From here on the heartbeat keeps the primary alive but no longer
	// pushes its min commit ts (client-go's execute: twoPCAccess).
	p.minCommit.freeze()
	d := twopc.CommitDetails{StartTS: t.startTS, Protocol: twopc.ProtocolTwoPC, LockTTL: p.opts.LockTTL}
	fail := func(err error) error {
		p.stopHeartbeat()
		if p.generation > 0 {
			// client-go's cleanup: the stores learn of the rollback
			// before its locks are resolved.
			p.broadcast(&kvrpcpb.TxnStatus{MinCommitTs: p.minCommit.get(), RolledBack: true})
		}
		d.RollbackQueued = p.queueResolve(0)
		t.finish(txnFailed, 0, d)
		return err
	}
	if _, err := p.flush(ctx, true); err != nil {
		return fail(err)
	}
	if err := p.wait(ctx); err != nil {
		return fail(err)
	}
	d.Keys, d.Primary = p.flushed, p.primary
	if p.primary == nil {
		// Nothing written: nothing to commit (client-go's empty commit).
		p.stopHeartbeat()
		t.finish(txnCommitted, 0, d)
		return nil
	}
	start := time.Now()
	commitTS, err := p.commitPrimary(ctx, &d)
	d.CommitPrimaryTime = time.Since(start)
	p.stopHeartbeat()
	if err != nil {
		err = fmt.Errorf("txn: pipelined commit of txn %d: %w", t.startTS, err)
		if errors.Is(err, kv.ErrUndetermined) {
			// The primary may have committed: no rollback.
			t.finish(txnFailed, 0, d)
			return err
		}
		return fail(err)
	}
	d.CommitTS = commitTS
	p.broadcast(&kvrpcpb.TxnStatus{MinCommitTs: p.minCommit.get(), CommitTs: commitTS})
	if !p.skipResolve {
		d.SecondariesQueued = p.queueResolve(commitTS)
	}
	t.finish(txnCommitted, commitTS, d)
	return nil
}

// commitPrimary takes a commit ts and commits the primary key alone.
// TiKV's commit.rs refuses a commit ts below the lock's min_commit_ts,
// which a reader pushed (CommitTsExpired): a fresh ts is tried then.
func (p *pipelinedTxn) commitPrimary(ctx context.Context, d *twopc.CommitDetails) (uint64, error) {
	for tries := 0; ; tries++ {
		d.TSOCalls++
		commitTS, err := p.t.client.oracle.Now(ctx)
		if err != nil {
			return 0, fmt.Errorf("get commit ts: %w", err)
		}
		_, err = p.plans.commit(ctx, &kvrpcpb.CommitRequest{Context: p.t.writeContext(), StartVersion: p.t.startTS,
			Keys: [][]byte{p.primary}, CommitVersion: commitTS, PrimaryKey: p.primary, CommitRole: kvrpcpb.CommitRole_Primary})
		var expired *kv.CommitTSExpiredError
		if err == nil || !errors.As(err, &expired) || tries >= pipelinedMaxCommitTSRetries {
			if err != nil {
				return 0, fmt.Errorf("commit primary %q: %w", p.primary, err)
			}
			return commitTS, nil
		}
		d.CommitTSRetries++
	}
}

// rollback ends a pipelined transaction without committing: it waits for
// the flush in flight and rolls back every flushed lock, over the
// transaction's key range, on the client's Group (client-go's pipelined
// Rollback).
func (p *pipelinedTxn) rollback() {
	_ = p.wait(context.Background()) // its failure no longer matters
	p.stopHeartbeat()
	// client-go's Rollback tells the stores at once; the transaction is
	// complete already when it flushed nothing.
	p.broadcast(&kvrpcpb.TxnStatus{MinCommitTs: p.minCommit.get(), RolledBack: true, IsCompleted: p.generation == 0})
	p.queueResolve(0)
	p.t.buf.Reset()
	p.t.finish(txnRolledBack, 0, twopc.CommitDetails{})
}

// queueResolve hands the resolution of the transaction's locks at
// commitTS (0: roll back) to the Group; false when nothing was flushed or
// the Group is closed (the locks are then left to readers, which resolve
// them from the primary). Once every region is resolved, the transaction
// is announced completed (broadcastCompleted).
func (p *pipelinedTxn) queueResolve(commitTS uint64) bool {
	if p.generation == 0 {
		return false
	}
	// ResolveLock carries no range: the plan reads the transaction's key
	// range from Keys and sends each region's piece without keys.
	req := &kvrpcpb.ResolveLockRequest{Context: p.t.writeContext(), StartVersion: p.t.startTS, CommitVersion: commitTS,
		Keys: [][]byte{p.lo, append(bytes.Clone(p.hi), 0)}}
	startTS := p.t.startTS
	err := p.t.client.group.Go(func(ctx context.Context) error {
		outs, _ := p.plans.resolve(ctx, req)
		for _, o := range outs {
			if o.Err != nil {
				return fmt.Errorf("txn: resolve flushed locks of txn %d at %d: %w", startTS, commitTS, o.Err)
			}
		}
		// Not on this Group: its Close waits for its tasks, and the
		// grace period must not hold the client's Close.
		p.t.client.pipelined.start(func(ctx context.Context) { p.broadcastCompleted(ctx, commitTS) })
		return nil
	})
	return err == nil
}
