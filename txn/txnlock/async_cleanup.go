package txnlock

import (
	"context"
	"sync"
)

// backgroundCleanup runs read-path cleanups (committing or rolling back
// locks whose fate a reader already knows) on goroutines the Resolver
// owns, so that the reader need not wait for them (client-go's
// asyncResolveTaskPool). At most limit run at once; beyond that, and after
// Close, cleanups run in the caller's goroutine. The goroutines work on
// the Resolver's own context, not the reader's: a reader that returns must
// not cancel the cleanup it started, and the reader's request state
// (budget, attempt numbering) must not be shared with another goroutine.
type backgroundCleanup struct {
	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

func newBackgroundCleanup(limit int) *backgroundCleanup {
	ctx, cancel := context.WithCancel(context.Background())
	return &backgroundCleanup{ctx: ctx, cancel: cancel, sem: make(chan struct{}, limit)}
}

// tryGo starts fn on a background goroutine, or reports false when the
// limit is reached or the Resolver is closed. fn's error is dropped: the
// reader has its answer, and a lock left behind is resolved by the next
// reader or writer that meets it.
func (b *backgroundCleanup) tryGo(fn func(context.Context) error) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	select {
	case b.sem <- struct{}{}:
	default:
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() { <-b.sem }()
		_ = fn(b.ctx)
	}()
	return true
}

func (b *backgroundCleanup) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}

// WithBackgroundReadCleanup lets read-path resolutions (Options.ForRead)
// leave the cleanup of locks whose fate is already known to goroutines the
// Resolver owns, at most limit at once, instead of making the reader wait
// for it (client-go always does so for reads). Close then stops them. A
// limit of zero or less keeps cleanup in the reader's goroutine, the
// default.
func WithBackgroundReadCleanup(limit int) Option {
	return func(c *config) { c.backgroundLimit = limit }
}

// Close cancels the background cleanups of WithBackgroundReadCleanup and
// waits for them to stop; later cleanups run in their caller's goroutine.
// The Resolver stays usable. Without that option Close does nothing.
func (r *Resolver) Close() {
	if r.background != nil {
		r.background.close()
	}
}

// cleanup runs fn, which commits or rolls back locks of a transaction
// whose fate is known: now, or in the background for a reader when the
// Resolver may. A reader's cleanup error is dropped either way: the reader
// already knows it may skip or read through the locks, and a lock left
// behind is the next caller's to resolve, so cleaning up in place and in
// the background differ only in who waits (client-go's
// batchLiteResolveLocks gives the same reason).
func (c *resolveCall) cleanup(ctx context.Context, fn func(context.Context) error) error {
	if !c.opts.ForRead {
		return fn(ctx)
	}
	if c.r.background == nil || !c.r.background.tryGo(fn) {
		_ = fn(ctx)
	}
	return nil
}
