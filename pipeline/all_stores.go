package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline/backoff"
	"github.com/tikvgo/tikv/transport"
)

// StoreResult is one store's outcome of an AllStores call: the response,
// or the error that ended the store's attempts. Resp may be set along with
// Err when the command's Err mapper rejected the response's body.
type StoreResult[Resp any] struct {
	Store *pdclient.Store
	Resp  Resp
	Err   error
}

// AllStoresOption tunes AllStores; Named is one too.
type AllStoresOption interface{ applyAllStores(*allStoresConfig) }

type allStoresConfig struct {
	keep func(*pdclient.Store) bool
	api  string
}

type allStoresOptionFunc func(*allStoresConfig)

func (f allStoresOptionFunc) applyAllStores(c *allStoresConfig) { f(c) }

// StoreFilter makes AllStores send only to the stores keep returns true
// for; the others get no request and no result.
func StoreFilter(keep func(*pdclient.Store) bool) AllStoresOption {
	return allStoresOptionFunc(func(c *allStoresConfig) { c.keep = keep })
}

// TiKVStores is a StoreFilter predicate that keeps TiKV stores and drops
// TiFlash ones: PD lists TiFlash nodes as stores labelled engine=tiflash
// (or tiflash_compute), and they do not serve TiKV's store-level commands
// (client-go's UnsafeDestroyRange skips them: tikv/gc.go,
// tikvrpc.GetStoreTypeByMeta).
func TiKVStores(s *pdclient.Store) bool {
	for _, l := range s.Labels {
		if l.GetKey() == "engine" && (l.GetValue() == "tiflash" || l.GetValue() == "tiflash_compute") {
			return false
		}
	}
	return true
}

// errHealthCheckFailed stands in for the cause of a store found unreachable
// when the routing layer kept no send failure for it.
var errHealthCheckFailed = errors.New("its health check failed")

// AllStores returns the plan that sends a store-level command to every
// store in the cluster (or every one StoreFilter keeps) and reports each
// store's outcome, in store-id order.
//
// The stores are listed from the Locator (pdclient.RegionCache asks PD on
// every call, so stores added since are included; removed ones are not)
// and, if listing fails, listed again under the PDRPC backoff. The stores
// are then served concurrently, at most Env.Concurrency at a time. Each has
// its own attempt numbering and its own backoff budget (Env.BackoffBudget),
// and one store's failure never cancels the others: it is that store's
// StoreResult.Err. The call itself fails only when the stores cannot be
// listed, or when ctx ends before every store has its outcome; then it
// returns ctx's error together with the results (stores not yet served
// carry ctx's error).
//
// Per store, as Retry does per region: each attempt gets its own copy of
// the request's kvrpcpb.Context (for commands that have one) with
// is_retry_request set on resends and the caller's fields (request_source,
// resource group, cluster_id, ...) kept; no region, epoch or peer is set,
// since TiKV's store-level handlers (src/server/service/kv.rs:
// unsafe_destroy_range, get_store_safe_ts, get_health_feedback) route by
// none of them. Each attempt is bounded by Env.ReadTimeout or WriteTimeout.
// A send failure is reported to the Locator (ReportSendFailure, which
// checks the store's health); the store is then tried again after a
// TiKVRPC backoff, at its address as the Locator resolves it then. A
// command that is not idempotent is sent again only when the error proves
// the request never left (transport.ErrNotSent); otherwise the store's
// result is kv.ErrUndetermined, and so is a later failure of a write
// once an attempt may have applied.
//
// A store the Locator reports Unreachable, before the first attempt or by
// the health check after a failed send, is not waited for: its result is a
// *kv.StoreUnreachableError at once. It is never skipped in silence: a
// command such as UnsafeDestroyRange must reach every store, and the
// caller decides whether to try again later (the Locator's background
// check marks the store reachable once it serves again).
//
// A region error in a store-level response (TiKV sets none) fails that
// store with a fatal *kv.RegionError; the command's Err mapper then runs on
// the response.
//
// The plan never modifies the caller's request; it is safe for concurrent
// use.
func AllStores[Req, Resp transport.Message](e *Env, m Method[Req, Resp], opts ...AllStoresOption) Plan[Req, []StoreResult[Resp]] {
	var cfg allStoresConfig
	for _, o := range opts {
		o.applyAllStores(&cfg)
	}
	if !m.Cmd.Valid() {
		return func(context.Context, Req) ([]StoreResult[Resp], error) {
			return nil, kv.InvalidArgument("AllStores: unknown command %v", m.Cmd)
		}
	}
	if err := e.checkMode(m.Cmd); err != nil {
		return func(context.Context, Req) ([]StoreResult[Resp], error) { return nil, err }
	}
	s := &storeFanOut[Req, Resp]{env: e, m: m, cfg: cfg, timeout: e.timeout(m.Read)}
	return s.run
}

// storeFanOut is one AllStores plan.
type storeFanOut[Req, Resp transport.Message] struct {
	env     *Env
	m       Method[Req, Resp]
	cfg     allStoresConfig
	timeout time.Duration
}

func (s *storeFanOut[Req, Resp]) run(ctx context.Context, req Req) (_ []StoreResult[Resp], err error) {
	// call holds the logical call's identity, and the backoff of listing.
	call, nested := retryStateIn(ctx, s.env)
	if nested {
		outer := call
		call = s.env.newRetryState(ctx)
		call.call, call.observed = outer.call, outer.observed
	} else {
		var owns bool
		if ctx, owns = beginCall(ctx, s.env, call, s.cfg.api); owns {
			defer func() { observe.Finish(ctx, err) }()
		}
	}
	stores, err := s.list(ctx, call)
	if err != nil {
		return nil, err
	}
	results := make([]StoreResult[Resp], 0, len(stores))
	for _, st := range stores {
		if s.cfg.keep == nil || s.cfg.keep(st) {
			results = append(results, StoreResult[Resp]{Store: st})
		}
	}
	// The Locator contract lists stores in id order; a Locator of the
	// caller's own may not.
	slices.SortFunc(results, func(a, b StoreResult[Resp]) int { return cmp.Compare(a.Store.ID, b.Store.ID) })
	if call.observed {
		observe.Emit(ctx, observe.Event{Kind: observe.Split, Pieces: len(results), FirstPiece: 1})
	}
	sem := make(chan struct{}, s.env.concurrency())
	var wg sync.WaitGroup
	for i := range results {
		r := &results[i]
		acquired := false
		select {
		case sem <- struct{}{}:
			acquired = true
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			if acquired {
				<-sem
			}
			// This store and the rest are not started.
			for j := i; j < len(results); j++ {
				results[j].Err = fmt.Errorf("%s to store %d: not sent: %w", s.m.Cmd, results[j].Store.ID, context.Cause(ctx))
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.Resp, r.Err = s.serve(ctx, call, i+1, r.Store, req)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		for _, r := range results {
			if r.Err != nil {
				return results, fmt.Errorf("%s to all stores: %w", s.m.Cmd, context.Cause(ctx))
			}
		}
	}
	return results, nil
}

// list lists the stores, retrying under PDRPC while the routing layer
// cannot answer (as Shard does for region lookups).
func (s *storeFanOut[Req, Resp]) list(ctx context.Context, call *retryState) ([]*pdclient.Store, error) {
	for {
		stores, err := s.env.Locator.Stores(ctx)
		if err == nil {
			return stores, nil
		}
		err = fmt.Errorf("%s to all stores: list stores: %w", s.m.Cmd, err)
		if ctx.Err() != nil || isTerminal(err) {
			return nil, err
		}
		if werr := call.wait(ctx, backoff.PDRPC, err); werr != nil {
			return nil, werr
		}
	}
}

// serve runs one store's attempts, the call's piece number piece, and
// settles its outcome.
func (s *storeFanOut[Req, Resp]) serve(ctx context.Context, call *retryState, piece int, store *pdclient.Store, req Req) (Resp, error) {
	st := s.env.newRetryState(ctx)
	st.call, st.piece, st.observed = call.call, piece, call.observed
	resp, err := s.attempts(ctx, st, store, req)
	if err != nil {
		err = st.settle(err)
	}
	return resp, err
}

func (s *storeFanOut[Req, Resp]) attempts(ctx context.Context, st *retryState, store *pdclient.Store, req Req) (Resp, error) {
	var zero Resp
	m, loc := s.m, s.env.Locator
	id := store.ID
	var lastCause error
	for {
		if err := ctx.Err(); err != nil {
			if lastCause != nil {
				return zero, st.bo.Exhausted(ctx, backoff.TiKVRPC, lastCause)
			}
			return zero, fmt.Errorf("%s to store %d: %w", m.Cmd, id, context.Cause(ctx))
		}
		if st.attempts == 0 {
			if h := loc.StoreHealth(id); h.Liveness == pdclient.Unreachable {
				cause := h.LastFailure
				if cause == nil {
					cause = errHealthCheckFailed
				}
				return zero, &kv.StoreUnreachableError{StoreID: id, Cause: cause}
			}
		} else {
			// A failed send marked the store for a re-resolve: it may have
			// moved. When PD cannot answer, the known address is tried.
			cur, err := loc.Store(ctx, id)
			switch {
			case err == nil:
				store = cur
			case errors.Is(err, pdclient.ErrStoreTombstone):
				return zero, fmt.Errorf("%s to store %d: %w", m.Cmd, id, err)
			case isTerminal(err):
				return zero, err
			}
		}

		attempt := st.attempts
		st.attempts++
		sent := &transport.Request{
			Cmd:     m.Cmd,
			Msg:     m.Cmd.WithContext(req, storeAttemptContext(m.Cmd, req, attempt)),
			Target:  transport.Target{StoreID: id, Addr: store.Addr},
			Call:    st.call,
			Piece:   st.piece,
			Attempt: attempt,
			Timeout: s.timeout,
		}
		start := time.Now()
		resp, err := s.env.Sender.Send(ctx, sent)
		if st.stats != nil {
			recordAttempt(st.stats, observe.Access{}, sent, time.Since(start), resp, err)
		}
		if err != nil {
			mayHaveApplied := !errors.Is(err, transport.ErrNotSent)
			cause := fmt.Errorf("%s to store %d (%s): %w", m.Cmd, id, store.Addr, err)
			live := pdclient.Reachable
			if ctx.Err() == nil && !isTerminal(err) && !clientSideWait(err) {
				// As in Retry: the health check this triggers is what
				// tells a dead store from a lost packet.
				live = loc.ReportSendFailure(ctx, id, cause)
			}
			if mayHaveApplied && !m.Read {
				st.maybeApplied = true
			}
			if mayHaveApplied && !m.Idempotent {
				return zero, kv.Undetermined(cause)
			}
			if ctx.Err() != nil {
				return zero, fmt.Errorf("%s to store %d: %w", m.Cmd, id, kv.Join(ctx.Err(), err))
			}
			if isTerminal(err) {
				return zero, cause
			}
			if live == pdclient.Unreachable {
				return zero, &kv.StoreUnreachableError{StoreID: id, Cause: cause}
			}
			lastCause = cause
			if werr := st.wait(ctx, backoff.TiKVRPC, cause); werr != nil {
				return zero, werr
			}
			continue
		}
		out, ok := resp.Msg.(Resp)
		if !ok {
			return zero, fmt.Errorf("%s to store %d: response of type %T, want %T: %w", m.Cmd, id, resp.Msg, zero, kv.ErrProtocol)
		}
		if re, ok := any(out).(interface{ GetRegionError() *errorpb.Error }); ok && re.GetRegionError() != nil {
			return zero, fmt.Errorf("%s to store %d: %w", m.Cmd, id, &kv.RegionError{Err: re.GetRegionError(), Fatal: true})
		}
		if m.Err != nil {
			if err := m.Err(out); err != nil {
				return out, fmt.Errorf("%s to store %d: %w", m.Cmd, id, err)
			}
		}
		return out, nil
	}
}

// storeAttemptContext builds the kvrpcpb.Context of one attempt of a
// store-level command: a copy of the caller's (so middleware may set the
// fields it owns, such as the API version, on this attempt's own copy) with
// is_retry_request set on resends. It is nil for commands without one.
func storeAttemptContext(cmd transport.Cmd, req transport.Message, attempt int) *kvrpcpb.Context {
	if !cmd.HasContext() {
		return nil
	}
	var c kvrpcpb.Context
	if orig := cmd.Context(req); orig != nil {
		c = *orig
	}
	c.IsRetryRequest = attempt > 0
	return &c
}
