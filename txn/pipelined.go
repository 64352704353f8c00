package txn

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/txn/internal/twopc"
	"github.com/tikvgo/tikv/txn/membuf"
)

// pipelinedTxn is the pipelined part of a Txn (client-go's PipelinedMemDB
// and the pipelined parts of KVTxn and twoPhaseCommitter). Its writer-side
// fields belong to the Txn's goroutine, as the Txn does; the flush in
// flight and the heartbeat run on goroutines the client's
// pipelinedRegistry owns, and report back through done and hbStopped.
type pipelinedTxn struct {
	t     *Txn
	opts  PipelinedOptions
	plans *pipelinedPlans
	// skipResolve leaves the locks of a committed transaction to readers
	// (tests: client-go's pipelinedSkipResolveLock failpoint).
	skipResolve bool

	generation uint64         // of the last flush started; 0 before the first
	flushing   *membuf.Buffer // the generation in flight (read-only), or nil
	done       chan error     // the flight's outcome, buffered
	failed     error          // the first flush failure: the transaction is doomed
	primary    []byte
	// lo and hi bound every key flushed: Commit and Rollback resolve
	// [lo, hi] region by region.
	lo, hi  []byte
	flushed int // mutations flushed, all generations
	// bufLen and bufSize sum Len and Size of the buffers flushed, so that
	// Txn.Len and Size count every write (client-go's PipelinedMemDB).
	bufLen, bufSize int
	// bufCache holds what KvBufferBatchGet answered since the last Flush
	// call (a nil value: the key has no flushed write), so that a key read
	// twice costs one RPC (client-go's batchGetCache, dropped by Flush).
	bufCache map[string][]byte
	// flushEWMA is the moving average of flush durations in ms, for the
	// write throttle.
	flushEWMA float64

	// minCommit is the min commit ts the heartbeat pushes the primary's
	// lock to, and broadcasts (pipelined_status.go).
	minCommit minCommitTS
	// statusCtx is the Context of the status broadcasts, fixed at Begin.
	statusCtx *kvrpcpb.Context

	hbOnce     sync.Once
	hbStopOnce sync.Once
	hbStop     chan struct{}
	hbDone     chan struct{}
	hbRunning  atomic.Bool
	hbStopped  atomic.Bool // the heartbeat gave up: the primary may be gone
}

// PipelinedHeartbeatStoppedError says a pipelined transaction's heartbeat
// gave up keeping its primary lock alive (its lock was resolved by another
// transaction, the transaction outlived PipelinedOptions.MaxTTL, or
// heartbeats kept failing): its later flushes fail, since the locks they
// would write may belong to a transaction already rolled back (client-go's
// "ttl manager is closed").
type PipelinedHeartbeatStoppedError struct {
	StartTS uint64
}

// Error describes the failure on one line.
func (e *PipelinedHeartbeatStoppedError) Error() string {
	return fmt.Sprintf("txn %d: pipelined flush refused: the primary lock's heartbeat stopped", e.StartTS)
}

// initPipelined makes t a pipelined transaction; Begin calls it.
func (t *Txn) initPipelined(o PipelinedOptions) error {
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	if t.proto.asyncCommit == twopc.SwitchOn {
		return &PipelinedUnsupportedError{What: "async commit"}
	}
	if t.proto.onePC == twopc.SwitchOn {
		return &PipelinedUnsupportedError{What: "1PC"}
	}
	if t.pess.on {
		// client-go panics on a pessimistic pipelined transaction: a
		// flushed generation's locks are prewrite locks, not pessimistic.
		return &PipelinedUnsupportedError{What: "pessimistic transactions"}
	}
	t.pl = &pipelinedTxn{t: t, opts: o, plans: newPipelinedPlans(t.client, o), skipResolve: o.skipResolve,
		statusCtx: t.statusContext()}
	// A read of the snapshot must pass the transaction's own flushed locks
	// (TiKV's resolved_locks bypass, lock.ts == read ts otherwise blocks):
	// client-go's pipelined snapshot puts its start ts into resolvedLocks.
	t.snap.locks.learn(nil, pipeline.ResolveResult{Resolved: []uint64{t.startTS}})
	return nil
}

// IsPipelined reports whether the transaction was begun WithPipelined.
func (t *Txn) IsPipelined() bool { return t.pl != nil }

// Flush flushes a pipelined transaction's buffer as a new generation of
// locks, in the background, and gives it a fresh buffer (client-go's
// PipelinedMemDB.Flush): when force is set or the buffer passed the
// PipelinedOptions thresholds. It reports whether it started a flush. One
// generation is in flight at a time: a flush waits for the previous one,
// and returns its failure. Writes flush on their own when the buffer
// passes the thresholds; Flush(ctx, true) ends the current generation
// early. A buffer with savepoints (Staging) still open cannot be flushed.
func (t *Txn) Flush(ctx context.Context, force bool) (bool, error) {
	if err := t.checkActive(); err != nil {
		return false, err
	}
	if t.pl == nil {
		return false, kv.InvalidArgument("flush of txn %d: not a pipelined transaction", t.startTS)
	}
	return t.pl.flush(ctx, force)
}

// FlushWait waits for a pipelined transaction's flush in flight and
// returns its failure (client-go's FlushWait).
func (t *Txn) FlushWait(ctx context.Context) error {
	if t.pl == nil {
		return kv.InvalidArgument("flush wait of txn %d: not a pipelined transaction", t.startTS)
	}
	return t.pl.wait(ctx)
}

// Generation returns the generation of a pipelined transaction's last
// flush started (0 before the first, and for other transactions).
func (t *Txn) Generation() uint64 {
	if t.pl == nil {
		return 0
	}
	return t.pl.generation
}

// needFlush is client-go's rule: no flush below MinFlushSize of memory;
// between it and ForceFlushSize, only with MinFlushKeys keys and no flush
// in flight; from ForceFlushSize on, always (waiting for the flight).
func (p *pipelinedTxn) needFlush() bool {
	mem, n := p.t.buf.Mem(), p.t.buf.Len()
	if mem < p.opts.MinFlushSize || (n < p.opts.MinFlushKeys && mem < p.opts.ForceFlushSize) {
		return false
	}
	return !p.inFlight() || mem >= p.opts.ForceFlushSize
}

// inFlight reports whether a flush is still running.
func (p *pipelinedTxn) inFlight() bool { return p.flushing != nil && len(p.done) == 0 }

// afterWrite flushes once the buffer passed the thresholds.
func (p *pipelinedTxn) afterWrite() error {
	if !p.needFlush() {
		return nil
	}
	_, err := p.flush(context.Background(), false)
	return err
}

func (p *pipelinedTxn) flush(ctx context.Context, force bool) (bool, error) {
	p.bufCache = nil // client-go drops its read cache at every Flush call
	if p.t.buf.Stages() > 0 {
		return false, kv.InvalidArgument("flush of txn %d: savepoints still open", p.t.startTS)
	}
	if !force && !p.needFlush() {
		return false, nil
	}
	if err := p.wait(ctx); err != nil {
		return false, err
	}
	if p.t.buf.Len() == 0 {
		return false, nil
	}
	muts, err := p.t.mutations()
	if err != nil {
		return false, err
	}
	pbs := make([]*kvrpcpb.Mutation, 0, len(muts))
	for _, m := range muts {
		pbs = append(pbs, &kvrpcpb.Mutation{Op: m.Op, Key: m.Key, Value: m.Value, Assertion: m.Assertion})
		if p.primary == nil && m.Op != kvrpcpb.Op_CheckNotExists {
			// client-go: the first written key of the first flush. Keys
			// kept past the flush are copied, so that they do not pin the
			// flushed buffer's memory.
			p.primary = bytes.Clone(m.Key)
		}
	}
	if len(pbs) == 0 {
		// Only keys left out of 2PC: nothing to write, but they go too.
		p.bufLen += p.t.buf.Len()
		p.bufSize += p.t.buf.Size()
		p.t.buf = membuf.New(membuf.WithLimits(p.t.buf.Limits()))
		return false, nil
	}
	temporary := p.primary == nil
	if temporary {
		// Only CheckNotExists keys so far: they leave no lock, so no lock
		// names this primary; the first written key becomes the real one.
		p.primary = pbs[0].Key
		defer func() { p.primary = nil }()
	}
	if err := p.throttle(ctx); err != nil {
		return false, err
	}
	if p.lo == nil || bytes.Compare(pbs[0].Key, p.lo) < 0 {
		p.lo = bytes.Clone(pbs[0].Key)
	}
	if last := pbs[len(pbs)-1].Key; bytes.Compare(last, p.hi) > 0 {
		p.hi = bytes.Clone(last)
	}
	p.flushed += len(pbs)
	p.generation++
	p.flushing = p.t.buf
	p.bufLen += p.flushing.Len()
	p.bufSize += p.flushing.Size()
	p.t.buf = membuf.New(membuf.WithLimits(p.flushing.Limits()))
	done := make(chan error, 1)
	p.done = done
	req := &kvrpcpb.FlushRequest{
		Context: p.t.writeContext(), Mutations: pbs, PrimaryKey: p.primary, StartTs: p.t.startTS,
		// TiKV's flush.rs takes min_commit_ts start_ts+1 as a prewrite does.
		MinCommitTs: p.t.startTS + 1, Generation: p.generation,
		LockTtl: uint64(p.opts.LockTTL / time.Millisecond), AssertionLevel: p.t.assertion,
	}
	// A temporary primary has no lock to keep alive.
	var hbPrimary []byte
	if !temporary {
		hbPrimary = p.primary
	}
	if !p.t.client.pipelined.start(func(ctx context.Context) {
		if p.hbStopped.Load() {
			done <- &PipelinedHeartbeatStoppedError{StartTS: req.StartTs}
			return
		}
		start := time.Now()
		_, err := p.plans.flush(ctx, req)
		if err == nil && hbPrimary != nil && holdsKey(req.Mutations, hbPrimary) {
			// client-go starts the ttl manager once the primary is flushed.
			p.startHeartbeat(hbPrimary)
		}
		p.noteFlushTime(time.Since(start))
		if err != nil {
			err = fmt.Errorf("txn %d: flush generation %d: %w", p.t.startTS, req.Generation, err)
		}
		done <- err
	}) {
		done <- kv.ErrClosed
	}
	return true, nil
}

// wait waits for the flush in flight, if any, and returns the first flush
// failure of the transaction.
func (p *pipelinedTxn) wait(ctx context.Context) error {
	if p.flushing != nil {
		select {
		case err := <-p.done:
			p.flushing = nil
			if err != nil && p.failed == nil {
				p.failed = err
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return p.failed
}

// noteFlushTime feeds the moving average of flush durations (client-go's
// EWMA of age 10: weight 2/(10+1) for the newest).
func (p *pipelinedTxn) noteFlushTime(d time.Duration) {
	ms := float64(d) / float64(time.Millisecond)
	// Read by the writer only after the flight's outcome was received.
	if p.flushEWMA == 0 {
		p.flushEWMA = ms
		return
	}
	const alpha = 2.0 / 11
	p.flushEWMA = alpha*ms + (1-alpha)*p.flushEWMA
}

// throttle sleeps ratio/(1-ratio) of the expected flush time, so that the
// writer spends about ratio of its time asleep (client-go's
// throttlePipelinedTxn).
func (p *pipelinedTxn) throttle(ctx context.Context) error {
	r := p.opts.WriteThrottleRatio
	if r == 0 || p.flushEWMA == 0 {
		return nil
	}
	d := time.Duration(r / (1 - r) * p.flushEWMA * float64(time.Millisecond))
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// get reads key as the pipelined transaction sees it: its buffer, the
// generation in flight, what it flushed before (KvBufferBatchGet), and
// the snapshot (client-go's PipelinedMemDB.Get order).
func (p *pipelinedTxn) get(ctx context.Context, key []byte) ([]byte, error) {
	es, err := p.batchGet(ctx, [][]byte{key}, false)
	if err != nil {
		return nil, err
	}
	if es[0].Value == nil {
		return nil, kv.ErrNotFound
	}
	return es[0].Value, nil
}

// batchGet reads keys as get does, in one pass per tier. With
// wantCommitTS, the keys read from the snapshot carry the commit ts of
// their version; the transaction's own writes, buffered or flushed, have
// none yet (0), as in client-go, whose BufferBatchGetter asks the
// snapshot with the caller's options and the pipelined buffer without.
func (p *pipelinedTxn) batchGet(ctx context.Context, keys [][]byte, wantCommitTS bool) ([]ValueEntry, error) {
	out := make([]ValueEntry, len(keys))
	settled := make([]bool, len(keys))
	var remote [][]byte
	for i, k := range keys {
		v, kind := p.t.buf.Get(k)
		if kind == membuf.KindNone && p.flushing != nil {
			v, kind = p.flushing.Get(k)
		}
		switch kind {
		case membuf.KindPut:
			out[i].Value, settled[i] = bytes.Clone(v), true
			continue
		case membuf.KindDelete:
			settled[i] = true
			continue
		}
		if p.generation > 0 && bytes.Compare(k, p.lo) >= 0 && bytes.Compare(k, p.hi) <= 0 {
			if _, ok := p.bufCache[string(k)]; !ok {
				remote = append(remote, k)
			}
		}
	}
	if len(remote) > 0 {
		pairs, err := p.plans.bufferGet(ctx, &kvrpcpb.BufferBatchGetRequest{Context: p.t.snap.rctx, Keys: remote, Version: p.t.startTS})
		if err != nil {
			return nil, fmt.Errorf("txn %d: buffer batch get: %w", p.t.startTS, err)
		}
		if p.bufCache == nil {
			p.bufCache = make(map[string][]byte, len(remote))
		}
		for _, k := range remote {
			p.bufCache[string(k)] = nil
		}
		for _, kp := range pairs {
			// TiKV answers a flushed delete with an empty value
			// (Storage::buffer_batch_get); values are never empty.
			v := kp.Value
			if v == nil {
				v = []byte{}
			}
			p.bufCache[string(kp.Key)] = v
		}
	}
	var rest [][]byte
	var at []int
	for i, k := range keys {
		if settled[i] {
			continue
		}
		if v, ok := p.bufCache[string(k)]; ok && v != nil {
			if len(v) > 0 {
				out[i].Value = bytes.Clone(v)
			}
			continue
		}
		rest, at = append(rest, k), append(at, i)
	}
	if len(rest) == 0 {
		return out, nil
	}
	if wantCommitTS {
		read, err := p.t.snap.BatchGetWithCommitTS(ctx, rest)
		if err != nil {
			return nil, err
		}
		for j, i := range at {
			out[i] = read[j]
		}
		return out, nil
	}
	vals, err := p.t.snap.BatchGet(ctx, rest)
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		out[i].Value = vals[j]
	}
	return out, nil
}

// pipelinedRegistry owns the goroutines of a client's pipelined
// transactions (flushes in flight, heartbeats): a transaction abandoned
// without Commit or Rollback leaves them to the client, whose Close
// cancels and waits for them. The zero value is ready to use.
type pipelinedRegistry struct {
	mu     sync.Mutex
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// start runs f on a goroutine of its own with the registry's context;
// false once the registry is closed.
func (r *pipelinedRegistry) start(f func(ctx context.Context)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	if r.ctx == nil {
		r.ctx, r.cancel = context.WithCancel(context.Background())
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f(r.ctx)
	}()
	return true
}

// close cancels the goroutines and waits for them.
func (r *pipelinedRegistry) close() {
	r.mu.Lock()
	r.closed = true
	if r.cancel != nil {
		r.cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// pipelinedIterErr is what Iter and IterReverse of a pipelined
// transaction yield: its writes are not all in one buffer to merge with
// the snapshot (client-go's PipelinedMemDB refuses iterators too).
func pipelinedIterErr(yield func(kv.KeyValue, error) bool) {
	yield(kv.KeyValue{}, &PipelinedUnsupportedError{What: "Iter"})
}

// wrote follows a buffered write of a pipelined transaction with the
// flush its buffer may need.
func (t *Txn) wrote(err error) error {
	if err != nil || t.pl == nil {
		return err
	}
	return t.pl.afterWrite()
}

// setWithFlags is SetWithAssertion of a pipelined transaction.
func (p *pipelinedTxn) setWithFlags(key, value []byte, op membuf.FlagsOp) error {
	if err := p.t.checkWrite(key); err != nil {
		return err
	}
	if len(value) == 0 {
		return fmt.Errorf("txn: set %q: empty value: %w", key, kv.ErrInvalidArgument)
	}
	return p.t.wrote(p.t.buf.SetWithFlags(key, value, op))
}

// flushedLen and flushedSize are the keys and bytes flushed so far; 0 for
// a nil pipelinedTxn (not a pipelined transaction).
func (p *pipelinedTxn) flushedLen() int {
	if p == nil {
		return 0
	}
	return p.bufLen
}

func (p *pipelinedTxn) flushedSize() int {
	if p == nil {
		return 0
	}
	return p.bufSize
}
