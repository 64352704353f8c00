package gc

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	pdgc "github.com/tikv/pd/client/clients/gc"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/rangetask"
	"github.com/tikvgo/tikv/txn/txnlock"
)

// Backend is what GC runs on: a cluster connection. *tikv.Cluster
// implements it.
type Backend interface {
	EnvFor(mode kv.KeyMode) *pipeline.Env
	Oracle() *pdclient.Oracle
	PD() pdclient.PD
	KeyspaceID() uint32
	APIVersion() kvrpcpb.APIVersion
}

// controllerPD is the part of pd/client's Client (and of mocktikv's
// in-process PD) that moves the GC states. pdclient.PD leaves it out: only
// the GC worker may call it.
type controllerPD interface {
	GetGCInternalController(keyspaceID uint32) pdgc.InternalController
}

// GCScanLockLimit is how many locks one KvScanLock returns at most
// (client-go's GCScanLockLimit, half its resolved-transaction cache).
const GCScanLockLimit = 1024

// DefaultConcurrency is how many regions the lock sweep works on at once
// (client-go's KVStore.GC default).
const DefaultConcurrency = 8

// Phase names the step of a GC round a Progress report belongs to.
type Phase string

// The phases of a GC round, in order.
const (
	PhaseAdvanceTxnSafePoint Phase = "advance-txn-safe-point"
	PhaseResolveLocks        Phase = "resolve-locks"
	PhaseAdvanceGCSafePoint  Phase = "advance-gc-safe-point"
	PhaseDone                Phase = "done"
)

// Progress is one report of a running GC round.
type Progress struct {
	Phase Phase
	// TxnSafePoint is the txn safe point the round works with, once
	// advanced.
	TxnSafePoint uint64
	// Regions counts the regions the lock sweep finished and failed so
	// far.
	Regions rangetask.Stat
}

// Result is the outcome of a GC round.
type Result struct {
	// TxnSafePoint is the txn safe point PD granted: the expected safe
	// point, or less when a GC barrier (Blocker) held it back.
	TxnSafePoint uint64
	// Blocker describes what held the txn safe point back, if anything.
	Blocker string
	// GCSafePoint is PD's GC safe point after the round.
	GCSafePoint uint64
	// Regions counts the regions whose locks were swept.
	Regions rangetask.Stat
}

// Option tunes Run.
type Option func(*config)

type config struct {
	concurrency int
	progress    func(Progress)
}

// WithConcurrency bounds how many regions the lock sweep works on at once
// (client-go's GCOpt WithConcurrency); default DefaultConcurrency.
func WithConcurrency(n int) Option { return func(c *config) { c.concurrency = n } }

// WithProgress makes Run report each phase and the sweep's progress to f,
// from the goroutines doing the work: f must be safe for concurrent use
// and quick.
func WithProgress(f func(Progress)) Option { return func(c *config) { c.progress = f } }

// Run runs one GC round with expectedSafePoint as the target (client-go's
// KVStore.GC): see the package documentation for its steps. The sweep
// covers the client's keyspace (the whole key space under API v1) and the
// GC states are the ones that keyspace is under (pdclient.GCStateKeyspace).
// A keyspace that follows the unified GC (no keyspace-level GC) cannot be
// collected on its own: PD refuses the internal GC API for it
// (ErrGCOnInvalidKeyspace): the unified GC is driven from the null
// keyspace, by a client not bound to a keyspace.
//
// A failure leaves PD's states where they got to: the txn safe point may
// have advanced with the GC safe point behind, which the next round (with
// the same or a larger target) completes. Run stops promptly when ctx ends.
func Run(ctx context.Context, b Backend, expectedSafePoint uint64, opts ...Option) (res Result, err error) {
	cfg := config{concurrency: DefaultConcurrency, progress: func(Progress) {}}
	for _, o := range opts {
		o(&cfg)
	}
	ctl, err := controller(b)
	if err != nil {
		return Result{}, err
	}
	env := b.EnvFor(kv.ModeTxn)
	ctx, finish := pipeline.BeginCall(ctx, env, "GC")
	defer func() { finish(err) }()

	cfg.progress(Progress{Phase: PhaseAdvanceTxnSafePoint})
	adv, err := ctl.AdvanceTxnSafePoint(ctx, expectedSafePoint)
	if err != nil {
		return Result{}, fmt.Errorf("gc: advance txn safe point to %d: %w", expectedSafePoint, err)
	}
	// PD advances no further than the GC barriers allow; the round
	// collects only below what it granted (client-go's GC does the same).
	res.TxnSafePoint, res.Blocker = min(expectedSafePoint, adv.NewTxnSafePoint), adv.BlockerDescription

	cfg.progress(Progress{Phase: PhaseResolveLocks, TxnSafePoint: res.TxnSafePoint})
	resolver := txnlock.New(env, b.Oracle())
	sweep := &lockSweep{env: env, resolver: resolver, maxVersion: res.TxnSafePoint, limit: GCScanLockLimit}
	runner := rangetask.New(fmt.Sprintf("gc-resolve-locks-%d", res.TxnSafePoint), env, sweep.run,
		rangetask.WithConcurrency(cfg.concurrency),
		rangetask.WithProgress(func(s rangetask.Stat) {
			cfg.progress(Progress{Phase: PhaseResolveLocks, TxnSafePoint: res.TxnSafePoint, Regions: s})
		}))
	res.Regions, err = runner.Run(ctx, nil, nil)
	if err != nil {
		return res, fmt.Errorf("gc: resolve locks below %d: %w", res.TxnSafePoint, err)
	}

	cfg.progress(Progress{Phase: PhaseAdvanceGCSafePoint, TxnSafePoint: res.TxnSafePoint, Regions: res.Regions})
	gcAdv, err := ctl.AdvanceGCSafePoint(ctx, res.TxnSafePoint)
	if err != nil {
		return res, fmt.Errorf("gc: advance GC safe point to %d: %w", res.TxnSafePoint, err)
	}
	res.GCSafePoint = gcAdv.NewGCSafePoint
	cfg.progress(Progress{Phase: PhaseDone, TxnSafePoint: res.TxnSafePoint, Regions: res.Regions})
	return res, nil
}

// keyspace is the keyspace whose GC states b works under.
func keyspace(b Backend) uint32 {
	return pdclient.GCStateKeyspace(b.KeyspaceID(), b.APIVersion() == kvrpcpb.APIVersion_V2)
}

// controller returns the GC controller of b's keyspace.
func controller(b Backend) (pdgc.InternalController, error) {
	pd, ok := b.PD().(controllerPD)
	if !ok {
		return nil, kv.InvalidArgument("gc: PD client %T cannot advance GC states", b.PD())
	}
	return pd.GetGCInternalController(keyspace(b)), nil
}
