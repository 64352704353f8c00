package transport

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/tikvpb"
)

// sendAsync is send without a waiting caller: it queues req on a stream
// and returns; done receives the outcome exactly once, from whichever
// goroutine settles the entry first: the stream's receive loop (the
// answer, or the stream's failure), its send loop (a stream that broke or
// backs off before the write), Close, or the ctx or timeout watcher. The
// entry's state machine decides the winner (queued -> taken -> done; a
// watcher that gives up moves it to done directly), as it does between a
// synchronous caller and the loops, so no goroutine is started per
// request.
//
// Errors are those of send: a request given up while still queued wraps
// ErrNotSent; one given up after it was written unwraps to the ctx error
// only. errBatchUnsupported (not sent) means the server has no
// BatchCommands and the caller should send req as a unary call.
//
// sendAsync blocks only while the stream's queue is full (backpressure,
// bounded by ctx, the timeout and Close), as client-go's SendRequestAsync
// does; the timeout counts from the call, the wait for room included.
func (b *batchClient) sendAsync(ctx context.Context, req *Request, timeout time.Duration, done func(Message, error)) {
	if b.unsupported.Load() {
		done(nil, errBatchUnsupported)
		return
	}
	codec := cmdTable[req.Cmd].batch
	s := b.pick()
	if s == nil {
		if b.unsupported.Load() {
			done(nil, errBatchUnsupported)
			return
		}
		done(nil, fmt.Errorf("%w: no BatchCommands stream: %w", ErrNotSent, b.streams[0].lastError()))
		return
	}
	// An asynchronous entry is never recycled: the watchers below may
	// still hold it after it completed.
	e := &batchEntry{}
	buf, err := marshalInto(nil, req.Msg)
	if err != nil {
		done(nil, fmt.Errorf("%w: marshal: %w", ErrNotSent, err))
		return
	}
	e.buf, e.field = buf, codec.field
	e.high = req.Cmd.Context(req.Msg).GetResourceControlContext().GetOverridePriority() >= highTaskPriority
	e.arrived = time.Now()
	start := e.arrived

	var (
		mu       sync.Mutex // orders the watchers' set-up before their stop
		stopCtx  func() bool
		stopTime *time.Timer
	)
	e.finish = func(resp *tikvpb.BatchCommandsResponse_Response, err error) {
		mu.Lock()
		if stopCtx != nil {
			stopCtx()
		}
		if stopTime != nil {
			stopTime.Stop()
		}
		mu.Unlock()
		if err != nil {
			done(nil, err)
			return
		}
		msg := codec.unwrapResp(resp)
		if msg == nil {
			done(nil, fmt.Errorf("BatchCommands response carries %T", resp.GetCmd()))
			return
		}
		done(msg, nil)
	}
	// giveUp settles the entry for a caller that stopped waiting: not
	// sent while it is still queued, the bare ctx error once written.
	giveUp := func(cause error) {
		if e.state.CompareAndSwap(entryQueued, entryDone) {
			e.finish(nil, fmt.Errorf("%w: queued for a BatchCommands stream: %w", ErrNotSent, ctxError{cause}))
			return
		}
		e.complete(entryTaken, nil, ctxError{cause})
	}

	e.state.Store(entryQueued)
	if err := s.enqueue(ctx, e, nil, timeout); err != nil {
		done(nil, err)
		return
	}
	// The entry is queued and a loop may complete it at any moment; the
	// watchers are armed under mu so that finish, if it runs meanwhile,
	// stops the ones already armed once it gets mu.
	mu.Lock()
	if timeout > 0 {
		// What is left of it after any wait for room; none left fires
		// at once.
		stopTime = time.AfterFunc(timeout-time.Since(start), func() { giveUp(context.DeadlineExceeded) })
	}
	stopCtx = context.AfterFunc(ctx, func() { giveUp(ctx.Err()) })
	mu.Unlock()
	if e.state.Load() == entryDone {
		// finish ran before the watchers existed: stop them now.
		mu.Lock()
		stopCtx()
		if stopTime != nil {
			stopTime.Stop()
		}
		mu.Unlock()
	}
	// Close may have drained the lanes before e arrived (failQueued runs
	// once the send loop has gone): then nobody else will settle it.
	if b.closing.Load() && e.state.CompareAndSwap(entryQueued, entryDone) {
		e.finish(nil, closedNotSent)
	}
}
