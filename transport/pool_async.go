package transport

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/metadata"

	"github.com/tikvgo/tikv/kv"
)

var _ AsyncSender = (*Pool)(nil)

// SendAsync is Send without blocking the caller for the answer (see
// AsyncSender); cb receives exactly what Send would have returned, wrapped
// the same way. A batchable command goes through the BatchCommands stream
// with no goroutine of its own: it is settled by the stream's loops, by
// Close, or by a watcher of ctx and req.Timeout (context.AfterFunc and
// time.AfterFunc, which run only if they fire). Any other command (or every
// command under WithoutBatch, or to a server without BatchCommands) is a
// unary call on a goroutine the Pool owns: Close cancels it and waits for
// it.
//
// Unlike client-go, which refuses an asynchronous request it cannot batch,
// the Pool sends every command: the caller need not know which path a
// command takes. SendAsync blocks only while the chosen stream's queue is
// full, bounded by ctx and Close.
func (p *Pool) SendAsync(ctx context.Context, req *Request, cb Callback) {
	if err := validateRequest(req); err != nil {
		cb(nil, fmt.Errorf("%w: %w", ErrNotSent, err))
		return
	}
	addr := req.Target.Addr
	if err := ctx.Err(); err != nil {
		cb(nil, fmt.Errorf("%w: %s to %s: %w", ErrNotSent, req.Cmd, addr, err))
		return
	}
	ac, err := p.acquire(addr)
	if err != nil {
		cb(nil, fmt.Errorf("%w: %s to %s: %w", ErrNotSent, req.Cmd, addr, err))
		return
	}
	if ac.batch == nil || !req.Cmd.Batchable() {
		p.sendUnaryAsync(ctx, ac, req, cb)
		return
	}
	ac.batchFor(req).sendAsync(ctx, req, AttemptTimeout(ctx, req.Timeout), func(msg Message, err error) {
		if errors.Is(err, errBatchUnsupported) {
			// Not written: the server has no BatchCommands.
			p.sendUnaryAsync(ctx, ac, req, cb)
			return
		}
		// This may run on a stream's own goroutine, which must not wait
		// for the stream to stop: a retired set closes elsewhere.
		p.releaseAsync(ac)
		if err != nil {
			cb(nil, fmt.Errorf("%s to %s: %w", req.Cmd, addr, err))
			return
		}
		cb(&Response{Msg: msg}, nil)
	})
}

// sendUnaryAsync makes the unary call on a goroutine the Pool owns and
// hands its outcome to cb. It ends the use of ac that SendAsync began.
func (p *Pool) sendUnaryAsync(ctx context.Context, ac *addrConns, req *Request, cb Callback) {
	started := p.goOwned(func() {
		resp, err := p.sendUnary(ctx, ac, req)
		p.release(ac)
		cb(resp, err)
	})
	if !started {
		p.releaseAsync(ac)
		cb(nil, fmt.Errorf("%w: %s to %s: %w", ErrNotSent, req.Cmd, req.Target.Addr, kv.ErrClosed))
	}
}

// sendUnary is Send's unary call.
func (p *Pool) sendUnary(ctx context.Context, ac *addrConns, req *Request) (*Response, error) {
	if d := AttemptTimeout(ctx, req.Timeout); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if fwd := req.Target.ForwardedHost; fwd != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, ForwardedHostKey, fwd)
	}
	resp := req.Cmd.NewResponse()
	if err := invokeUnary(ctx, ac.pick(), req.Cmd.FullMethod(), req.Msg, resp); err != nil {
		return nil, fmt.Errorf("%s to %s: %w", req.Cmd, req.Target.Addr, err)
	}
	return &Response{Msg: resp}, nil
}

// releaseAsync is release for a caller that may be one of ac's own stream
// goroutines: if ac must close, it closes on a goroutine the Pool owns
// (closing waits for the stream goroutines). A Pool already closing has
// collected ac and closes it in Close.
func (p *Pool) releaseAsync(ac *addrConns) {
	if ac.refs.Add(-1) != 0 || !ac.retired.Load() {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	delete(p.retired, ac)
	p.owned.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.owned.Done()
		_ = ac.close()
	}()
}

// goOwned runs f on a goroutine that Close waits for; false, and f does
// not run, once Close has begun.
func (p *Pool) goOwned(f func()) bool {
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return false
	}
	p.owned.Add(1)
	p.mu.RUnlock()
	go func() {
		defer p.owned.Done()
		f()
	}()
	return true
}
