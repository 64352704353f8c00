package pipeline

import (
	"context"

	"github.com/tikvgo/tikv/observe"
)

// callMark is what a context carries inside a logical call begun with
// BeginCall, so that the plans run under it join the call instead of
// starting calls of their own.
type callMark struct{ call observe.Call }

type callKey struct{}

// BeginCall begins a logical call named api that spans several plans
// (a transaction's commit: prewrite, then commit), so that their attempts
// carry one call identity and an Observer sees one call with their events.
// It returns the call's context, under which the plans must run, and end,
// which must be called once with the call's error. Inside a call already
// (ctx came from BeginCall, or from a plan's Step) it joins that call and
// end does nothing.
func BeginCall(ctx context.Context, e *Env, api string) (context.Context, func(error)) {
	if _, ok := callIn(ctx); ok {
		return ctx, func(error) {}
	}
	c := newCall(api)
	ctx = context.WithValue(ctx, callKey{}, &callMark{call: c})
	if e.Observer == nil {
		return ctx, func(error) {}
	}
	ctx = observe.Begin(ctx, e.Observer, c)
	return ctx, func(err error) { observe.Finish(ctx, err) }
}

// CallPlan wraps p so that each of its calls is one logical call named api
// (BeginCall around p).
func CallPlan[Req, Resp any](e *Env, api string, p Plan[Req, Resp]) Plan[Req, Resp] {
	return func(ctx context.Context, req Req) (resp Resp, err error) {
		ctx, end := BeginCall(ctx, e, api)
		defer func() { end(err) }()
		return p(ctx, req)
	}
}

// callIn returns the call ctx belongs to: one begun with BeginCall, or the
// call an Observer watches.
func callIn(ctx context.Context) (observe.Call, bool) {
	if m, ok := ctx.Value(callKey{}).(*callMark); ok {
		return m.call, true
	}
	return observe.Observed(ctx)
}
