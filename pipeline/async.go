package pipeline

import (
	"context"
	"fmt"

	"github.com/tikvgo/tikv/transport"
)

// Spawner runs functions on goroutines it owns: it cancels their context
// and waits for them when it closes, and refuses new ones (with an error)
// once closing. *tikv.Cluster is one (Cluster.Go).
type Spawner interface {
	Go(f func(ctx context.Context)) error
}

// Future is the pending result of a plan started with Start.
type Future[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// Done returns a channel closed once the result is ready.
func (f *Future[T]) Done() <-chan struct{} { return f.done }

// Result returns the plan's result; it blocks until Done is closed.
func (f *Future[T]) Result() (T, error) {
	<-f.done
	return f.val, f.err
}

// Wait returns the plan's result, or ctx's error if ctx ends first (the
// plan goes on, bounded by its own context).
func (f *Future[T]) Wait(ctx context.Context) (T, error) {
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Start runs plan(ctx, req) asynchronously and returns its Future at
// once: the region-aware counterpart of transport.AsyncSender (client-go's
// RegionRequestSender.SendReqAsync). See Go for where it runs and how it
// ends.
func Start[Req, Resp any](g Spawner, ctx context.Context, plan Plan[Req, Resp], req Req) *Future[Resp] {
	f := &Future[Resp]{done: make(chan struct{})}
	Go(g, ctx, plan, req, func(v Resp, err error) {
		f.val, f.err = v, err
		close(f.done)
	})
	return f
}

// Go runs plan(ctx, req) on a goroutine g owns and hands the outcome to
// cb, exactly once, on that goroutine (wrap cb with transport.OnExecutor to
// run it on a RunLoop or another executor). The plan stops when ctx ends
// or g closes, whichever comes first, with the plan's usual errors (a
// write whose outcome is unknown is kv.ErrUndetermined). A ctx already
// done, or a g that refuses the work (closed), settles cb at once on the
// caller's goroutine with an error wrapping transport.ErrNotSent: nothing
// was sent.
//
// The plan itself runs synchronously on its goroutine, with every retry,
// re-split and backoff of a synchronous call; only the waiting is moved
// off the caller. client-go instead sends the first attempt without a
// goroutine and moves to one for retries; a plan here may fan out to many
// regions, so one owned goroutine per call is the simple, bounded shape.
func Go[Req, Resp any](g Spawner, ctx context.Context, plan Plan[Req, Resp], req Req, cb func(Resp, error)) {
	var zero Resp
	if err := ctx.Err(); err != nil {
		cb(zero, fmt.Errorf("%w: %w", transport.ErrNotSent, err))
		return
	}
	err := g.Go(func(owner context.Context) {
		run, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(owner, cancel)
		defer stop()
		cb(plan(run, req))
	})
	if err != nil {
		cb(zero, fmt.Errorf("%w: start the plan: %w", transport.ErrNotSent, err))
	}
}
