package middleware

import (
	"context"

	"github.com/tikvgo/tikv/transport"
)

type interceptorsKey struct{}

// interceptor is one ctx-attached middleware; name is empty for anonymous
// ones.
type interceptor struct {
	name string
	mw   transport.Middleware
}

// WithInterceptors returns a context whose requests pass through mws, in
// addition to any interceptors ctx already carries (those stay outermost).
// Every physical attempt made on behalf of a call with this context —
// retries, re-routed pieces, lock resolution — passes through them, in the
// cluster chain's interceptor slot. mws[0] is outermost.
func WithInterceptors(ctx context.Context, mws ...transport.Middleware) context.Context {
	if len(mws) == 0 {
		return ctx
	}
	list := attached(ctx)
	for _, mw := range mws {
		list = append(list, interceptor{mw: mw})
	}
	return context.WithValue(ctx, interceptorsKey{}, list)
}

// WithNamedInterceptor attaches mw under name. If ctx already carries an
// interceptor of that name, the old one is dropped and mw takes the
// innermost place, so code that attaches "its" interceptor on every nested
// call runs it once (as client-go's RPCInterceptorChain de-duplicates by
// name).
func WithNamedInterceptor(ctx context.Context, name string, mw transport.Middleware) context.Context {
	prev := attached(ctx)
	list := make([]interceptor, 0, len(prev)+1)
	for _, it := range prev {
		if it.name != name || name == "" {
			list = append(list, it)
		}
	}
	return context.WithValue(ctx, interceptorsKey{}, append(list, interceptor{name: name, mw: mw}))
}

// attached returns a copy of ctx's interceptor list with room to grow, so
// contexts derived from one parent never share a backing array.
func attached(ctx context.Context) []interceptor {
	prev, _ := ctx.Value(interceptorsKey{}).([]interceptor)
	return append(make([]interceptor, 0, len(prev)+1), prev...)
}

// InterceptorsFrom returns the interceptors attached to ctx, outermost
// first.
func InterceptorsFrom(ctx context.Context) []transport.Middleware {
	list, _ := ctx.Value(interceptorsKey{}).([]interceptor)
	if len(list) == 0 {
		return nil
	}
	mws := make([]transport.Middleware, len(list))
	for i, it := range list {
		mws[i] = it.mw
	}
	return mws
}

// Interceptors returns the middleware that runs the interceptors attached to
// each request's context (see WithInterceptors) around the rest of the
// chain. Requests without interceptors pass straight through.
//
// An asynchronous send stays asynchronous through it when the request has
// no interceptors, or when every interceptor keeps it so (one built with
// transport.Around); otherwise transport.SendAsync runs the interceptors
// on a goroutine.
func Interceptors() transport.Middleware {
	return func(next transport.Sender) transport.Sender {
		wrap := func(ctx context.Context) transport.Sender {
			list, _ := ctx.Value(interceptorsKey{}).([]interceptor)
			s := next
			for i := len(list) - 1; i >= 0; i-- {
				s = list[i].mw(s)
			}
			return s
		}
		return transport.SenderFuncs{
			SendFunc: func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
				return wrap(ctx).Send(ctx, req)
			},
			SendAsyncFunc: func(ctx context.Context, req *transport.Request, cb transport.Callback) {
				transport.SendAsync(ctx, wrap(ctx), req, cb)
			},
		}
	}
}
