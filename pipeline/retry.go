package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline/backoff"
	"github.com/tikvgo/tikv/transport"
)

// maxLeaderHints bounds how many NotLeader hints one Retry follows
// without waiting, so peers that name each other cannot make it spin.
const maxLeaderHints = 10

// configurableTimeoutLimit: a read whose max_execution_duration_ms is below
// this runs under a caller-chosen short timeout; when it times out, the
// replica is skipped and the next one tried at once instead of backing off
// (client-go's isReadReqConfigurableTimeout against ReadTimeoutShort).
const configurableTimeoutLimit = 30 * time.Second

// Retry returns the Step that sends a request to one region and retries
// within the region until TiKV gives an answer that is not a routing
// problem.
//
// Each attempt's replica is chosen by a replica selector (client-go's
// replicaSelector): the leader for writes and default reads; followers,
// learners, a mix, the healthy leader first, or a stale read for reads with
// ReadOptions in the context. Per attempt Retry fills in the request's
// kvrpcpb.Context (region, epoch, peer, replica_read, stale_read,
// is_retry_request, max_execution_duration_ms) on a copy, so the caller's
// request is never modified and can be reused.
//
// TiKV's region errors are handled as client-go's region_request.go does
// (see handleRegionError). Errors that mean the region itself changed
// update the region cache and return a non-fatal *kv.RegionError, so that
// Shard or Stream re-routes the piece; so does running out of replicas.
//
// A send failure is reported to the routing layer (which checks the store's
// health, so the selector skips a dead store), then Retry backs off
// (TiKVRPC) and retries on the replica the selector picks next. A command
// that is not idempotent is never sent again once an attempt may have
// reached TiKV: Retry returns kv.ErrUndetermined carrying the cause,
// unless the error proves the request never left (transport.ErrNotSent),
// and so it does after StaleCommand, which TiKV may answer for a command
// it went on to apply. An idempotent write that fails after such an
// attempt is reported as kv.ErrUndetermined too. When the context ends the
// caller gets a *kv.BackoffExhaustedError carrying the last cause.
//
// Called from Shard or Stream, Retry spends the request's one backoff
// budget and continues its attempt numbering across re-routes; called on
// its own, it starts a budget of its own. The kv.Variables in the context
// (WithVariables) scale that budget, and their raised kill flag stops an
// interruptible command before its next attempt and any command after a
// backoff sleep, with a *kv.QueryInterruptedError.
func Retry[Req transport.Message, Resp Response](e *Env, m Method[Req, Resp]) Step[Req, Resp] {
	timeout := e.timeout(m.Read)
	if err := e.checkMode(m.Cmd); err != nil {
		return func(context.Context, *pdclient.Region, Req) (Resp, error) {
			var zero Resp
			return zero, err
		}
	}
	return func(ctx context.Context, r *pdclient.Region, req Req) (Resp, error) {
		st := retryStateFrom(ctx, e)
		d := regionRetry[Req, Resp]{env: e, m: m, timeout: timeout, bo: st.bo, st: st, interruptible: Interruptible(m.Cmd)}
		resp, err := d.run(ctx, r, req)
		if err != nil && !isReroute(err) {
			err = st.settle(err)
		}
		return resp, err
	}
}

// isReroute reports the non-fatal region error that hands a piece back to
// Shard or Stream. A region error a retry loop gave up on (inside a
// *kv.BackoffExhaustedError) or one already judged undetermined is final.
func isReroute(err error) bool {
	var re *kv.RegionError
	var be *kv.BackoffExhaustedError
	return errors.As(err, &re) && !re.Fatal && !errors.As(err, &be) && !errors.Is(err, kv.ErrUndetermined)
}

// regionRetry is the state of one Retry call.
type regionRetry[Req transport.Message, Resp Response] struct {
	env     *Env
	m       Method[Req, Resp]
	timeout time.Duration
	bo      *backoff.Backoffer
	st      *retryState
	sel     *replicaSelector
	// selector is what sel points at: the state's own, not a separate
	// allocation.
	selector replicaSelector
	// first is the first attempt's Request, held here so that it costs no
	// allocation of its own; later attempts get new ones, as a transport
	// may still hold an earlier attempt's Request after giving up on it.
	first     transport.Request
	firstUsed bool
	// interruptible says a raised kill flag stops the command's attempts
	// (Interruptible).
	interruptible bool
	// hints counts NotLeader hints followed.
	hints int
	// lastCause is the error behind the latest retry. When the context
	// ends between waits, the caller gets it rather than a bare context
	// error.
	lastCause error
	// sendFailure is the latest failed send, kept apart because it says
	// best why replicas ran out (a dead store) when region errors follow.
	sendFailure error
}

// noReplicaCause explains why no replica is left: the stores found
// unreachable (with their latest send failure), the latest send failure of
// this call, and the latest region error.
func (d *regionRetry[Req, Resp]) noReplicaCause() error {
	var causes []error
	for _, r := range d.sel.replicas {
		id := r.peer.GetStoreId()
		if h := d.env.Locator.StoreHealth(id); h.Liveness == pdclient.Unreachable {
			causes = append(causes, &kv.StoreUnreachableError{StoreID: id, Cause: h.LastFailure})
		}
	}
	if d.sendFailure != nil && len(causes) == 0 {
		causes = append(causes, d.sendFailure)
	}
	if d.lastCause != nil && d.lastCause != d.sendFailure {
		causes = append(causes, d.lastCause)
	}
	return kv.Join(causes...)
}

// leaderRefused returns, when no replica is left, the error that ends the
// piece at once because the Env's StoreGuard refuses the region's leader
// (its store's circuit breaker is open): a write, or a read that only the
// leader can serve now, would otherwise back off and re-route until the
// guard lets attempts through again. The error wraps the guard's, which
// says the attempt was not sent.
func (d *regionRetry[Req, Resp]) leaderRefused() error {
	guard := d.env.StoreGuard
	leader := d.sel.region.Leader()
	if guard == nil || leader == nil {
		return nil
	}
	refusal := guard(leader.GetStoreId())
	if refusal == nil {
		return nil
	}
	// The replicas' failures are described, not wrapped: a region error
	// among them would make the piece look re-routable again.
	return fmt.Errorf("%s to region %d: no replica can serve and the leader's store %d is refused: %w (replicas: %v)",
		d.m.Cmd, d.sel.region.ID(), leader.GetStoreId(), refusal, d.noReplicaCause())
}

func (d *regionRetry[Req, Resp]) giveUp(ctx context.Context, err error) error {
	if ctx.Err() != nil && d.lastCause != nil {
		return d.bo.Exhausted(ctx, backoff.TiKVRPC, d.lastCause)
	}
	return err
}

// reroute is the error that hands the piece back to Shard or Stream: the
// region cache has (or will load) better routing.
func reroute(r *pdclient.Region, rerr *errorpb.Error, cause error) *kv.RegionError {
	return &kv.RegionError{RegionID: r.ID(), Err: rerr, Cause: cause}
}

// noReplica is what client-go expresses as a "fake" EpochNotMatch: no
// replica of the cached region can serve, so the region must be loaded
// again. It carries no TiKV error (Err is nil): what happened is the cause.
func noReplica(r *pdclient.Region, cause error) *kv.RegionError {
	return &kv.RegionError{RegionID: r.ID(), Cause: cause}
}

func (d *regionRetry[Req, Resp]) run(ctx context.Context, r *pdclient.Region, req Req) (Resp, error) {
	var zero Resp
	m, e := d.m, d.env
	opts := ReadOptionsFrom(ctx)
	if m.Read && len(opts.MatchLabels) > 0 {
		// Labels are known only for stores already resolved: resolve the
		// region's stores first, as client-go does when it loads a region
		// (a failure leaves that store unmatched).
		for _, p := range r.Peers() {
			_, _ = e.Locator.Store(ctx, p.GetStoreId())
		}
	}
	d.sel = &d.selector
	d.sel.init(e.Locator, r, m.Read, opts)
	d.sel.fwd = e.Forwarding
	for {
		if err := ctx.Err(); err != nil {
			return zero, d.giveUp(ctx, err)
		}
		t, ok := d.sel.next()
		if !ok {
			if cause, ok := d.sel.anyPending(); ok {
				if err := d.st.wait(ctx, backoff.ServerBusy, cause); err != nil {
					return zero, err
				}
			}
			if err := d.leaderRefused(); err != nil {
				return zero, err
			}
			cause := d.noReplicaCause()
			if d.sel.proxiesExhausted {
				// The last proxy's failure says why forwarding did not
				// help; the unreachable leader alone would not.
				cause = kv.Join(ErrProxiesExhausted, d.sendFailure, cause)
			}
			return zero, noReplica(d.sel.region, cause)
		}
		storeID := t.replica.peer.GetStoreId()
		if cause, ok := d.sel.pendingBackoff(storeID); ok {
			if err := d.st.wait(ctx, backoff.ServerBusy, cause); err != nil {
				return zero, err
			}
		}
		store, err := e.Locator.Store(ctx, storeID)
		if err != nil {
			if ctx.Err() != nil || isTerminal(err) {
				return zero, d.giveUp(ctx, err)
			}
			// PD cannot say where the store is (or it was removed): try
			// another replica after a PD backoff.
			d.lastCause = fmt.Errorf("resolve store %d of region %d: %w", storeID, r.ID(), err)
			if errors.Is(err, pdclient.ErrStoreTombstone) {
				if !d.sel.isLeader(t.replica) {
					// A follower whose store PD buried while the region
					// still lists its peer (client-go leaves such peers out
					// when it loads the region): skip it; the others may
					// serve. Reloading would bring the same peer back.
					t.replica.flags |= flagStoreGone
					continue
				}
				// The leader's store is gone: the cached region is stale.
				e.Locator.Invalidate(d.sel.region)
				return zero, noReplica(d.sel.region, d.lastCause)
			}
			if werr := d.st.wait(ctx, backoff.PDRPC, d.lastCause); werr != nil {
				return zero, werr
			}
			continue
		}

		// With a proxy the bytes go to the proxy's store, which forwards
		// them to the target's (Forwarding); the hop the client makes, and
		// so the store whose failure it reports, is the proxy's.
		sendTo := store
		if t.proxy != nil {
			ps, err := e.Locator.Store(ctx, t.proxy.peer.GetStoreId())
			if err != nil {
				if ctx.Err() != nil || isTerminal(err) {
					return zero, d.giveUp(ctx, err)
				}
				d.lastCause = fmt.Errorf("resolve proxy store %d of region %d: %w", t.proxy.peer.GetStoreId(), r.ID(), err)
				if werr := d.st.wait(ctx, backoff.PDRPC, d.lastCause); werr != nil {
					return zero, werr
				}
				continue
			}
			sendTo = ps
		}

		if d.interruptible {
			// A raised kill flag stops an interruptible command before
			// each attempt (client-go's region sender checks it there).
			if err := callVarsFrom(ctx).vars.Interrupted(); err != nil {
				return zero, fmt.Errorf("%s to region %d: %w", m.Cmd, r.ID(), err)
			}
		}
		region := d.sel.region
		attempt := d.st.attempts
		d.st.attempts++
		timeout := d.timeout
		if m.Read && attempt == 0 && opts.FirstAttemptTimeout > 0 {
			timeout = opts.FirstAttemptTimeout
		}
		msg, rctx := m.Cmd.CopyWithContext(req)
		fillAttemptContext(rctx, m, region, t, attempt, timeout, d.sel.busy)
		start := time.Now()
		var sent *transport.Request
		if d.firstUsed {
			sent = new(transport.Request)
		} else {
			sent, d.firstUsed = &d.first, true
		}
		*sent = transport.Request{
			Cmd:     m.Cmd,
			Msg:     msg,
			Target:  transport.Target{StoreID: store.ID, Addr: sendTo.Addr, RegionID: region.ID(), Peer: t.replica.peer},
			Call:    d.st.call,
			Piece:   d.st.piece,
			Attempt: attempt,
			Timeout: timeout,
		}
		if t.proxy != nil {
			sent.Target.ForwardedHost, sent.Target.ProxyStoreID = store.Addr, sendTo.ID
		}
		resp, err := e.Sender.Send(ctx, sent)
		spent := time.Since(start)
		t.replica.spent += spent
		if d.st.stats != nil {
			d.recordAttempt(sent, t, rctx, spent, resp, err)
		}
		if m.Read && opts.ReplicaRead == kv.ReplicaReadPreferLeader {
			// As client-go, prefer-leader reads feed the slow score that
			// decides when they avoid the leader.
			e.Locator.ReportLatency(store.ID, spent)
		}
		if err != nil {
			mayHaveApplied := !errors.Is(err, transport.ErrNotSent)
			cause := fmt.Errorf("%s to store %d (%s): %w", m.Cmd, store.ID, store.Addr, err)
			if t.proxy != nil {
				cause = fmt.Errorf("%s to store %d (%s) via proxy store %d (%s): %w", m.Cmd, store.ID, store.Addr, sendTo.ID, sendTo.Addr, err)
			}
			shortRead := m.Read && isDeadline(err) && rctx.MaxExecutionDurationMs < uint64(configurableTimeoutLimit.Milliseconds())
			if ctx.Err() == nil && !isTerminal(err) && !shortRead && !clientSideWait(err) {
				// Routing feedback first, whatever is returned next: the
				// store's health check is what lets the next call (and the
				// next attempt) skip a dead store. A request that timed out
				// in the client's own queue says nothing about the store.
				e.Locator.ReportSendFailure(ctx, sendTo.ID, cause)
			}
			if mayHaveApplied && !m.Read {
				d.st.maybeApplied = true
			}
			if mayHaveApplied && !m.Idempotent {
				// The command may have applied, even if the caller's context
				// ended while it was in flight: never send it again, and never
				// report that as a plain failure.
				return zero, kv.Undetermined(cause)
			}
			if ctx.Err() != nil {
				// The caller gave up; the send error is only a symptom.
				return zero, fmt.Errorf("%s to region %d: %w", m.Cmd, region.ID(), kv.Join(ctx.Err(), err))
			}
			if isTerminal(err) {
				return zero, fmt.Errorf("%s to store %d: %w", m.Cmd, store.ID, err)
			}
			d.lastCause = cause
			d.sendFailure = d.lastCause
			if shortRead {
				// A short, caller-chosen read timeout: try the next replica
				// at once; the store is probably just slow.
				t.replica.flags |= flagDeadline
				continue
			}
			if werr := d.st.wait(ctx, backoff.TiKVRPC, d.lastCause); werr != nil {
				return zero, werr
			}
			continue
		}
		out, ok := resp.Msg.(Resp)
		if !ok {
			return zero, fmt.Errorf("%s: response of type %T, want %T", m.Cmd, resp.Msg, zero)
		}
		rerr := out.GetRegionError()
		if rerr == nil {
			d.sel.onSuccess(t)
			if m.Err != nil {
				if err := m.Err(out); err != nil {
					return out, err
				}
			}
			return out, nil
		}
		d.lastCause = reroute(region, rerr, nil)
		retry, err := d.handleRegionError(ctx, t, store.ID, rctx, rerr)
		if err != nil {
			return zero, err
		}
		if !retry {
			return zero, d.lastCause
		}
	}
}

// handleRegionError applies TiKV's region-error table as client-go's
// onRegionError does with a replica selector (core inventory §2b). It
// returns whether to retry within the region; when it returns false with a
// nil error the caller returns d.lastCause, a non-fatal *kv.RegionError that
// re-routes the piece.
func (d *regionRetry[Req, Resp]) handleRegionError(ctx context.Context, t target, storeID uint64, rctx *kvrpcpb.Context, rerr *errorpb.Error) (bool, error) {
	loc, sel := d.env.Locator, d.sel
	region := sel.region
	regionErr := d.lastCause
	wait := func(p backoff.Policy) error { return d.st.wait(ctx, p, regionErr) }
	switch {
	case rerr.UndeterminedResult != nil:
		// TiKV cannot tell whether the write applied.
		return false, kv.Undetermined(&kv.RegionError{RegionID: region.ID(), Err: rerr, Fatal: true})

	case rerr.NotLeader != nil:
		hint := rerr.NotLeader.GetLeader()
		if sel.onNotLeader(hint) == nil {
			return false, nil
		}
		if hint == nil {
			// Between leaders: give the election time.
			return true, wait(backoff.RegionScheduling)
		}
		if d.hints++; d.hints > maxLeaderHints {
			// Peers keep naming each other (a leader change in flight):
			// stop following hints without pause.
			return true, wait(backoff.RegionScheduling)
		}
		return true, nil

	case rerr.DiskFull != nil:
		if err := wait(backoff.DiskFull); err != nil {
			// Report the full disk itself, not the timeout (client-go).
			return false, &kv.RegionError{RegionID: region.ID(), Err: rerr, Fatal: true, Cause: err}
		}
		return true, nil

	case rerr.RecoveryInProgress != nil:
		loc.Invalidate(region)
		return false, wait(backoff.RegionRecoveryInProgress)

	case rerr.IsWitness != nil:
		loc.Invalidate(region)
		return false, wait(backoff.IsWitness)

	case rerr.FlashbackInProgress != nil:
		// A replica read hit a region in flashback: the leader can answer.
		if rctx.ReplicaRead && !sel.isLeader(t.replica) {
			sel.readType, sel.busy = kv.ReplicaReadLeader, 0
			return true, nil
		}
		return false, &kv.RegionError{RegionID: region.ID(), Err: rerr, Fatal: true}

	case rerr.FlashbackNotPrepared != nil, rerr.RaftEntryTooLarge != nil:
		return false, &kv.RegionError{RegionID: region.ID(), Err: rerr, Fatal: true}

	case rerr.RegionNotFound != nil:
		return sel.onRegionNotFound(), nil

	case rerr.KeyNotInRegion != nil, rerr.MismatchPeerId != nil:
		loc.Invalidate(region)
		return false, nil

	case rerr.EpochNotMatch != nil:
		if loc.OnEpochNotMatch(region, storeID, rerr.EpochNotMatch.GetCurrentRegions()) {
			// TiKV lags behind what we know: give it a moment.
			return true, wait(backoff.RegionMiss)
		}
		return false, nil

	case rerr.BucketVersionNotMatch != nil:
		// The piece was cut by stale buckets: record TiKV's and re-route.
		b := rerr.BucketVersionNotMatch
		loc.UpdateBuckets(region, &metapb.Buckets{RegionId: region.ID(), Version: b.GetVersion(), Keys: b.GetKeys()})
		return false, nil

	case rerr.ServerIsBusy != nil:
		busy := rerr.ServerIsBusy
		if d.m.Read && strings.Contains(busy.GetReason(), "deadline is exceeded") &&
			rctx.MaxExecutionDurationMs < uint64(configurableTimeoutLimit.Milliseconds()) {
			t.replica.flags |= flagDeadline
			return true, nil
		}
		if sel.onServerBusy(storeID, time.Duration(busy.GetEstimatedWaitMs())*time.Millisecond, regionErr) {
			return true, nil
		}
		return true, wait(backoff.ServerBusy)

	case rerr.StaleCommand != nil:
		// The leader changed under the command. TiKV answers StaleCommand
		// for a proposal whose term ended before it heard the outcome, and
		// the new leader may still apply it: a write may have taken effect
		// (client-go treats it as undetermined for the same reason).
		if !d.m.Read {
			d.st.maybeApplied = true
		}
		if !d.m.Idempotent {
			return false, kv.Undetermined(&kv.RegionError{RegionID: region.ID(), Err: rerr, Fatal: true})
		}
		// The selector moves on.
		return true, nil

	case rerr.StoreNotMatch != nil:
		// The address now belongs to another store: resolve it again, and
		// let a Locator that can retire the address do so (the region
		// cache has the connections to it closed).
		if sn, ok := loc.(storeNotMatcher); ok {
			sn.OnStoreNotMatch(storeID)
		} else {
			loc.OnStoreFailure(storeID)
		}
		loc.Invalidate(region)
		return false, nil

	case rerr.MaxTimestampNotSynced != nil:
		return true, wait(backoff.MaxTSNotSynced)

	case rerr.RegionNotInitialized != nil:
		return true, wait(backoff.RegionNotInitialized)

	case rerr.ReadIndexNotReady != nil, rerr.ProposalInMergingMode != nil:
		return true, wait(backoff.RegionScheduling)

	case rerr.DataIsNotReady != nil:
		// A stale read above the replica's safe ts: the next pick reads
		// from the leader; no wait.
		t.replica.flags |= flagDataNotReady
		return true, nil

	case strings.Contains(rerr.GetMessage(), "Deadline is exceeded") && d.m.Read &&
		rctx.MaxExecutionDurationMs < uint64(configurableTimeoutLimit.Milliseconds()):
		t.replica.flags |= flagDeadline
		return true, nil

	case strings.Contains(rerr.GetMessage(), "invalid max_ts update"):
		return false, &kv.RegionError{RegionID: region.ID(), Err: rerr, Fatal: true}

	default:
		// An error this client does not know: the selector retries (the
		// leader is tried up to its attempt limit).
		return true, nil
	}
}

// fillAttemptContext completes the kvrpcpb.Context of one attempt, c, a
// copy of the caller's request-level fields (priority, isolation, request
// source, ...), with the routing and read-mode fields of this attempt.
func fillAttemptContext[Req transport.Message, Resp Response](c *kvrpcpb.Context, m Method[Req, Resp], r *pdclient.Region, t target, attempt int, timeout, busyThreshold time.Duration) {
	c.RegionId = r.ID()
	c.RegionEpoch = r.Epoch()
	c.Peer = t.replica.peer
	c.IsRetryRequest = attempt > 0
	c.ReplicaRead = t.replicaRead
	c.StaleRead = t.staleRead
	// The selector's threshold, not the caller's: it drops to 0 once every
	// replica proved busy, so the leader then queues the read instead of
	// rejecting it again (client-go).
	if m.Read && busyThreshold > 0 && t.replica.peer.GetId() == r.Leader().GetId() {
		c.BusyThresholdMs = uint32(busyThreshold.Milliseconds())
	}
	if c.MaxExecutionDurationMs == 0 {
		// TiKV abandons work the client stopped waiting for.
		limit := timeout
		if !m.Read {
			limit = maxWriteExecution
		}
		c.MaxExecutionDurationMs = uint64(limit.Milliseconds())
	}
}

// isDeadline reports a per-attempt timeout, from the transport's own
// deadline or from gRPC.
func isDeadline(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var se interface{ GRPCStatus() *status.Status }
	return errors.As(err, &se) && se.GRPCStatus().Code() == codes.DeadlineExceeded
}

// storeNotMatcher is implemented by Locators that act on StoreNotMatch
// beyond OnStoreFailure (pdclient.RegionCache retires the address).
type storeNotMatcher interface{ OnStoreNotMatch(storeID uint64) }

// clientSideWait reports a request that never left because its time ran
// out while it waited in the client (a BatchCommands queue, a limiter):
// the store had no part in it.
func clientSideWait(err error) bool {
	return errors.Is(err, transport.ErrNotSent) &&
		(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled))
}

// isTerminal reports errors no retry can fix: the client was closed, the
// request itself is invalid, the answer broke the protocol (such as a
// key from outside the client's keyspace), or a middleware refused the
// request for good and says so with a Terminal method (a resource group
// throttled beyond its longest wait: client-go does not retry those).
func isTerminal(err error) bool {
	var t interface{ Terminal() bool }
	return errors.Is(err, kv.ErrClosed) || errors.Is(err, kv.ErrInvalidArgument) || errors.Is(err, kv.ErrProtocol) ||
		(errors.As(err, &t) && t.Terminal())
}
