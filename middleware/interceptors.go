package middleware

import (
	"context"
	"slices"

	"github.com/tikvgo/tikv/transport"
)

type interceptorsKey struct{}

// WithInterceptors returns a context whose requests pass through mws, in
// addition to any interceptors ctx already carries (those stay outermost).
// Every physical attempt made on behalf of a call with this context —
// retries, re-routed pieces, lock resolution — passes through them, in the
// cluster chain's interceptor slot. mws[0] is outermost.
func WithInterceptors(ctx context.Context, mws ...transport.Middleware) context.Context {
	if len(mws) == 0 {
		return ctx
	}
	prev, _ := ctx.Value(interceptorsKey{}).([]transport.Middleware)
	return context.WithValue(ctx, interceptorsKey{}, append(slices.Clip(prev), mws...))
}

// InterceptorsFrom returns the interceptors attached to ctx, outermost
// first.
func InterceptorsFrom(ctx context.Context) []transport.Middleware {
	mws, _ := ctx.Value(interceptorsKey{}).([]transport.Middleware)
	return mws
}

// Interceptors returns the middleware that runs the interceptors attached to
// each request's context (see WithInterceptors) around the rest of the
// chain. Requests without interceptors pass straight through.
func Interceptors() transport.Middleware {
	return func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			mws := InterceptorsFrom(ctx)
			if len(mws) == 0 {
				return next.Send(ctx, req)
			}
			return transport.Chain(next, mws...).Send(ctx, req)
		})
	}
}
