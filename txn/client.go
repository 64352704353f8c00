package txn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/pipeline/backoff"
	"github.com/tikvgo/tikv/txn/internal/twopc"
	"github.com/tikvgo/tikv/txn/txnlock"
)

// Backend is what a Client runs on: a cluster connection's plan
// environments and timestamp oracle. *tikv.Cluster implements it.
type Backend interface {
	EnvFor(mode kv.KeyMode) *pipeline.Env
	Oracle() *pdclient.Oracle
}

// Client is the transactional client (client-go's txnkv.Client): it begins
// transactions, hands out snapshots and timestamps, and owns the work
// commits leave running (committing secondaries, rolling back failed
// commits), which Close waits for. It is safe for concurrent use.
type Client struct {
	env       *pipeline.Env
	oracle    *pdclient.Oracle
	resolver  *txnlock.Resolver
	committer *twopc.Committer
	group     *twopc.Group
	cfg       clientConfig
	// safePoint checks every snapshot's reads against GC; safePointCache
	// is the default checker when the client started it (Close stops it).
	safePoint      SafePointChecker
	safePointCache *SafePointCache
	// safeTS tracks the stores' safe ts for MinSafeTS (stale_read_safe_ts.go).
	safeTS *safeTSTracker
	// pd is the Backend's PD, nil when it offers none (stale_read_external.go).
	pd pdclient.PD

	closeOnce sync.Once
	closed    atomic.Bool
	closeErr  error
	// commits tracks the commits in flight, which Close waits for before
	// it closes the group: a commit that got its primary committed must
	// still hand its secondaries to the group.
	commits inflight
	// pipelined owns the goroutines of pipelined transactions (flushes,
	// heartbeats) that Close stops (pipelined.go).
	pipelined pipelinedRegistry
	// keepAlives are the heartbeats of pessimistic transactions' primary
	// locks (pessimistic.go), which Close stops.
	keepAlives keepAliveSet
	// background holds the first failure of background work, for
	// BackgroundError.
	background atomic.Pointer[error]
}

// Option configures a Client.
type Option func(*clientConfig)

type clientConfig struct {
	latches      bool
	commitOpts   twopc.Options
	retryBudget  time.Duration
	snapshotOpts []SnapshotOption
	safePoint    safePointConfig
	// safeTSInterval: WithSafeTSUpdateInterval (stale_read_safe_ts.go).
	safeTSInterval time.Duration
	// resolverOpts: WithResolveLiteThreshold (resolver_options.go).
	resolverOpts []txnlock.Option
}

// WithLocalLatches makes the client's own transactions detect conflicts
// among themselves before they prewrite (client-go's local latches): a
// transaction that would conflict with one of this client's transactions
// committed after it started fails at once with a retryable error, without
// any RPC. Off by default.
func WithLocalLatches() Option { return func(c *clientConfig) { c.latches = true } }

// LatchConflictError is the failure of a commit that WithLocalLatches
// stopped before its prewrite: one of its keys was committed by another
// of the client's transactions after it started (client-go's
// ErrWriteConflictInLatch). It wraps kv.ErrWriteConflict and
// kv.ErrTxnRetryable.
type LatchConflictError = twopc.LatchConflictError

// WithCommitOptions tunes two-phase commit: batch size, lock TTLs,
// heartbeats (zero fields keep client-go's defaults).
func WithCommitOptions(o CommitOptions) Option { return func(c *clientConfig) { c.commitOpts = o } }

// CommitOptions tune two-phase commit; see the fields.
type CommitOptions = twopc.Options

// WithUpdateBudget bounds how long Update keeps re-running a transaction
// that hit retryable conflicts (default DefaultUpdateBudget); zero or less
// means until the context ends.
func WithUpdateBudget(d time.Duration) Option { return func(c *clientConfig) { c.retryBudget = d } }

// WithSnapshotOptions sets options every snapshot and transaction of the
// client reads with (isolation level, priority, request source, ...).
func WithSnapshotOptions(opts ...SnapshotOption) Option {
	return func(c *clientConfig) { c.snapshotOpts = append(c.snapshotOpts, opts...) }
}

// readCleanupLimit bounds the background lock cleanups reads start.
const readCleanupLimit = 16

// DefaultUpdateBudget bounds the backoff sleeps between Update's re-runs.
const DefaultUpdateBudget = 20 * time.Second

// NewClient returns a transactional client on b's cluster connection. It
// starts the txn safe point cache its reads are checked with (see
// WithSafePointCheck), and other goroutines only when a commit leaves work
// behind; Close waits for that work and stops the cache.
func NewClient(b Backend, opts ...Option) *Client {
	cfg := clientConfig{retryBudget: DefaultUpdateBudget}
	for _, o := range opts {
		o(&cfg)
	}
	env := b.EnvFor(kv.ModeTxn)
	c := &Client{env: env, oracle: b.Oracle(), cfg: cfg}
	// Reads that meet the lock of a transaction already decided do not
	// wait for its cleanup: it runs in the background (client-go's
	// asynchronous resolve for reads), at most readCleanupLimit at once.
	c.resolver = txnlock.New(env, c.oracle, append([]txnlock.Option{txnlock.WithBackgroundReadCleanup(readCleanupLimit)}, cfg.resolverOpts...)...)
	c.group = twopc.NewGroup(context.Background(), c.noteBackgroundError)
	var latches *twopc.Latches
	if cfg.latches {
		latches = twopc.NewLatches(1 << 16)
	}
	// A Backend with a PD (*tikv.Cluster) lets the committer scatter the
	// regions it pre-splits, as client-go does; without one they stay put.
	var pd pdclient.PD
	if pb, ok := b.(interface{ PD() pdclient.PD }); ok {
		pd = pb.PD()
	}
	committer, err := twopc.New(twopc.Config{Env: env, Resolver: c.resolver, Oracle: c.oracle,
		// client-go's pessimistic lock resolves with PessimisticRegionResolve.
		LockResolver: c.resolver.With(txnlock.Options{PessimisticRegion: true}),
		Group:        c.group, Latches: latches, PD: pd, Options: cfg.commitOpts})
	if err != nil {
		// Env, Oracle and Group are set above: only a broken Backend gets
		// here.
		panic(fmt.Sprintf("txn: NewClient: %v", err))
	}
	c.committer = committer
	c.pd = pd
	c.safePoint, c.safePointCache = startSafePointCheck(b, cfg.safePoint)
	// PD's min-resolved-ts API, when the PD offers it, spares asking every
	// store for its safe ts (stale_read_safe_ts.go).
	minResolved, _ := pd.(pdclient.MinResolvedTSReader)
	c.safeTS = newSafeTSTracker(env, minResolved, cfg.safeTSInterval)
	return c
}

// noteBackgroundError keeps the first failure of background work. Such
// failures belong to no caller (a secondary left locked is resolved by the
// next reader), but a caller may want to see them.
func (c *Client) noteBackgroundError(err error) {
	c.background.CompareAndSwap(nil, &err)
}

// BackgroundError returns the first failure of the work commits left
// running (committing secondaries, rolling back), or nil. Such failures
// never change a commit's outcome: the locks left behind are resolved by
// the next transaction that meets them.
func (c *Client) BackgroundError() error {
	if p := c.background.Load(); p != nil {
		return *p
	}
	return nil
}

// CurrentTimestamp returns a fresh timestamp from PD's TSO.
func (c *Client) CurrentTimestamp(ctx context.Context) (uint64, error) {
	if c.closed.Load() {
		return 0, kv.ErrClosed
	}
	return c.oracle.Now(ctx)
}

// Snapshot returns a read-only view at ts (a timestamp from
// CurrentTimestamp, or an older one still above the GC safe point).
func (c *Client) Snapshot(ts uint64, opts ...SnapshotOption) *Snapshot {
	// The oracle validates every read ts (stale_read.go); the client's
	// and the caller's options may replace it.
	all := append(append(append([]SnapshotOption{WithReadTSValidator(c.oracle)}, c.snapshotSafePoint()...), c.cfg.snapshotOpts...), opts...)
	return NewSnapshot(c.env, c.resolver.With(txnlock.Options{ForRead: true}), ts, all...)
}

// Resolver returns the client's lock resolver, for callers that meet
// locks in plans of their own (pipeline.ResolveLocks).
func (c *Client) Resolver() *txnlock.Resolver { return c.resolver }

// Close waits for the work commits left running (the commit of
// secondaries, rollbacks) and stops the client: later calls fail with
// kv.ErrClosed. Work still running when ctx ends is cancelled (its locks
// are resolved by later readers) and Close returns ctx's error. It does
// not close the cluster connection. Close is idempotent.
func (c *Client) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.keepAlives.closeAll()
		err := c.commits.closeAndWait(ctx)
		c.pipelined.close()
		c.closeErr = errors.Join(err, c.group.Close(ctx))
		c.resolver.Close()
		c.stopSafePointCache()
		c.safeTS.close()
	})
	return c.closeErr
}

// inflight counts operations that Close must wait for, and refuses new
// ones once closed.
type inflight struct {
	mu     sync.Mutex
	n      int
	closed bool
	idle   chan struct{} // closed when n drops to 0 after closing
}

// enter registers an operation; false once closed.
func (f *inflight) enter() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.n++
	return true
}

// leave ends an operation enter registered.
func (f *inflight) leave() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.n == 0 && f.idle != nil {
		close(f.idle)
		f.idle = nil
	}
}

// closeAndWait refuses new operations and waits for the running ones, or
// for ctx to end.
func (f *inflight) closeAndWait(ctx context.Context) error {
	f.mu.Lock()
	f.closed = true
	if f.n == 0 {
		f.mu.Unlock()
		return nil
	}
	idle := make(chan struct{})
	f.idle = idle
	f.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("txn: close: commits still running: %w", context.Cause(ctx))
	}
}

// Update runs fn in a new transaction and commits it, re-running the whole
// function in a fresh transaction when the commit (or fn) fails with a
// retryable conflict (kv.ErrTxnRetryable: a write conflict, a deadlock, a
// latch conflict), after a backoff, within WithUpdateBudget. It is
// FoundationDB's Transact: writes are never replayed on their own, only
// by running fn again on a newer snapshot, so fn must be safe to run more
// than once and must keep its effects inside the transaction.
//
// fn's own error (not retryable) rolls the transaction back and is
// returned. A commit whose outcome is unknown (kv.ErrUndetermined) is
// never re-run: it may have applied.
func (c *Client) Update(ctx context.Context, fn func(ctx context.Context, t *Txn) error, opts ...BeginOption) error {
	var bo *backoff.Backoffer
	for {
		t, err := c.Begin(ctx, opts...)
		if err != nil {
			return err
		}
		if err = fn(ctx, t); err == nil {
			err = t.Commit(ctx)
		} else {
			_ = t.Rollback()
		}
		if err == nil || errors.Is(err, kv.ErrUndetermined) || !errors.Is(err, kv.ErrTxnRetryable) {
			return err
		}
		if bo == nil {
			if c.cfg.retryBudget > 0 {
				bo = backoff.WithBudget(c.cfg.retryBudget)
			} else {
				bo = backoff.New()
			}
		}
		if werr := bo.Wait(ctx, updateRetry, err); werr != nil {
			return werr
		}
	}
}

// updateRetry spaces Update's re-runs (client-go leaves this loop to TiDB,
// which backs off from 2 ms doubling to 1 s per statement retry).
var updateRetry = backoff.Policy{Name: "txnRetry", Base: 2 * time.Millisecond, Cap: time.Second, Jitter: backoff.EqualJitter}
