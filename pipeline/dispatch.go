package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline/backoff"
	"github.com/tikvgo/tikv/transport"
)

// maxLeaderHints bounds how many NotLeader hints one Dispatch follows
// without waiting, so two peers that each name the other cannot make it
// spin (client-go gives the leader at most 10 attempts).
const maxLeaderHints = 10

// Dispatch returns the Step that sends a request to one region's leader and
// retries there until TiKV gives an answer that is not a routing problem.
//
// Per attempt it fills in the request's kvrpcpb.Context (region, epoch,
// peer, is_retry_request) on a copy, so the caller's request is never
// modified and can be reused. It follows TiKV's region errors as
// classifyRegionError says: NotLeader with a hint switches leader without
// waiting; errors that mean the region itself changed (EpochNotMatch,
// RegionNotFound, KeyNotInRegion, StoreNotMatch) update the region cache and
// return a non-fatal *kv.RegionError so that Shard re-splits the piece;
// transient errors (ServerIsBusy, StaleCommand, ...) back off and retry.
//
// A send failure backs off (TiKVRPC), re-reads the region from PD (the
// leader may have moved off a dead store) and retries; for a command that is
// not idempotent it returns kv.ErrUndetermined instead, unless the error
// proves the request was never sent. Waits end with the context, with a
// *kv.BackoffExhaustedError that carries the last cause.
func Dispatch[Req transport.Message, Resp Response](e *Env, m Method[Req, Resp]) Step[Req, Resp] {
	timeout := e.timeout(m.Read)
	return func(ctx context.Context, r *pdclient.Region, req Req) (Resp, error) {
		var zero Resp
		bo := e.newBackoffer()
		hints := 0
		// lastCause is the error behind the latest retry. When the context
		// ends while the loop is between waits (resolving a store, reloading
		// a region), the caller gets it rather than a bare context error.
		var lastCause error
		giveUp := func(err error) error {
			if ctx.Err() != nil && lastCause != nil {
				return bo.Exhausted(ctx, backoff.TiKVRPC, lastCause)
			}
			return err
		}
		for attempt := 0; ; attempt++ {
			if err := ctx.Err(); err != nil {
				return zero, giveUp(err)
			}
			leader := r.Leader()
			if leader == nil {
				// No known leader: the region must be located again.
				e.Locator.Invalidate(r)
				return zero, &kv.RegionError{RegionID: r.ID(), Err: &errorpb.Error{
					Message:   "no leader known for region",
					NotLeader: &errorpb.NotLeader{RegionId: r.ID()},
				}}
			}
			store, err := e.Locator.Store(ctx, leader.GetStoreId())
			if err != nil {
				if ctx.Err() != nil {
					return zero, giveUp(err)
				}
				if isTerminal(err) {
					return zero, err
				}
				// PD could not say where the store is: wait and ask again.
				lastCause = fmt.Errorf("resolve store %d of region %d: %w", leader.GetStoreId(), r.ID(), err)
				if werr := bo.Wait(ctx, backoff.PDRPC, lastCause); werr != nil {
					return zero, werr
				}
				continue
			}
			msg := m.Cmd.WithContext(req, attemptContext(m, req, r, leader, attempt))
			resp, err := e.Sender.Send(ctx, &transport.Request{
				Cmd:     m.Cmd,
				Msg:     msg,
				Target:  transport.Target{StoreID: store.ID, Addr: store.Addr, RegionID: r.ID(), Peer: leader},
				Attempt: attempt,
				Timeout: timeout,
			})
			if err != nil {
				if ctx.Err() != nil {
					// The caller gave up; the send error is only a symptom.
					return zero, fmt.Errorf("%s to region %d: %w", m.Cmd, r.ID(), errors.Join(ctx.Err(), err))
				}
				if isTerminal(err) {
					return zero, fmt.Errorf("%s to store %d: %w", m.Cmd, store.ID, err)
				}
				if !m.Idempotent && !errors.Is(err, transport.ErrNotSent) {
					return zero, kv.Undetermined(fmt.Errorf("%s to store %d: %w", m.Cmd, store.ID, err))
				}
				e.Locator.OnStoreFailure(store.ID)
				lastCause = fmt.Errorf("%s to store %d (%s): %w", m.Cmd, store.ID, store.Addr, err)
				if werr := bo.Wait(ctx, backoff.TiKVRPC, lastCause); werr != nil {
					return zero, werr
				}
				// The leader may have moved while its store was unreachable.
				if r, err = reload(ctx, e.Locator, r); err != nil {
					return zero, giveUp(err)
				}
				continue
			}
			out, ok := resp.Msg.(Resp)
			if !ok {
				return zero, fmt.Errorf("%s: response of type %T, want %T", m.Cmd, resp.Msg, zero)
			}
			rerr := out.GetRegionError()
			if rerr == nil {
				if m.Err != nil {
					if err := m.Err(out); err != nil {
						return out, err
					}
				}
				return out, nil
			}
			d := classifyRegionError(rerr)
			if d.invalidate {
				e.Locator.Invalidate(r)
			}
			if d.storeChanged {
				e.Locator.OnStoreFailure(store.ID)
			}
			routingErr := &kv.RegionError{RegionID: r.ID(), Err: rerr}
			switch d.action {
			case switchLeader:
				hints++
				if hints > maxLeaderHints {
					if werr := bo.Wait(ctx, backoff.RegionScheduling, routingErr); werr != nil {
						return zero, werr
					}
				}
				next := e.Locator.UpdateLeader(r, rerr.NotLeader.GetLeader())
				if next == nil {
					return zero, routingErr
				}
				r = next
			case epochChanged:
				if !e.Locator.OnEpochNotMatch(r, store.ID, rerr.EpochNotMatch.GetCurrentRegions()) {
					return zero, routingErr
				}
				// TiKV lags behind what we know: give it a moment.
				if werr := bo.Wait(ctx, backoff.RegionMiss, routingErr); werr != nil {
					return zero, werr
				}
			case resplit:
				return zero, routingErr
			case fatal:
				routingErr.Fatal = true
				if rerr.UndeterminedResult != nil {
					return zero, kv.Undetermined(routingErr)
				}
				return zero, routingErr
			case retrySame, reloadRegion:
				if d.policy.Name != "" {
					if werr := bo.Wait(ctx, d.policy, routingErr); werr != nil {
						if rerr.DiskFull != nil {
							// As client-go: a full disk is reported as such,
							// not as a timeout.
							return zero, routingErr
						}
						return zero, werr
					}
				}
				if d.action == reloadRegion {
					if r, err = reload(ctx, e.Locator, r); err != nil {
						return zero, giveUp(err)
					}
				}
			}
		}
	}
}

// attemptContext builds the kvrpcpb.Context of one attempt: the caller's
// request-level fields (priority, isolation, request source, ...) with the
// routing fields of this attempt.
func attemptContext[Req transport.Message, Resp Response](m Method[Req, Resp], req Req, r *pdclient.Region, peer *metapb.Peer, attempt int) *kvrpcpb.Context {
	var c kvrpcpb.Context
	if orig := m.Cmd.Context(req); orig != nil {
		c = *orig
	}
	c.RegionId = r.ID()
	c.RegionEpoch = r.Epoch()
	c.Peer = peer
	c.IsRetryRequest = attempt > 0
	if !m.Read && c.MaxExecutionDurationMs == 0 {
		c.MaxExecutionDurationMs = uint64(maxWriteExecution.Milliseconds())
	}
	return &c
}

// isTerminal reports errors no retry can fix: the client was closed, or
// the request itself is invalid.
func isTerminal(err error) bool {
	return errors.Is(err, kv.ErrClosed) || errors.Is(err, kv.ErrInvalidArgument)
}

// reload fetches r again from PD (bypassing the cache entry) and reports a
// routing error when the region changed shape, so the piece is re-split.
func reload(ctx context.Context, loc pdclient.Locator, r *pdclient.Region) (*pdclient.Region, error) {
	loc.Invalidate(r)
	fresh, err := loc.LocateByID(ctx, r.ID())
	if err != nil {
		return nil, fmt.Errorf("reload region %d: %w", r.ID(), err)
	}
	if fresh.Ver() != r.Ver() {
		return nil, &kv.RegionError{RegionID: r.ID(), Err: &errorpb.Error{
			Message:       "region changed while retrying",
			EpochNotMatch: &errorpb.EpochNotMatch{},
		}}
	}
	return fresh, nil
}
