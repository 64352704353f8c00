package twopc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
)

// Oracle hands out timestamps: *pdclient.Oracle (tikv.Cluster.Oracle)
// implements it.
type Oracle interface {
	// Now returns a timestamp greater than every one handed out before.
	Now(ctx context.Context) (uint64, error)
}

// Config is what a Committer runs on.
type Config struct {
	// Env is the transactional plan environment (tikv.Cluster.EnvFor(kv.ModeTxn)).
	Env *pipeline.Env
	// Resolver settles the locks of other transactions that a prewrite
	// meets. Nil means locks are never resolved: every lock met is a write
	// conflict (client-go's NoResolvePolicy).
	Resolver pipeline.LockResolver
	// LockResolver settles the locks a pessimistic lock request meets
	// (txnlock's PessimisticRegion view); nil uses Resolver. Pessimistic
	// locking needs one of them.
	LockResolver pipeline.LockResolver
	// Oracle gives the commit ts and the clock of heartbeats.
	Oracle Oracle
	// Group runs the work a commit leaves behind (committing secondaries,
	// rolling back a failed commit).
	Group *Group
	// Latches, when set, are the client's local latches (B9): a
	// transaction takes them before its prewrite and fails at once with
	// *LatchConflictError when another of the client's transactions
	// committed one of its keys after it started. Nil: no latches.
	Latches *Latches
	// PD, when set, scatters the regions a pre-split creates
	// (presplit_scatter.go); nil leaves them where the split put them.
	PD pdclient.PD
	// Options tune batching and lock lifetimes.
	Options Options
}

// Committer commits optimistic transactions with two-phase commit. It is
// built once per client (its plans are built once) and is safe for
// concurrent use; each Commit call is one transaction.
type Committer struct {
	env      *pipeline.Env
	resolver pipeline.LockResolver
	// lockResolver settles the locks pessimistic lock requests meet.
	lockResolver pipeline.LockResolver
	oracle       Oracle
	group        *Group
	latches      *Latches
	opts         Options
	pd           pdclient.PD

	prewrite          pipeline.Plan[*prewriteReq, []pipeline.Part[*prewriteReq, *kvrpcpb.PrewriteResponse]]
	commitPrimary     pipeline.Plan[*kvrpcpb.CommitRequest, []pipeline.Part[*kvrpcpb.CommitRequest, *kvrpcpb.CommitResponse]]
	commitSecondaries pipeline.Plan[*kvrpcpb.CommitRequest, []pipeline.PieceOutcome[*kvrpcpb.CommitRequest, *kvrpcpb.CommitResponse]]
	rollback          pipeline.Plan[*kvrpcpb.BatchRollbackRequest, []pipeline.PieceOutcome[*kvrpcpb.BatchRollbackRequest, *kvrpcpb.BatchRollbackResponse]]
	heartbeat         pipeline.Plan[*kvrpcpb.TxnHeartBeatRequest, *kvrpcpb.TxnHeartBeatResponse]
	// pessimisticLock and pessimisticRollback serve pessimistic
	// transactions (pessimistic.go).
	pessimisticLock     pipeline.Plan[*lockReq, []pipeline.Part[*lockReq, *kvrpcpb.PessimisticLockResponse]]
	pessimisticRollback pipeline.Plan[*kvrpcpb.PessimisticRollbackRequest, []pipeline.PieceOutcome[*kvrpcpb.PessimisticRollbackRequest, *kvrpcpb.PessimisticRollbackResponse]]
	preSplitPlan        pipeline.Plan[*kvrpcpb.SplitRegionRequest, []pipeline.Part[*kvrpcpb.SplitRegionRequest, *kvrpcpb.SplitRegionResponse]]
	// checkLocks settles an async-commit or 1PC prewrite left
	// undetermined (prewrite_settle.go).
	checkLocks pipeline.Plan[*kvrpcpb.CheckSecondaryLocksRequest, []pipeline.Part[*kvrpcpb.CheckSecondaryLocksRequest, *kvrpcpb.CheckSecondaryLocksResponse]]
}

// New builds a Committer. Env, Oracle and Group are required.
func New(cfg Config) (*Committer, error) {
	if cfg.Env == nil || cfg.Oracle == nil || cfg.Group == nil {
		return nil, fmt.Errorf("twopc: Env, Oracle and Group are required: %w", kv.ErrInvalidArgument)
	}
	c := &Committer{resolver: cfg.Resolver, oracle: cfg.Oracle, group: cfg.Group, latches: cfg.Latches, opts: cfg.Options.withDefaults(), pd: cfg.PD}
	c.lockResolver = cfg.LockResolver
	if c.lockResolver == nil {
		c.lockResolver = cfg.Resolver
	}
	// The committer counts its own RPCs per transaction (CommitDetails): a
	// copy of the Env whose sender counts the attempts of the call whose
	// context carries a counter.
	env := *cfg.Env
	env.Sender = countingSender{next: cfg.Env.Sender}
	c.env = &env
	c.buildPlans()
	c.buildPreSplit()
	return c, nil
}

// Request is one transaction to commit.
type Request struct {
	// StartTS is the transaction's start ts.
	StartTS uint64
	// Mutations are the transaction's changes, one per key. They are
	// committed in key order whatever their order here; the slice is not
	// modified.
	Mutations []Mutation
	// Primary, when set, is the primary key; it must be the key of a
	// mutation other than CheckNotExists. Unset, the primary is the first
	// such mutation's key (client-go's choice).
	Primary []byte
	// Began is when the transaction began (local clock): the time it has
	// lived is added to its lock TTL. Zero adds nothing.
	Began time.Time
	// AssertionLevel tells TiKV how strictly to check Mutation.Assertion.
	AssertionLevel kvrpcpb.AssertionLevel
	// Context is the request context of the transaction's prewrites,
	// commits, rollbacks and heartbeats; its zero fields take
	// Options.Context's.
	Context RequestContext

	// AsyncCommit, OnePC and CausalConsistency choose the transaction's
	// commit protocol over Options' (protocol.go).
	AsyncCommit, OnePC, CausalConsistency Switch
	// CommitWaitUntilTSO, when set, makes the commit ts (and an async
	// commit's or 1PC's min commit ts) exceed it: the commit waits for
	// the TSO to pass it, at most CommitWaitTimeout
	// (DefaultCommitWaitTimeout when zero; negative: fail at once with
	// *CommitTSLagError when the TSO lags).
	CommitWaitUntilTSO uint64
	CommitWaitTimeout  time.Duration
	// CommitTSUpperBound, when set, must accept the commit ts before the
	// primary is committed, else the commit fails with
	// *CommitTSUpperBoundError. It turns async commit and 1PC off, whose
	// commit ts is only known once the transaction is committed.
	CommitTSUpperBound func(commitTS uint64) bool

	// ForUpdateTS, set, commits a pessimistic transaction
	// (pessimistic_prewrite.go): the prewrite carries it, and the
	// mutations with Pessimistic set are checked against the transaction's
	// pessimistic locks instead of for write conflicts.
	ForUpdateTS uint64
	// StashedError, set, is returned once every prewrite succeeded,
	// instead of committing (the locks are rolled back): a failure the
	// client found before the prewrite that the prewrite's own answer
	// would supersede (client-go's stashedAssertionError, an assertion
	// the pessimistic locks' reads contradict; lost locks would fail the
	// prewrite instead). It turns async commit and 1PC off, which would
	// commit at prewrite.
	StashedError error
}

// CommitDetails describes a commit, for the caller's logs and metrics
// (client-go's util.CommitDetails). It is returned whatever the outcome;
// fields of phases not reached are zero.
type CommitDetails struct {
	// StartTS and CommitTS are the transaction's timestamps; CommitTS is
	// zero unless the primary committed.
	StartTS, CommitTS uint64
	// Primary is the primary key.
	Primary []byte
	// Keys counts mutations; WriteSize their key and value bytes.
	Keys, WriteSize int
	// LockTTL is the TTL the locks were written with.
	LockTTL time.Duration

	// LatchWaitTime is the time spent taking the local latches.
	LatchWaitTime time.Duration
	// PrewriteTime, CommitTSTime and CommitPrimaryTime time the phases:
	// prewrite of every batch, the commit ts (all fetches), the primary
	// batch's commit (all tries).
	PrewriteTime, CommitTSTime, CommitPrimaryTime time.Duration
	// PrewriteRegions counts the regions the prewrite was first split
	// into; PrewriteBatches its batches, those re-split after stale
	// routing included.
	PrewriteRegions, PrewriteBatches int
	// LocksMet counts locks of other transactions the prewrite met.
	LocksMet int
	// CommitTSRetries counts commit ts TiKV refused (CommitTsExpired),
	// each answered with a fresh one.
	CommitTSRetries int
	// PrimaryBatchKeys counts the keys committed with the primary;
	// SecondaryKeys those left to the background commit.
	PrimaryBatchKeys, SecondaryKeys int

	// TSOCalls counts the oracle's timestamps the commit asked for.
	TSOCalls int
	// PrewriteRPCs, CommitRPCs and HeartbeatRPCs count the attempts
	// sent before Commit returned (retries included; not the background
	// work, nor the resolver's RPCs).
	PrewriteRPCs, CommitRPCs, HeartbeatRPCs int
	// Heartbeats counts heartbeats TiKV accepted.
	Heartbeats int

	// PreSplitRegions counts the regions split before the prewrite
	// because they held too many of the transaction's mutations
	// (Options.PreSplitKeys); PreSplitErr is the pre-split's failure,
	// which does not fail the commit (client-go logs it and goes on).
	PreSplitRegions int
	PreSplitErr     error
	// ScatteredRegions counts the new regions PD accepted to scatter after
	// the pre-split; ScatterErr is the first scatter or wait failure,
	// which does not fail the commit either (client-go logs it).
	ScatteredRegions int
	ScatterErr       error

	// PrewriteExec and CommitExec sum the exec details TiKV returned
	// (kvrpcpb.ExecDetailsV2: time and write details) with the prewrite
	// answers and the primary commit's answers; SlowestPrewrite is the
	// slowest prewrite attempt answered and CommitPrimaryRequest the
	// slowest primary commit attempt answered (client-go's
	// SlowestPrewrite and CommitPrimary).
	PrewriteExec, CommitExec              ExecDetails
	SlowestPrewrite, CommitPrimaryRequest RequestDetail
	// PrewriteBackoff is the longest one prewrite batch slept between
	// its retries (client-go keeps the largest of its batches'
	// backoffers), PrewriteBackoffKinds the policies that batch slept
	// under, in order. CommitBackoff and CommitBackoffKinds are the
	// primary commit's sleeps.
	PrewriteBackoff      time.Duration
	PrewriteBackoffKinds []string
	CommitBackoff        time.Duration
	CommitBackoffKinds   []string

	// SecondariesQueued says the secondaries' commit was handed to the
	// Group; RollbackQueued that a rollback of the prewritten locks was.
	SecondariesQueued, RollbackQueued bool

	// Protocol is how the transaction was committed (or tried to be).
	// AsyncCommitFallback and OnePCFallback say TiKV refused the
	// protocol tried (min_commit_ts or one_pc_commit_ts 0) and the
	// transaction fell back to two-phase commit.
	Protocol                           Protocol
	AsyncCommitFallback, OnePCFallback bool
	// MinCommitTSTime times the TSO fetch of an async commit's or 1PC's
	// min commit ts; CommitWaitTime the waits for the TSO to pass
	// Request.CommitWaitUntilTSO, CommitWaitRetries their fetches.
	MinCommitTSTime, CommitWaitTime time.Duration
	CommitWaitRetries               int

	// PrewriteSettled says an async-commit or 1PC prewrite ended with a
	// batch whose outcome was unknown and TiKV's answer to its retry a key
	// error, and a check of the transaction's keys decided the outcome
	// (prewrite_settle.go). PrewriteSettleErr is why such a check left
	// the outcome undetermined (it failed, or its answers contradicted
	// each other).
	PrewriteSettled   bool
	PrewriteSettleErr error
}

// maxCommitTSRetries bounds the fresh commit ts tried after TiKV refused
// one: each refusal means a reader pushed the primary's min_commit_ts past
// a ts the oracle had just given, which a new ts overtakes at once.
const maxCommitTSRetries = 16

// maxMinCommitTSGap is client-go's limit on how far min_commit_ts may be
// ahead of the refused commit ts for a retry to be tried (1 h, 3600000<<18).
const maxMinCommitTSGap = 3600000 << 18

// Commit runs two-phase commit for req. On success the transaction is
// committed: its primary is, and the secondaries are being committed on the
// Group. It fails with:
//   - *kv.WriteConflictError (kv.ErrTxnRetryable) when a newer write or a
//     newer transaction's lock was met at prewrite, *kv.AlreadyExistError
//     for an Insert or CheckNotExists of an existing key, any other typed
//     prewrite or resolver error; the prewritten locks are rolled back;
//   - kv.ErrUndetermined when the primary's commit may or may not have
//     applied; nothing is rolled back;
//   - kv.ErrUndetermined for an async-commit or 1PC prewrite that left a
//     batch's outcome unknown (readers may commit the transaction from its
//     locks), unless TiKV answered that batch's retry with a key error:
//     then a check of the keys settles it (prewrite_settle.go), to success
//     when the transaction is found committed, else to the prewrite's
//     error with the locks rolled back;
//   - *kv.TxnLockNotFoundError when the primary's lock was rolled back by
//     another transaction before the commit reached it: the transaction
//     failed, and the rest is rolled back;
//   - *TxnTooOldError when the commit ts is more than MaxTxnTimeUse after
//     the start ts (rolled back too);
//   - *LatchConflictError, with Config.Latches, when another of the
//     client's transactions committed one of the keys after the start ts;
//     nothing was sent.
//
// An empty transaction commits at once, with no RPC.
func (c *Committer) Commit(ctx context.Context, req Request) (CommitDetails, error) {
	d := CommitDetails{StartTS: req.StartTS, Keys: len(req.Mutations)}
	if req.StartTS == 0 || req.StartTS == math.MaxUint64 {
		return d, fmt.Errorf("twopc: invalid start ts %d: %w", req.StartTS, kv.ErrInvalidArgument)
	}
	if len(req.Mutations) == 0 {
		return d, nil
	}
	t, err := c.newTxn(ctx, req, &d)
	if err != nil {
		return d, err
	}
	if c.latches != nil {
		// client-go's KVTxn.Commit takes the latches of every mutation's
		// key before any RPC and records the commit ts on success.
		start := time.Now()
		keys := make([][]byte, len(t.muts))
		for i, m := range t.muts {
			keys[i] = m.Key
		}
		guard, err := c.latches.Acquire(ctx, t.startTS, keys)
		d.LatchWaitTime = time.Since(start)
		if err != nil {
			return d, err
		}
		defer func() { guard.Release(d.CommitTS) }()
	}
	err = c.run(t, req, &d)
	t.finish(&d)
	return d, err
}

func (c *Committer) run(t *txn, req Request, d *CommitDetails) error {
	c.preSplit(t, d)
	if err := c.prepareProtocol(t, req.Began, d); err != nil {
		return err // nothing was written
	}
	if err := c.runPrewrite(t, d); err != nil {
		pe := &PrewriteError{StartTS: t.startTS, Cause: err}
		if t.prewriteUndetermined(pe) {
			if settled, err := c.settlePrewrite(t, pe, d); settled {
				return err
			}
			// No rollback: readers may be committing the transaction.
			return fmt.Errorf("twopc: %v prewrite of txn %d: %w", t.proto.tried(), t.startTS, pe.decisive())
		}
		c.queueRollback(t, d)
		return pe
	}
	if req.StashedError != nil {
		c.queueRollback(t, d)
		return req.StashedError
	}
	if done, err := c.finishFast(t, d); done {
		return err
	}
	if len(t.commitKeys) == 0 {
		// Only CheckNotExists keys: they were checked and left nothing.
		return nil
	}
	committed, err := c.runCommitPrimary(t, d)
	if err != nil {
		if !errors.Is(err, kv.ErrUndetermined) {
			c.queueRollback(t, d)
		}
		return fmt.Errorf("twopc: commit of txn %d: %w", t.startTS, err)
	}
	c.queueSecondaries(t, committed, d)
	return nil
}

// txn is one Commit call's state, shared with the plans' steps through
// the requests they carry.
type txn struct {
	committer   *Committer
	ctx         context.Context // the Commit call's, carrying its RPC counter
	startTS     uint64
	primary     []byte
	muts        []*kvrpcpb.Mutation // key order
	commitKeys  [][]byte            // keys to commit or roll back, key order
	lockTTL     time.Duration
	size        int
	forUpdateTS uint64 // pessimistic transactions only
	// pessimistic holds the prewrite action of the mutations prewritten
	// with DO_PESSIMISTIC_CHECK or DO_CONSTRAINT_CHECK; nil for an
	// optimistic transaction.
	pessimistic map[*kvrpcpb.Mutation]kvrpcpb.PrewriteRequest_PessimisticAction
	// expectedForUpdateTS holds Mutation.ExpectedForUpdateTS of the
	// mutations that set it (pessimistic_prewrite.go).
	expectedForUpdateTS map[*kvrpcpb.Mutation]uint64
	assertionLevel      kvrpcpb.AssertionLevel
	// writeCtx and rollbackCtx are the Context templates of the
	// transaction's requests (RequestContext); shared, never modified.
	writeCtx, rollbackCtx *kvrpcpb.Context

	proto protocolState // async commit, 1PC, commit wait (protocol.go)

	rpcs     *rpcCounter
	batches  atomic.Int32
	regions  atomic.Int32
	locksMet atomic.Int32
	// heldAssertion is the first assertion failure of a prewrite batch,
	// held until every batch answered (prewrite.go).
	heldAssertion atomic.Pointer[error]

	heartbeat   bool // the primary lock needs heartbeats
	hbOnce      sync.Once
	hbCancel    context.CancelFunc
	hbDone      chan struct{}
	heartbeatOK atomic.Int32
}

func (c *Committer) newTxn(ctx context.Context, req Request, d *CommitDetails) (*txn, error) {
	t := &txn{committer: c, startTS: req.StartTS, rpcs: &rpcCounter{}, assertionLevel: req.AssertionLevel}
	rc := req.Context.over(c.opts.Context)
	t.writeCtx, t.rollbackCtx = rc.writeContext(), rc.rollbackContext()
	t.ctx = context.WithValue(ctx, rpcCounterKey{}, t.rpcs)
	t.muts = make([]*kvrpcpb.Mutation, len(req.Mutations))
	slab := make([]kvrpcpb.Mutation, len(req.Mutations)) // one allocation, not one per key
	for i := range req.Mutations {
		m := &req.Mutations[i]
		slab[i] = kvrpcpb.Mutation{Op: m.Op, Key: m.Key, Value: m.Value, Assertion: m.Assertion}
		t.muts[i] = &slab[i]
		t.size += m.size()
	}
	t.notePessimistic(req)
	slices.SortFunc(t.muts, func(a, b *kvrpcpb.Mutation) int { return bytes.Compare(a.Key, b.Key) })
	t.commitKeys = make([][]byte, 0, len(t.muts))
	for _, m := range t.muts {
		if m.Op != kvrpcpb.Op_CheckNotExists {
			t.commitKeys = append(t.commitKeys, m.Key)
		}
	}
	if req.Primary != nil {
		if _, ok := slices.BinarySearchFunc(t.commitKeys, req.Primary, bytes.Compare); !ok {
			return nil, fmt.Errorf("twopc: primary %q is not a written key of txn %d: %w", req.Primary, req.StartTS, kv.ErrInvalidArgument)
		}
		t.primary = req.Primary
	} else {
		t.primary = req.Mutations[pickPrimary(req.Mutations)].Key
	}
	if err := checkSharedPrimary(req, t.primary); err != nil {
		return nil, err
	}
	var elapsed time.Duration
	if !req.Began.IsZero() {
		elapsed = time.Since(req.Began)
	}
	t.lockTTL = LockTTL(t.size, elapsed, c.opts.ManagedLockTTL)
	// client-go's prewrite starts the ttlManager once the primary is
	// prewritten if the transaction is larger than TTLRefreshedTxnSize.
	t.heartbeat = c.opts.HeartbeatTxnSize >= 0 && t.size > c.opts.HeartbeatTxnSize
	c.chooseProtocol(t, req)
	d.Primary, d.WriteSize, d.LockTTL = t.primary, t.size, t.lockTTL
	return t, nil
}

// finish stops the heartbeats and fills in the counts gathered by steps.
func (t *txn) finish(d *CommitDetails) {
	t.stopHeartbeat()
	d.PrewriteBatches = int(t.batches.Load())
	d.PrewriteRegions = int(t.regions.Load())
	d.LocksMet = int(t.locksMet.Load())
	d.PrewriteRPCs = int(t.rpcs.prewrite.Load())
	d.CommitRPCs = int(t.rpcs.commit.Load())
	d.HeartbeatRPCs = int(t.rpcs.heartbeat.Load())
	d.Heartbeats = int(t.heartbeatOK.Load())
	d.TSOCalls += int(t.rpcs.tso.Load())
	t.rpcs.exec.fill(d)
}

func (c *Committer) now(t *txn) (uint64, error) {
	t.rpcs.tso.Add(1)
	return c.oracle.Now(t.ctx)
}
