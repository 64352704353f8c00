package pipeline

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/pipeline/backoff"
)

// retryState is what one piece of a logical request carries from attempt to
// attempt, re-routes included: Shard and Stream hand the same retryState to
// every Retry of the piece (and a copy to each child when a re-split
// fans it out), so that
//
//   - the backoff budget and each policy's exponential growth are spent once
//     per request, not once per region visited (client-go threads one
//     Backoffer through a request the same way);
//   - attempt numbers keep growing across re-routes, so is_retry_request and
//     transport.Request.Attempt describe the logical request;
//   - a write whose earlier attempt may have applied is never reported as a
//     plain failure by a later attempt.
//
// A retryState is used by one goroutine at a time.
type retryState struct {
	bo *backoff.Backoffer
	// own holds the Backoffer of a state made by newRetryState, so that
	// the state and its Backoffer are one allocation; bo points at it (or,
	// for a fork or a resolve-lock retry, at a Backoffer held elsewhere).
	own backoff.Backoffer
	// attempts counts the attempts sent so far.
	attempts int
	// maybeApplied is set once an attempt of a write failed after it may
	// have reached TiKV.
	maybeApplied bool
	// call is the logical call the piece belongs to, and piece its number
	// within it (observe.Event.Piece); both reach every attempt.
	call  observe.Call
	piece int
	// observed says an Observer watches the call, so waits report Backoff
	// events; without one nothing is looked up.
	observed bool
	// stats is the caller's collector (observe.WithCallStats), looked up
	// once per piece; nil when there is none.
	stats *observe.CallStats
	// ctx is the context that carries this state to the piece's Steps
	// (withRetryState), kept here so that carrying it costs no allocation.
	// It is set once, by the goroutine that owns the state, and never
	// changed after: a Step may hand its ctx to work that outlives it.
	ctx stateCtx
}

// stateCtx is a context carrying a retryState, as context.WithValue would
// make, but held inside the state it carries. Every other method, Done and
// the cancel-propagation lookups included, is the parent's, so contexts
// derived from it behave as if derived from a value context.
type stateCtx struct {
	context.Context
	st *retryState
}

// Value returns the carried state for retryStateKey, else the parent's
// value.
func (c *stateCtx) Value(key any) any {
	if _, ok := key.(retryStateKey); ok {
		return c.st
	}
	return c.Context.Value(key)
}

// fork returns a copy for one branch of a fan-out, numbered piece.
func (s *retryState) fork(piece int) *retryState {
	return &retryState{bo: s.bo.Clone(), attempts: s.attempts, maybeApplied: s.maybeApplied,
		call: s.call, piece: piece, observed: s.observed, stats: s.stats}
}

// wait sleeps under policy p before the piece's next try, reporting the
// sleep to the call's Observer.
//
// A raised kill flag (WithVariables) ends the retry once the sleep is over
// (client-go's Backoffer checks it after every sleep), and a backoff
// listener (WithBackoffListener) hears of the sleep too.
func (s *retryState) wait(ctx context.Context, p backoff.Policy, cause error) error {
	return s.waitAtMost(ctx, p, cause, -1)
}

// waitAtMost is wait with the sleep cut to at most limit (negative: no
// limit; backoff.Backoffer.WaitAtMost).
func (s *retryState) waitAtMost(ctx context.Context, p backoff.Policy, cause error, limit time.Duration) error {
	cv := callVarsFrom(ctx)
	if !s.observed && cv.onBackoff == nil && cv.vars.Killed == nil && s.stats == nil {
		return s.bo.WaitAtMost(ctx, p, cause, limit)
	}
	before := s.bo.Slept()
	err := s.bo.WaitAtMost(ctx, p, cause, limit)
	if slept := s.bo.Slept() - before; s.stats != nil && (err == nil || slept > 0) {
		s.stats.RecordBackoff(p.Name, slept)
	}
	if s.observed || cv.onBackoff != nil {
		e := observe.Event{Kind: observe.Backoff, Piece: s.piece, Backoff: p.Name, Sleep: s.bo.Slept() - before, Err: cause}
		if s.observed {
			observe.Emit(ctx, e)
		}
		if cv.onBackoff != nil && (err == nil || e.Sleep > 0) {
			// A wait refused for want of budget slept nothing: the
			// listener hears only of sleeps.
			e.Call = s.call
			cv.onBackoff(e)
		}
	}
	if err == nil {
		err = cv.vars.Interrupted()
	}
	return err
}

// callSeq numbers logical calls process-wide. It is an id generator, not
// state any behaviour depends on: ids only need to be unique so that
// middleware and observers can group attempts by call.
var callSeq atomic.Uint64

// newCall returns the identity of a new logical call named api.
func newCall(api string) observe.Call { return observe.Call{API: api, ID: callSeq.Add(1)} }

// beginCall starts a top-level plan's logical call on st (fresh from
// retryStateFrom, so not yet part of one): a call already begun in ctx
// (BeginCall, or an observed call: a plan called by another plan's code)
// is joined; otherwise a new call named api begins, reported to
// e.Observer when there is one. It returns the call's context and whether
// it began an observed call, which the caller must then end with
// observe.Finish and the call's error.
func beginCall(ctx context.Context, e *Env, st *retryState, api string) (context.Context, bool) {
	if c, ok := observe.Observed(ctx); ok {
		st.call, st.observed = c, true
		return ctx, false
	}
	if m, ok := ctx.Value(callKey{}).(*callMark); ok {
		// Inside a BeginCall with no observer watching.
		st.call = m.call
		return ctx, false
	}
	st.call = newCall(api)
	if e.Observer != nil {
		st.observed = true
		return observe.Begin(ctx, e.Observer, st.call), true
	}
	return ctx, false
}

// settle returns the error a piece ends with: err itself, or err marked
// undetermined when an earlier attempt of the write may have applied.
func (s *retryState) settle(err error) error {
	if s.maybeApplied && !errors.Is(err, kv.ErrUndetermined) {
		return kv.Undetermined(err)
	}
	return err
}

type retryStateKey struct{}

// withRetryState returns ctx carrying s for the Steps called with it.
func withRetryState(ctx context.Context, s *retryState) context.Context {
	if s.ctx.Context == nil {
		s.ctx = stateCtx{Context: ctx, st: s}
		return &s.ctx
	}
	// A later Step of the piece (after a re-split, maybe under another
	// ctx): carry s the ordinary way rather than change a context an
	// earlier Step may still hold.
	return context.WithValue(ctx, retryStateKey{}, s)
}

// retryStateFrom returns the retry state ctx carries, or a new one on e's
// budget when a Step is called on its own.
func retryStateFrom(ctx context.Context, e *Env) *retryState {
	s, _ := retryStateIn(ctx, e)
	return s
}

// retryStateIn is retryStateFrom that also reports whether the state came
// from ctx (the caller runs inside another plan's Step).
func retryStateIn(ctx context.Context, e *Env) (*retryState, bool) {
	if s, ok := ctx.Value(retryStateKey{}).(*retryState); ok {
		return s, true
	}
	return e.newRetryState(ctx), false
}

// newRetryState returns a fresh state on e's backoff budget (scaled by
// ctx's kv.Variables), with its Backoffer in the same allocation.
func (e *Env) newRetryState(ctx context.Context) *retryState {
	s := &retryState{}
	e.initRetryState(ctx, s)
	return s
}

// initRetryState sets s, held by its caller, on e's backoff budget (scaled
// by ctx's kv.Variables), with its Backoffer inside it.
func (e *Env) initRetryState(ctx context.Context, s *retryState) {
	s.own = *backoff.WithBudget(e.backoffBudget(ctx))
	s.bo = &s.own
	s.stats = observe.CallStatsFrom(ctx)
}
