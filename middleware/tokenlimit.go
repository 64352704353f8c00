package middleware

import (
	"context"

	"golang.org/x/sync/semaphore"

	"github.com/tikvgo/tikv/transport"
)

// StoreTokenLimit returns the layer that bounds the attempts in flight to
// any one store to n, client-go's store limit (config.TiKVClient.StoreLimit,
// the per-store tokenCount of internal/locate/region_request.go). An
// attempt takes a token before it is sent and gives it back as soon as the
// layer below returns, so no token is held across a retry's backoff.
//
// Deviation from client-go: client-go refuses an attempt at once when the
// store has no token left (ErrTokenLimit); this layer queues it, in order,
// for as long as its context allows, and fails it with a *LimitError
// (transport.ErrNotSent, ErrLimited) when the context ends first. A caller
// who wants client-go's refusal gives the call a short deadline. n <= 0
// means no limit (client-go's default of 0). Each call returns a layer with
// tokens of its own; it is safe for concurrent use and holds no goroutine.
// Attempts without a store (StoreID 0) are not limited.
func StoreTokenLimit(n int64) transport.Middleware {
	stores := newPerStore(func() *semaphore.Weighted { return semaphore.NewWeighted(n) })
	return func(next transport.Sender) transport.Sender {
		if n <= 0 {
			return next
		}
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			id := req.Target.StoreID
			if id == 0 {
				return next.Send(ctx, req)
			}
			sem := stores.get(id)
			if err := sem.Acquire(ctx, 1); err != nil {
				return nil, &LimitError{Limit: "store tokens", StoreID: id, Cause: err}
			}
			defer sem.Release(1)
			return next.Send(ctx, req)
		})
	}
}
