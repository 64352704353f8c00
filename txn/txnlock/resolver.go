package txnlock

import (
	"context"
	"errors"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/pipeline/backoff"
	"github.com/tikvgo/tikv/plans"
)

// Oracle is the part of PD's timestamp oracle a Resolver uses;
// *pdclient.Oracle implements it.
type Oracle interface {
	// Now returns a fresh timestamp: the current_ts a status check judges
	// lock expiry against.
	Now(ctx context.Context) (uint64, error)
	// UntilExpired returns how long a lock of the transaction lockTS with
	// a TTL of ttlMs milliseconds has left to live; zero once expired.
	UntilExpired(lockTS, ttlMs uint64) time.Duration
}

// DefaultLiteThreshold is the transaction size (keys in the lock's region,
// kv.Lock.TxnSize) below which a Resolver resolves only the keys it met
// instead of scanning the whole region for the transaction's locks
// (client-go's ResolveLockLiteThreshold).
const DefaultLiteThreshold = 512

// Option configures a Resolver.
type Option func(*config)

type config struct {
	cacheSize       int
	liteThreshold   uint64
	backgroundLimit int
}

// WithCacheSize sets how many settled transactions the Resolver remembers
// (default DefaultCacheSize); zero or less remembers none.
func WithCacheSize(n int) Option { return func(c *config) { c.cacheSize = n } }

// WithLiteThreshold sets the transaction size below which only the met
// keys are resolved (default DefaultLiteThreshold).
func WithLiteThreshold(n uint64) Option { return func(c *config) { c.liteThreshold = n } }

// Resolver resolves other transactions' locks (client-go's
// txnlock.LockResolver). It implements pipeline.LockResolver with the
// writer's rules; With gives views with other Options. A Resolver is safe
// for concurrent use. It holds no goroutines unless
// WithBackgroundReadCleanup lets it, in which case Close stops them.
type Resolver struct {
	env           *pipeline.Env
	oracle        Oracle
	cache         *statusCache
	flights       flightGroup
	liteThreshold uint64
	resolving     resolvingSet
	background    *backgroundCleanup // nil: cleanups run in the caller

	checkStatus      pipeline.Plan[*kvrpcpb.CheckTxnStatusRequest, *kvrpcpb.CheckTxnStatusResponse]
	checkSecondaries pipeline.Plan[*kvrpcpb.CheckSecondaryLocksRequest, []pipeline.Part[*kvrpcpb.CheckSecondaryLocksRequest, *kvrpcpb.CheckSecondaryLocksResponse]]
	resolveKeys      pipeline.Plan[*kvrpcpb.ResolveLockRequest, []pipeline.Part[*kvrpcpb.ResolveLockRequest, *kvrpcpb.ResolveLockResponse]]
	resolveStep      pipeline.Step[*kvrpcpb.ResolveLockRequest, *kvrpcpb.ResolveLockResponse]
	pessimisticStep  pipeline.Step[*kvrpcpb.PessimisticRollbackRequest, *kvrpcpb.PessimisticRollbackResponse]
}

var _ pipeline.LockResolver = (*Resolver)(nil)

// New returns a Resolver sending on env, which must be the transactional
// environment (Cluster.EnvFor(kv.ModeTxn)): lock keys are user keys.
func New(env *pipeline.Env, oracle Oracle, opts ...Option) *Resolver {
	cfg := config{cacheSize: DefaultCacheSize, liteThreshold: DefaultLiteThreshold}
	for _, o := range opts {
		o(&cfg)
	}
	r := &Resolver{
		env:             env,
		oracle:          oracle,
		cache:           newStatusCache(cfg.cacheSize),
		liteThreshold:   cfg.liteThreshold,
		resolveStep:     pipeline.Retry(env, plans.KvResolveLock),
		pessimisticStep: pipeline.Retry(env, plans.KvPessimisticRollback),
	}
	if cfg.backgroundLimit > 0 {
		r.background = newBackgroundCleanup(cfg.backgroundLimit)
	}
	r.checkStatus = pipeline.Single(pipeline.ShardByKey(env,
		(*kvrpcpb.CheckTxnStatusRequest).GetPrimaryKey,
		pipeline.Retry(env, plans.KvCheckTxnStatus), pipeline.Named("CheckTxnStatus")))
	r.checkSecondaries = pipeline.Shard(env,
		pipeline.ByKeys((*kvrpcpb.CheckSecondaryLocksRequest).GetKeys, identity,
			func(req *kvrpcpb.CheckSecondaryLocksRequest, keys [][]byte) *kvrpcpb.CheckSecondaryLocksRequest {
				return &kvrpcpb.CheckSecondaryLocksRequest{StartVersion: req.StartVersion, Keys: keys}
			}, pipeline.Limit[[]byte]{}),
		pipeline.Retry(env, plans.KvCheckSecondaryLocks), pipeline.Named("CheckSecondaryLocks"))
	r.resolveKeys = pipeline.Shard(env,
		pipeline.ByKeys((*kvrpcpb.ResolveLockRequest).GetKeys, identity,
			func(req *kvrpcpb.ResolveLockRequest, keys [][]byte) *kvrpcpb.ResolveLockRequest {
				return &kvrpcpb.ResolveLockRequest{StartVersion: req.StartVersion, CommitVersion: req.CommitVersion,
					IsTxnFile: req.IsTxnFile, Keys: keys}
			}, pipeline.Limit[[]byte]{}),
		r.resolveStep, pipeline.FinishInFlight(), pipeline.Named("ResolveLock"))
	return r
}

func identity(b []byte) []byte { return b }

// Options choose how a resolution treats the locks (client-go's
// ResolveLocksOptions).
type Options struct {
	// ForRead resolves for a snapshot read: a live lock whose min commit
	// ts the status check pushed past the reader's ts, like a rolled-back
	// one or one committed after it, is reported in Resolved (the read may
	// skip it) instead of making the reader wait; failures to commit or
	// roll back the locks of a transaction whose fate is known are not the
	// reader's (see WithBackgroundReadCleanup).
	ForRead bool
	// Lite resolves only the keys met, whatever the transaction's size.
	Lite bool
	// PessimisticRegion rolls back every pessimistic lock of an expired
	// transaction in the met lock's region at once (writers: prewrite and
	// pessimistic lock), instead of the met key only.
	PessimisticRegion bool
}

// With returns a view of r that resolves with opts: the LockResolver a
// snapshot gives pipeline.ResolveLocks is r.With(Options{ForRead: true}).
func (r *Resolver) With(opts Options) pipeline.LockResolver { return view{r, opts} }

type view struct {
	r    *Resolver
	opts Options
}

func (v view) ResolveLocks(ctx context.Context, callerStartTS uint64, locks []*kv.Lock) (pipeline.ResolveResult, error) {
	return v.r.ResolveLocksWith(ctx, callerStartTS, locks, v.opts)
}

// ResolveLocks resolves locks for a writer whose transaction started at
// callerStartTS (client-go's LockResolver.ResolveLocks): see
// ResolveLocksWith.
func (r *Resolver) ResolveLocks(ctx context.Context, callerStartTS uint64, locks []*kv.Lock) (pipeline.ResolveResult, error) {
	return r.ResolveLocksWith(ctx, callerStartTS, locks, Options{})
}

// ResolveLocksWith settles what it can of locks, met by a caller whose
// transaction reads or writes at callerStartTS (client-go's resolveLocks).
// For each lock it asks the transaction's status, then:
//
//   - a live lock is left alone; Live reports how long until the first
//     of them may expire;
//   - an expired lock's transaction is rolled back by the status check
//     itself (TiKV's check_txn_status), or, for async commit, decided by
//     its secondaries;
//   - the locks of a committed or rolled-back transaction are committed
//     or rolled back: only the met keys when the transaction is small
//     (TxnSize below the lite threshold, or opts.Lite), batched into one
//     request per region; otherwise every lock of the transaction in the
//     met lock's region, once per region;
//   - a pessimistic lock of a settled or expired transaction is rolled
//     back (KvPessimisticRollback), never committed: a committed
//     transaction did not prewrite that key.
//
// Resolved and Committed list the transactions a read at callerStartTS may
// skip or read through. The error is the first failure that kept a lock's
// status from being known or, for writers, its locks from being cleaned up.
func (r *Resolver) ResolveLocksWith(ctx context.Context, callerStartTS uint64, locks []*kv.Lock, opts Options) (pipeline.ResolveResult, error) {
	var res pipeline.ResolveResult
	if len(locks) == 0 {
		return res, nil
	}
	if err := refuseShared(locks); err != nil {
		return res, err
	}
	defer r.resolving.add(callerStartTS, locks)()
	c := &resolveCall{r: r, opts: opts, caller: callerStartTS, bo: r.newBackoffer(),
		cleaned: map[uint64]map[pdclient.RegionVer]bool{}, pessimisticCleaned: map[uint64]map[pdclient.RegionVer]bool{}}
	live, anyLive := time.Duration(0), false
	waitFor := func(l *kv.Lock, s TxnStatus) {
		d := r.oracle.UntilExpired(l.StartTS, ttlMs(s.TTL))
		if !anyLive || d < live {
			live, anyLive = d, true
		}
	}
	var lite []*liteBatch
	for _, l := range locks {
		s, batch, err := c.resolve(ctx, l, false)
		if err != nil {
			return pipeline.ResolveResult{}, err
		}
		if batch {
			lite = addToBatch(lite, l, s)
		}
		if !opts.ForRead && s.TTL != 0 {
			waitFor(l, s)
			continue
		}
		switch {
		case s.Action == kvrpcpb.Action_MinCommitTSPushed || s.IsRolledBack() ||
			(s.IsCommitted() && s.CommitTS > callerStartTS):
			res.Resolved = append(res.Resolved, l.StartTS)
		case s.IsCommitted():
			res.Committed = append(res.Committed, l.StartTS)
		default:
			waitFor(l, s)
		}
	}
	for _, b := range lite {
		if err := c.resolveLite(ctx, b); err != nil {
			return pipeline.ResolveResult{}, err
		}
	}
	res.Live = live
	return res, nil
}

// resolveCall is the state of one ResolveLocksWith call.
type resolveCall struct {
	r      *Resolver
	opts   Options
	caller uint64
	bo     *backoff.Backoffer // TxnNotFound waits
	// cleaned and pessimisticCleaned record, per transaction, the regions
	// already resolved as a whole in this call (client-go's cleanTxns).
	cleaned, pessimisticCleaned map[uint64]map[pdclient.RegionVer]bool
}

// resolve finds l's transaction's status and cleans l up when the
// transaction is settled (client-go's resolve closure). batch asks the
// caller to resolve l later with the other met keys of its transaction.
func (c *resolveCall) resolve(ctx context.Context, l *kv.Lock, forceSyncCommit bool) (s TxnStatus, batch bool, err error) {
	s, err = c.statusFromLock(ctx, l, forceSyncCommit)
	var mismatch *kv.PrimaryMismatchError
	switch {
	case errors.As(err, &mismatch):
		// The pessimistic lock names a key that is not its transaction's
		// primary (a stale lock left by a primary change): nothing can
		// commit it, so it is rolled back (client-go's resolve).
		if !isPessimistic(l) {
			return TxnStatus{}, false, err
		}
		s, err = TxnStatus{}, nil
	case err != nil:
		return TxnStatus{}, false, err
	}
	expired := c.r.oracle.UntilExpired(l.StartTS, ttlMs(s.TTL)) <= 0
	asyncExpired := s.PrimaryLock != nil && s.PrimaryLock.UseAsyncCommit && !forceSyncCommit && expired
	if s.TTL != 0 && !asyncExpired {
		return s, false, nil
	}
	cleaned, seen := c.cleaned[l.StartTS]
	if !seen {
		cleaned = map[pdclient.RegionVer]bool{}
		c.cleaned[l.StartTS] = cleaned
	}
	if asyncExpired {
		if seen {
			// This call already decided and resolved the transaction.
			return s, false, nil
		}
		s, err = c.resolveAsyncCommit(ctx, l, s)
		var fellBack *nonAsyncCommitError
		if errors.As(err, &fellBack) {
			// A secondary was prewritten without async commit: the
			// transaction fell back to two-phase commit, and its primary
			// decides as usual (force_sync_commit).
			return c.resolve(ctx, l, true)
		}
		return s, false, err
	}
	if isPessimistic(l) {
		return s, false, c.rollbackPessimistic(ctx, l)
	}
	if c.opts.Lite || l.TxnSize < c.r.liteThreshold {
		return s, true, nil
	}
	return s, false, c.resolveRegion(ctx, l, s, cleaned)
}

func isPessimistic(l *kv.Lock) bool {
	return l.Type == kvrpcpb.Op_PessimisticLock || l.Type == kvrpcpb.Op_SharedPessimisticLock
}

// ttlMs converts a TTL to TiKV's milliseconds.
func ttlMs(d time.Duration) uint64 { return uint64(d / time.Millisecond) }

func (r *Resolver) newBackoffer() *backoff.Backoffer {
	switch b := r.env.BackoffBudget; {
	case b < 0:
		return backoff.New()
	case b == 0:
		return backoff.WithBudget(pipeline.DefaultBackoffBudget)
	default:
		return backoff.WithBudget(b)
	}
}
