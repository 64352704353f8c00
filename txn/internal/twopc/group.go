package twopc

import (
	"context"
	"sync"

	"github.com/tikvgo/tikv/kv"
)

// Group owns the work a commit leaves running after Commit returns: the
// commit of secondaries once the primary committed, and the rollback of a
// failed commit's locks. One Group serves a transactional client; the
// client's Close closes it, which is what bounds the goroutines' lives.
//
// The work's failures belong to no caller: a secondary left locked is
// committed by the first reader that meets it (it resolves the lock from
// the committed primary), a lock left by a failed commit expires and is
// rolled back the same way. They are counted and handed to the OnError
// hook, for logs and metrics.
//
// A Group is safe for concurrent use.
type Group struct {
	ctx     context.Context
	cancel  context.CancelFunc
	onError func(error)

	mu      sync.Mutex
	closed  bool
	running int
	idle    chan struct{} // closed when running drops to 0; nil while idle
	stats   GroupStats
}

// GroupStats counts a Group's tasks.
type GroupStats struct {
	// Started counts tasks accepted; Failed those that returned an error.
	Started, Failed int
}

// NewGroup returns a Group whose tasks run on a context derived from
// parent: the client's lifetime, never a caller's request context (the
// tasks outlive the request). Cancelling parent stops the tasks as Close
// does when its wait is cut short. onError, when not nil, is called with
// each task's failure; it must be safe for concurrent use.
func NewGroup(parent context.Context, onError func(error)) *Group {
	ctx, cancel := context.WithCancel(parent)
	return &Group{ctx: ctx, cancel: cancel, onError: onError}
}

// Go runs task in a goroutine of its own with the Group's context, unless
// the Group is closed, when it returns kv.ErrClosed and runs nothing.
func (g *Group) Go(task func(ctx context.Context) error) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return kv.ErrClosed
	}
	g.running++
	g.stats.Started++
	g.mu.Unlock()
	go func() {
		err := task(g.ctx)
		if err != nil && g.onError != nil {
			g.onError(err)
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if err != nil {
			g.stats.Failed++
		}
		g.running--
		if g.running == 0 && g.idle != nil {
			close(g.idle)
			g.idle = nil
		}
	}()
	return nil
}

// Wait returns once no task is running (tasks started meanwhile included),
// or when ctx ends, with its error.
func (g *Group) Wait(ctx context.Context) error {
	g.mu.Lock()
	if g.running == 0 {
		g.mu.Unlock()
		return nil
	}
	if g.idle == nil {
		g.idle = make(chan struct{})
	}
	idle := g.idle
	g.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close refuses new tasks and waits for the running ones to finish; if
// ctx ends first, it cancels their context (a task stops at its next RPC
// or wait) and waits for them to return, and reports ctx's error. Close
// may be called more than once.
func (g *Group) Close(ctx context.Context) error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	err := g.Wait(ctx)
	g.cancel()
	if err != nil {
		_ = g.Wait(context.Background())
	}
	return err
}

// Stats returns the Group's counts so far.
func (g *Group) Stats() GroupStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats
}
