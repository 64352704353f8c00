package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline/backoff"
)

// maxSettledResends bounds how often ResolveLocks resends at once after the
// resolver settled every lock: a piece that keeps meeting new locks then
// backs off like one that met a live lock.
const maxSettledResends = 8

// LockResolver settles the locks a request met, so that the request can be
// sent again: the lock of a committed transaction is committed, that of a
// rolled-back or expired one rolled back, and a live one is left to its
// owner. Package txn's resolver implements it (client-go's LockResolver);
// the pipeline only calls it.
type LockResolver interface {
	// ResolveLocks tries to settle locks for a caller whose transaction
	// reads or writes at callerStartTS. It returns what became of them; an
	// error means it could not find out (the caller's request fails with
	// it).
	ResolveLocks(ctx context.Context, callerStartTS uint64, locks []*kv.Lock) (ResolveResult, error)
}

// ResolveResult is what a LockResolver found.
type ResolveResult struct {
	// Live is how long until the earliest lock still alive may expire; zero
	// when none is left alive, and the request may be sent again at once.
	Live time.Duration
	// Resolved lists the start ts of transactions whose locks a read at the
	// caller's ts may skip (rolled back, or committed after the read ts):
	// TiKV's Context.resolved_locks.
	Resolved []uint64
	// Committed lists the start ts of transactions committed at or before
	// the caller's ts, whose locked values a read may use: TiKV's
	// Context.committed_locks.
	Committed []uint64
}

// ResolveLockOption tunes ResolveLocks.
type ResolveLockOption func(*resolveConfig)

type resolveConfig struct {
	read bool
}

// ForReads makes ResolveLocks wait for live locks as a read does
// (client-go's snapshot reads): under the TxnLockFast policy (its base
// taken from the kv.Variables in the context, WithVariables), no longer
// than the lock has to live. Writes wait under TxnLock.
func ForReads() ResolveLockOption { return func(c *resolveConfig) { c.read = true } }

// ResolveLocks is the resolve-lock stage (client-rust's resolve_lock): it
// wraps a per-region Step, usually Retry with a Method whose Err maps key
// errors (plans.KeyErr), and when the step fails with a *kv.LockedError it
// hands the locks to r and sends the piece again: at once when every lock
// was settled, else after a backoff while the live ones may still expire.
// The waits spend the piece's one backoff budget, like every other retry
// of the request; when it runs out the caller gets a
// *kv.BackoffExhaustedError whose cause is the LockedError.
//
// startTS returns the caller's transaction ts from the request. seeThrough,
// when not nil, returns the request to send again given what the resolver
// learnt (the transactions a read may now skip or read through); reads set
// Context.resolved_locks and committed_locks with it, so TiKV need not be
// asked about those locks again. Nil sends the same request.
//
// Locks met by a write are resolved the same way; TiKV answers a write
// with the locks of other transactions it conflicts with. The stage never
// resends a request whose error is anything but a LockedError.
func ResolveLocks[Req, Resp any](e *Env, r LockResolver, startTS func(Req) uint64,
	seeThrough func(req Req, res ResolveResult) Req, next Step[Req, Resp], opts ...ResolveLockOption) Step[Req, Resp] {
	var cfg resolveConfig
	for _, o := range opts {
		o(&cfg)
	}
	return func(ctx context.Context, region *pdclient.Region, req Req) (Resp, error) {
		st := retryStateFrom(ctx, e)
		ctx = withRetryState(ctx, st) // a Step used on its own keeps one state across its tries
		settled := 0                  // resends after "all settled" that met locks again
		for {
			resp, err := next(ctx, region, req)
			var locked *kv.LockedError
			if err == nil || !errors.As(err, &locked) {
				return resp, err
			}
			// The resolver's own requests (status checks, resolves, some of
			// them writes) are not attempts of this piece: they get a retry
			// state of their own, sharing only the piece's backoff budget,
			// so that one of them whose outcome is unknown does not make
			// this piece's outcome unknown.
			rctx := withRetryState(ctx, &retryState{bo: st.bo, call: st.call, piece: st.piece, observed: st.observed, stats: st.stats})
			res, rerr := r.ResolveLocks(rctx, startTS(req), locked.Locks)
			if rerr != nil {
				var zero Resp
				return zero, fmt.Errorf("resolve %d lock(s) met: %w", len(locked.Locks), rerr)
			}
			if seeThrough != nil {
				req = seeThrough(req, res)
			}
			if res.Live <= 0 && settled < maxSettledResends {
				settled++
				continue
			}
			// Locks live on, or keep coming back although the resolver
			// settled them (new ones from a busy writer): wait.
			p, limit := backoff.TxnLock, time.Duration(-1)
			if cfg.read {
				// A reader sleeps no longer than the earliest live lock
				// lives (client-go's BackoffWithMaxSleepTxnLockFast).
				p = callVarsFrom(ctx).lockFast()
				if res.Live > 0 {
					limit = res.Live
				}
			}
			if werr := st.waitAtMost(ctx, p, err, limit); werr != nil {
				var zero Resp
				return zero, werr
			}
		}
	}
}
