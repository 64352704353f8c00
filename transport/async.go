package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tikvgo/tikv/kv"
)

// Callback receives the outcome of an asynchronous send: the response, or
// the error Send would have returned. It is called exactly once.
type Callback func(*Response, error)

// AsyncSender is a Sender that can also send without blocking its caller
// until the answer arrives: client-go's Client.SendRequestAsync.
//
// SendAsync hands req to the wire and returns; cb receives the outcome
// exactly once, with the errors Send would return (ErrNotSent when the
// request provably did not leave). SendAsync may call cb before it
// returns (an invalid request, a closed Pool, a ctx already done: such a
// request is not sent). Otherwise cb runs on whichever goroutine settles
// the request, typically a stream's receive loop: it must be quick and
// must not block or send again on that goroutine. Wrap it with OnExecutor
// to run it elsewhere (a RunLoop the caller drives, for instance).
// Cancelling ctx, or req.Timeout running out, settles the request at
// once, as for Send.
type AsyncSender interface {
	Sender
	SendAsync(ctx context.Context, req *Request, cb Callback)
}

// SendAsync sends req through s without waiting: natively when s is an
// AsyncSender (the Pool, or a chain whose every layer is one, see Chain),
// otherwise on a goroutine that calls s.Send and then cb. That goroutine
// is started by ctx's Spawner (WithSpawner; a tikv.Cluster's Sender sets
// its own, so Close cancels and waits for it), or with a plain go
// statement when ctx has none; it ends when cb returns, and Send is
// bounded by ctx and req.Timeout. cb is called exactly once, as
// AsyncSender documents; a Spawner that refuses (its owner is closing)
// settles the request with ErrNotSent and kv.ErrClosed.
func SendAsync(ctx context.Context, s Sender, req *Request, cb Callback) {
	if as, ok := s.(AsyncSender); ok {
		as.SendAsync(ctx, req, cb)
		return
	}
	if err := ctx.Err(); err != nil {
		cb(nil, fmt.Errorf("%w: %w", ErrNotSent, err))
		return
	}
	spawn, _ := ctx.Value(spawnerKey{}).(Spawner)
	if spawn == nil {
		go func() { cb(s.Send(ctx, req)) }()
		return
	}
	if !spawn(ctx, func(ctx context.Context) { cb(s.Send(ctx, req)) }) {
		cb(nil, fmt.Errorf("%w: %s to %s: %w", ErrNotSent, req.Cmd, req.Target.Addr, kv.ErrClosed))
	}
}

// Spawner runs f on a goroutine its owner tracks, with a context derived
// from ctx that also ends when the owner closes, and reports whether it
// did (false: the owner is closing, and f never runs).
type Spawner func(ctx context.Context, f func(ctx context.Context)) bool

type spawnerKey struct{}

// WithSpawner returns ctx carrying sp, which SendAsync uses for the
// goroutine a synchronous sender needs.
func WithSpawner(ctx context.Context, sp Spawner) context.Context {
	return context.WithValue(ctx, spawnerKey{}, sp)
}

// Executor runs functions on goroutines of its choosing: client-go's
// async.Executor. Submit must not block for long and must be safe for
// concurrent use. RunLoop is one.
type Executor interface {
	Submit(f func())
}

// OnExecutor returns a callback that runs cb on e instead of on the
// goroutine that settles the request (client-go's Callback.Schedule), so
// that cb may block or send again. A nil e returns cb unchanged.
func OnExecutor[T any](e Executor, cb func(T, error)) func(T, error) {
	if e == nil {
		return cb
	}
	return func(v T, err error) { e.Submit(func() { cb(v, err) }) }
}

// RunLoop is an Executor driven by its owner: Submit queues functions and
// Exec runs them on the goroutine that calls it, as client-go's
// async.RunLoop does. It lets one goroutine issue many asynchronous sends
// and handle every answer itself, without locks in its callbacks. The
// zero RunLoop is ready to use; it starts no goroutine.
type RunLoop struct {
	mu      sync.Mutex
	queue   []func()
	running bool
	wake    chan struct{} // capacity 1: Submit signals a waiting Exec
}

// Submit queues f to be run by the next Exec. It never blocks and is safe
// for concurrent use.
func (l *RunLoop) Submit(f func()) {
	l.mu.Lock()
	l.queue = append(l.queue, f)
	wake := l.wakeLocked()
	l.mu.Unlock()
	select {
	case wake <- struct{}{}:
	default:
	}
}

func (l *RunLoop) wakeLocked() chan struct{} {
	if l.wake == nil {
		l.wake = make(chan struct{}, 1)
	}
	return l.wake
}

// Pending returns how many submitted functions wait for Exec.
func (l *RunLoop) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

// ErrRunLoopBusy is returned by Exec when another Exec of the same loop
// is running: a RunLoop has one driver at a time.
var ErrRunLoopBusy = errors.New("transport: RunLoop.Exec is already running")

// Exec waits until at least one function is queued (or ctx is done), then
// runs queued functions in order, including those submitted while it
// runs, until the queue is empty, and returns how many it ran. When ctx
// ends it stops before the next function, leaves the rest queued, and
// returns ctx.Err() with the count so far.
func (l *RunLoop) Exec(ctx context.Context) (int, error) {
	l.mu.Lock()
	if l.running {
		l.mu.Unlock()
		return 0, ErrRunLoopBusy
	}
	l.running = true
	wake := l.wakeLocked()
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.running = false
		l.mu.Unlock()
	}()

	n := 0
	for {
		l.mu.Lock()
		batch := l.queue
		l.queue = nil
		l.mu.Unlock()
		if len(batch) == 0 {
			if n > 0 {
				return n, nil
			}
			select {
			case <-wake:
				continue
			case <-ctx.Done():
				return n, ctx.Err()
			}
		}
		for i, f := range batch {
			if ctx.Err() != nil {
				l.mu.Lock()
				l.queue = append(batch[i:len(batch):len(batch)], l.queue...)
				l.mu.Unlock()
				return n, ctx.Err()
			}
			f()
			n++
		}
	}
}
