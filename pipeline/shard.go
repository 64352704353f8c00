package pipeline

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline/backoff"
)

// Routed is one region's piece of a request: the request narrowed to the
// keys or range that region holds.
type Routed[Req any] struct {
	Region *pdclient.Region
	Req    Req
}

// Splitter routes a request by region and narrows it into per-region pieces,
// in key order. It locates regions lazily through loc as the sequence is
// consumed, and yields an error (then stops) when locating fails.
type Splitter[Req any] func(ctx context.Context, loc pdclient.Locator, req Req) iter.Seq2[Routed[Req], error]

// Part is one region's outcome: the piece actually sent and its response.
type Part[Req, Resp any] struct {
	Region *pdclient.Region
	Req    Req
	Resp   Resp
}

// ShardOption tunes Shard and ShardEach.
type ShardOption interface{ applyShard(*shardConfig) }

type shardConfig struct {
	finishInFlight bool
	api            string
}

type shardOptionFunc func(*shardConfig)

func (f shardOptionFunc) applyShard(c *shardConfig) { f(c) }

// FinishInFlight makes Shard, once a piece has failed, let the pieces
// already running finish instead of cancelling them (it still starts no new
// ones). Writes use it: a write cancelled in flight would become
// undetermined, while one left to finish has a known outcome that the
// *ShardError reports.
func FinishInFlight() ShardOption {
	return shardOptionFunc(func(c *shardConfig) { c.finishInFlight = true })
}

// Shard turns a per-region Step into a Plan over a whole request: split
// routes it, the pieces run in parallel (at most Env.Concurrency at once,
// the first in the calling goroutine when there is only one), and the
// answers come back as Parts in split order.
//
// When a piece's Step returns a non-fatal *kv.RegionError (its routing was
// stale), only that piece is split again against the updated region cache
// and sent again, after a RegionMiss backoff unless TiKV already told the
// cache the new layout; children replace the piece in place, so Parts stay
// in key order. A piece is re-split at most Env.MaxResplits times. When
// locating regions fails (PD unreachable, a PD leader change), Shard waits
// under the PDRPC policy and splits again, as long as the budget lasts.
//
// Each piece lineage (a piece and the children it is re-split into) spends
// one backoff budget, Env.BackoffBudget, across all its attempts; a
// fan-out gives each branch a copy of the budget spent so far.
//
// The first failing piece stops the request: pieces not yet started are not
// started, and those in flight are cancelled (or, with FinishInFlight, run
// to completion). Shard returns once every goroutine it started has
// finished. A request of one piece fails with that piece's error; one of
// several pieces fails with a *ShardError that reports each piece.
func Shard[Req, Resp any](e *Env, split Splitter[Req], next Step[Req, Resp], opts ...ShardOption) Plan[Req, []Part[Req, Resp]] {
	return newSharder(e, split, next, opts).plan()
}

// plan is the Plan of Shard and ShardByKey.
func (s *sharder[Req, Resp]) plan() Plan[Req, []Part[Req, Resp]] {
	return func(ctx context.Context, req Req) (parts []Part[Req, Resp], err error) {
		ctx, call, st, bufs := s.begin(ctx)
		if call.owns {
			defer func() { observe.Finish(ctx, err) }()
		}
		pieces := s.run(ctx, call, st, bufs, nil, req, 0, nil)
		if call.cancel != nil {
			call.cancel()
		}
		var into []Part[Req, Resp]
		if bufs != nil {
			into = bufs.parts[:0]
		}
		return collectPieces(pieces, call.first, into)
	}
}

// ShardByKey is Shard(e, ByKey(key), next, opts...) for requests of one
// key, with the same behaviour, parts and errors: it locates the key's
// region directly instead of through a Splitter's iterator, so routing a
// single-key call costs no allocation. The plans of single-key commands
// (a raw or transactional Get, a Put, a CheckTxnStatus) use it.
func ShardByKey[Req, Resp any](e *Env, key func(Req) []byte, next Step[Req, Resp], opts ...ShardOption) Plan[Req, []Part[Req, Resp]] {
	s := newSharder(e, ByKey(key), next, opts)
	s.key = key
	return s.plan()
}

// ShardEach is Shard that runs every piece to its end, whatever becomes of
// the others (client-rust's preserve-region-results): a failing piece
// cancels nothing and stops nothing. It returns the outcome of every leaf
// piece in key order, with its region, request, response or error, and
// its state; the error is always nil, since every failure belongs to a
// piece (one that could not even be routed has a nil Region). Transactions
// use it where each region's answer matters on its own: committing
// secondaries, cleaning up, rolling back pessimistic locks.
func ShardEach[Req, Resp any](e *Env, split Splitter[Req], next Step[Req, Resp], opts ...ShardOption) Plan[Req, []PieceOutcome[Req, Resp]] {
	s := newSharder(e, split, next, opts)
	s.each = true
	return func(ctx context.Context, req Req) (out []PieceOutcome[Req, Resp], _ error) {
		ctx, call, st, bufs := s.begin(ctx)
		if call.owns {
			defer func() { observe.Finish(ctx, firstErr(out)) }()
		}
		return s.run(ctx, call, st, bufs, nil, req, 0, nil), nil
	}
}

func firstErr[Req, Resp any](out []PieceOutcome[Req, Resp]) error {
	for _, p := range out {
		if p.Err != nil {
			return p.Err
		}
	}
	return nil
}

func newSharder[Req, Resp any](e *Env, split Splitter[Req], next Step[Req, Resp], opts []ShardOption) *sharder[Req, Resp] {
	s := &sharder[Req, Resp]{env: e, split: split, next: next}
	for _, o := range opts {
		o.applyShard(&s.cfg)
	}
	return s
}

// begin sets up one call of the plan: its retry state (the enclosing
// piece's when the plan runs inside another plan's Step) and, at top
// level, its logical call and the buffers of a one-piece call.
func (s *sharder[Req, Resp]) begin(ctx context.Context) (context.Context, *shardCall, *retryState, *shardBufs[Req, Resp]) {
	if st, ok := ctx.Value(retryStateKey{}).(*retryState); ok {
		// Nested in another plan's Step: that piece's state goes on.
		return ctx, &shardCall{keepGoing: s.each, observed: st.observed}, st, nil
	}
	// A top-level call: its state, its retry state and its buffers in one
	// allocation.
	top := &struct {
		call shardCall
		st   retryState
		bufs shardBufs[Req, Resp]
	}{}
	call, st := &top.call, &top.st
	s.env.initRetryState(ctx, st)
	call.keepGoing, call.top = s.each, true
	ctx, call.owns = beginCall(ctx, s.env, st, s.cfg.api)
	call.observed = st.observed
	return ctx, call, st, &top.bufs
}

// shardBufs holds what a top-level call of one piece (every single-key
// call) would otherwise allocate on its own: the routing of its request,
// the piece's outcome and the Part returned. Only the first split uses
// them, and its outcome buffer only when it yields one piece, so no two
// goroutines ever share a buffer; a call of more pieces allocates as
// before. The caller owns what it gets back, so nothing is reused across
// calls.
type shardBufs[Req, Resp any] struct {
	route  routing[Req]
	routed [1]Routed[Req]
	out    [1]PieceOutcome[Req, Resp]
	parts  [1]Part[Req, Resp]
}

// shardCall is the state one Shard call shares between its goroutines.
type shardCall struct {
	// keepGoing (ShardEach) runs every piece whatever the others do.
	keepGoing bool
	// top says the call is not nested in another plan's Step; observed
	// that an Observer watches its logical call; owns that it began that
	// observed call and must end it.
	top, observed, owns bool
	// pieces numbers the pieces made so far.
	pieces atomic.Int32
	once   sync.Once
	failed atomic.Bool
	first  error // the failure that stopped the call; set once, before failed
	// cancel cancels the pieces in flight. It is made at the call's first
	// fan-out (a request of one piece has no siblings to cancel, and the
	// common single-key call should not pay for it), before any goroutine
	// that may read it starts, and every later fan-out descends from it.
	// It stays nil with FinishInFlight.
	cancel context.CancelFunc
}

// fail records that a piece failed with err. The first failure stops the
// call (and cancels the pieces in flight unless they are to finish); it is
// the cause the call reports, not the cancellations it caused.
func (c *shardCall) fail(err error) {
	if c.keepGoing {
		return
	}
	c.once.Do(func() {
		c.first = err
		c.failed.Store(true)
		if c.cancel != nil {
			c.cancel()
		}
	})
}

type sharder[Req, Resp any] struct {
	env   *Env
	split Splitter[Req]
	// key, when set (ShardByKey), routes a request by this one key
	// instead of through split.
	key  func(Req) []byte
	next Step[Req, Resp]
	cfg  shardConfig
	each bool // ShardEach
}

// run splits req and runs its pieces; it returns the outcome of every leaf
// piece in key order. last is the region req was last routed to (nil for
// the whole request), reported if req cannot be split again; cause is why
// it is being split again (nil for the first split).
//
// bufs, when not nil, are the call's one-piece buffers (shardBufs), which
// only the first split of a top-level call gets.
func (s *sharder[Req, Resp]) run(ctx context.Context, call *shardCall, st *retryState, bufs *shardBufs[Req, Resp], last *pdclient.Region, req Req, depth int, cause error) []PieceOutcome[Req, Resp] {
	var into *routing[Req]
	if bufs != nil {
		into = &bufs.route
		into.pieces = bufs.routed[:0]
	}
	routed, err := s.locate(ctx, st, req, into)
	if err != nil {
		// Nothing of req was sent by this split.
		err = st.settle(err)
		call.fail(err)
		return []PieceOutcome[Req, Resp]{{Region: last, Req: req, Err: err, State: stateOf(err)}}
	}
	// Number the pieces: a first split's from 1 on; a re-split's children
	// take the next numbers, except a lone child, which stays the piece it
	// replaces.
	first := st.piece
	if len(routed) > 1 || (depth == 0 && call.top) {
		first = int(call.pieces.Add(int32(len(routed)))) - len(routed) + 1
	}
	if call.observed {
		ev := observe.Event{Kind: observe.Split, Pieces: len(routed), FirstPiece: first}
		if depth > 0 {
			ev.Kind, ev.Piece, ev.Err = observe.Resplit, st.piece, cause
			if last != nil {
				ev.RegionID = last.ID()
			}
		}
		observe.Emit(ctx, ev)
	}
	if len(routed) == 1 {
		st.piece = first
		return s.runPiece(ctx, call, st, bufs, routed[0], depth)
	}
	// The fan-out's goroutines get a ctx of their own variable: were they
	// to capture run's ctx, which this branch reassigns, every call (one
	// piece too) would allocate it on the heap.
	fanCtx := ctx
	if !s.cfg.finishInFlight && call.cancel == nil {
		fanCtx, call.cancel = context.WithCancel(ctx)
	}
	results := make([][]PieceOutcome[Req, Resp], len(routed))
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.env.concurrency())
	for i, piece := range routed {
		if call.failed.Load() {
			results[i] = []PieceOutcome[Req, Resp]{{Region: piece.Region, Req: piece.Req, State: PieceNotRun}}
			continue
		}
		sem <- struct{}{}
		branch := st.fork(first + i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if call.failed.Load() {
				results[i] = []PieceOutcome[Req, Resp]{{Region: piece.Region, Req: piece.Req, State: PieceNotRun}}
				return
			}
			results[i] = s.runPiece(fanCtx, call, branch, nil, piece, depth)
		}()
	}
	wg.Wait()
	n := 0
	for _, r := range results {
		n += len(r)
	}
	out := make([]PieceOutcome[Req, Resp], 0, n)
	for _, r := range results {
		out = append(out, r...)
	}
	return out
}

// locate splits req by region, retrying under the PDRPC policy while the
// routing layer cannot answer (client-go retries region loads with
// BoPDRPC within the request's budget). into, when not nil, collects the
// pieces (a top-level call's buffer); else locate makes its own.
func (s *sharder[Req, Resp]) locate(ctx context.Context, st *retryState, req Req, into *routing[Req]) ([]Routed[Req], error) {
	if into == nil {
		into = new(routing[Req])
	}
	for {
		into.pieces, into.err = into.pieces[:0], nil
		if s.key != nil {
			// ShardByKey: one region, no iterator to allocate.
			region, err := s.env.Locator.Locate(ctx, s.key(req))
			if err == nil {
				into.pieces = append(into.pieces, Routed[Req]{Region: region, Req: req})
			}
			into.err = err
		} else {
			s.splitInto(ctx, req, into)
		}
		if into.err == nil {
			return into.pieces, nil
		}
		err := into.err
		if ctx.Err() != nil || isTerminal(err) {
			return nil, err
		}
		if werr := st.wait(ctx, backoff.PDRPC, fmt.Errorf("locate regions: %w", err)); werr != nil {
			return nil, werr
		}
	}
}

// splitInto runs the Splitter over req into into. The loop body is a
// closure the splitter calls, so what it writes lives behind into, a
// parameter never reassigned: the closure captures the pointer itself and
// nothing else moves to the heap.
func (s *sharder[Req, Resp]) splitInto(ctx context.Context, req Req, into *routing[Req]) {
	for piece, perr := range s.split(ctx, s.env.Locator, req) {
		if perr != nil {
			into.err = perr
			return
		}
		into.pieces = append(into.pieces, piece)
	}
}

// routing collects the pieces of one split.
type routing[Req any] struct {
	pieces []Routed[Req]
	err    error
}

func (s *sharder[Req, Resp]) runPiece(ctx context.Context, call *shardCall, st *retryState, bufs *shardBufs[Req, Resp], piece Routed[Req], depth int) []PieceOutcome[Req, Resp] {
	resp, err := s.next(withRetryState(ctx, st), piece.Region, piece.Req)
	if err == nil {
		done := PieceOutcome[Req, Resp]{Region: piece.Region, Req: piece.Req, Resp: resp, State: PieceDone}
		if bufs != nil {
			return append(bufs.out[:0], done)
		}
		return []PieceOutcome[Req, Resp]{done}
	}
	if werr := resplitWait(ctx, st, err, depth, s.env.maxResplits()); werr != nil {
		werr = st.settle(werr)
		call.fail(werr)
		return []PieceOutcome[Req, Resp]{{Region: piece.Region, Req: piece.Req, Err: werr, State: stateOf(werr)}}
	}
	return s.run(ctx, call, st, nil, piece.Region, piece.Req, depth+1, err)
}

// resplitWait decides whether a piece that failed with err may be routed
// again: only for a non-fatal region error, within the re-split budget. It
// waits RegionMiss first unless the error already carried the new layout
// (a real EpochNotMatch), which client-go retries at once. A nil return
// means "re-split now"; otherwise it returns the error to report.
func resplitWait(ctx context.Context, st *retryState, err error, depth, maxDepth int) error {
	if !isReroute(err) {
		return err
	}
	var re *kv.RegionError
	errors.As(err, &re)
	if depth >= maxDepth {
		return fmt.Errorf("gave up re-routing after %d re-splits: %w", depth, err)
	}
	if re.Err.GetEpochNotMatch() != nil && len(re.Err.GetEpochNotMatch().GetCurrentRegions()) > 0 {
		return nil
	}
	return st.wait(ctx, backoff.RegionMiss, err)
}
