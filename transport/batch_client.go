package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tikvgo/tikv/kv"
)

// batchClient multiplexes one address's batchable requests over one
// BatchCommands stream per connection of the address.
//
// Each stream has its own queue and two goroutines: a send loop that
// batches the queue and also (re)opens the stream, and a receive loop per
// opened stream that matches responses to requests by id. Callers pick a
// stream round-robin, as unary calls pick a connection. All goroutines stop
// in close, which the Pool calls from Close and CloseAddr.
type batchClient struct {
	addr string
	// forwardedHost, when set, is sent as ForwardedHostKey metadata on every
	// stream: the server at addr forwards the whole stream to that host.
	forwardedHost string
	cfg           BatchConfig
	streams       []*batchStream
	next          atomic.Uint32
	// load is the transport_layer_load TiKV last reported, kept only when
	// MaxBatchWaitTime makes it matter.
	load atomic.Uint64
	// unsupported is set once a server answered a stream with
	// UNIMPLEMENTED: it has no BatchCommands, and every command to it is
	// sent unary from then on.
	unsupported atomic.Bool
	// onFeedback receives the health feedback TiKV attaches to responses
	// (WithHealthFeedback); nil: it is dropped.
	onFeedback func(HealthFeedback)
	// entries recycles the entries of requests that completed normally.
	entries sync.Pool

	ctx     context.Context // parent of every stream; cancelled by close
	cancel  context.CancelFunc
	stop    chan struct{} // closed by close
	closing atomic.Bool
	once    sync.Once
	wg      sync.WaitGroup
}

func newBatchClient(addr, forwardedHost string, conns []*grpc.ClientConn, cfg BatchConfig, onFeedback func(HealthFeedback)) *batchClient {
	ctx, cancel := context.WithCancel(context.Background())
	b := &batchClient{
		addr:          addr,
		forwardedHost: forwardedHost,
		cfg:           cfg,
		ctx:           ctx,
		cancel:        cancel,
		stop:          make(chan struct{}),
		onFeedback:    onFeedback,
	}
	b.entries.New = func() any { return &batchEntry{done: make(chan struct{}, 1)} }
	b.streams = make([]*batchStream, len(conns))
	for i, cc := range conns {
		b.streams[i] = newBatchStream(b, cc, i)
	}
	b.wg.Add(len(b.streams))
	for _, s := range b.streams {
		go s.run()
	}
	return b
}

// close stops every goroutine and waits for them. Requests still queued
// fail wrapping ErrNotSent and kv.ErrClosed; requests in flight fail with
// kv.ErrClosed only, since TiKV may have received them.
func (b *batchClient) close() {
	b.once.Do(func() {
		b.closing.Store(true)
		b.cancel()
		close(b.stop)
		b.wg.Wait()
		// A synchronous caller leaves a queued request on its own when it
		// sees stop; an asynchronous one has nobody waiting, so fail what
		// the loops left in the lanes (sendAsync fails what arrives after).
		for _, s := range b.streams {
			s.failQueued(closedNotSent)
		}
	})
}

// send queues req on a stream and waits for its response, ctx, timeout
// (none when 0) or close. A timeout fails the attempt as ctx's deadline
// would (context.DeadlineExceeded). Errors are not yet prefixed with the
// command and address. ok false (with a nil error) means the server has no
// BatchCommands and req, not sent, should go as a unary call.
func (b *batchClient) send(ctx context.Context, req *Request, timeout time.Duration) (msg Message, ok bool, err error) {
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	msg, err = b.sendBatched(ctx, req, expired)
	if errors.Is(err, errBatchUnsupported) {
		return nil, false, nil
	}
	return msg, true, err
}

func (b *batchClient) sendBatched(ctx context.Context, req *Request, expired <-chan time.Time) (Message, error) {
	if b.unsupported.Load() {
		return nil, errBatchUnsupported
	}
	codec := cmdTable[req.Cmd].batch
	s := b.pick()
	if s == nil {
		if b.unsupported.Load() {
			return nil, errBatchUnsupported
		}
		return nil, fmt.Errorf("%w: no BatchCommands stream: %w", ErrNotSent, b.streams[0].lastError())
	}
	e := b.entries.Get().(*batchEntry)
	buf, err := marshalInto(e.buf, req.Msg)
	if err != nil {
		b.entries.Put(e)
		return nil, fmt.Errorf("%w: marshal: %w", ErrNotSent, err)
	}
	e.buf, e.field = buf, codec.field
	e.high = req.Cmd.Context(req.Msg).GetResourceControlContext().GetOverridePriority() >= highTaskPriority
	e.arrived = time.Now()
	e.state.Store(entryQueued)
	if err := s.enqueue(ctx, e, expired, 0); err != nil {
		b.entries.Put(e) // it never entered a queue
		return nil, err
	}

	var gaveUp error
	select {
	case <-e.done:
	case <-ctx.Done():
		gaveUp = ctx.Err()
	case <-expired:
		gaveUp = context.DeadlineExceeded
	case <-b.stop:
		if e.state.CompareAndSwap(entryQueued, entryAbandoned) {
			return nil, fmt.Errorf("%w: %w", ErrNotSent, kv.ErrClosed)
		}
		<-e.done // the loop that took it completes it before it exits
	}
	if gaveUp != nil {
		// Leave at once; whoever holds the entry drops it. An abandoned
		// entry is never recycled, since a queue or the in-flight map may
		// still point to it.
		if e.state.CompareAndSwap(entryQueued, entryAbandoned) {
			return nil, fmt.Errorf("%w: queued for a BatchCommands stream: %w", ErrNotSent, ctxError{gaveUp})
		}
		if e.state.CompareAndSwap(entryTaken, entryAbandoned) {
			return nil, ctxError{gaveUp}
		}
		<-e.done // completed meanwhile
	}
	// Completed: the entry is in no queue and no map, so it can be reused.
	resp, err := e.resp, e.err
	e.resp, e.err = nil, nil
	b.entries.Put(e)
	if err != nil {
		return nil, err
	}
	msg := codec.unwrapResp(resp)
	if msg == nil {
		return nil, fmt.Errorf("%w: the response to %s carries %T", ErrMalformedBatchResponse, req.Cmd, resp.GetCmd())
	}
	return msg, nil
}

// pick returns the next stream, round-robin, that is not waiting out a
// reconnect backoff; nil when all are.
func (b *batchClient) pick() *batchStream {
	n := uint32(len(b.streams))
	start := b.next.Add(1) - 1
	for i := range n {
		if s := b.streams[(start+i)%n]; s.state.Load() != streamDown {
			return s
		}
	}
	return nil
}

// Entry states. An entry moves queued -> taken -> done, or to abandoned when
// its caller leaves first; exactly one party wins each transition.
const (
	entryQueued    int32 = iota // in a stream's queue
	entryTaken                  // owned by a send loop: being written, or in flight
	entryDone                   // resp or err set, done signalled
	entryAbandoned              // the caller returned without a result
)

// batchEntry is one request's trip through a stream.
type batchEntry struct {
	buf     []byte           // the marshalled request message
	field   protowire.Number // its field in the BatchCommands request oneof
	high    bool             // priority lane
	arrived time.Time

	state atomic.Int32
	done  chan struct{} // capacity 1; signalled once by complete
	resp  *tikvpb.BatchCommandsResponse_Response
	err   error
	// finish, set for an asynchronous send (batch_async.go), receives the
	// result instead of done: complete calls it on the goroutine that wins
	// the entry (a receive loop, a send loop, Close, or a ctx watcher).
	finish func(*tikvpb.BatchCommandsResponse_Response, error)
}

// complete moves e from state from to done with a result, and wakes its
// caller. It reports false, and changes nothing, when e is not in from.
func (e *batchEntry) complete(from int32, resp *tikvpb.BatchCommandsResponse_Response, err error) bool {
	if !e.state.CompareAndSwap(from, entryDone) {
		return false
	}
	if e.finish != nil {
		e.finish(resp, err)
		return true
	}
	e.resp, e.err = resp, err
	e.done <- struct{}{}
	return true
}

// ctxError is the caller's ctx error as the batch path returns it. It
// unwraps to ctx.Err() and carries the gRPC status a unary call would have
// failed with (Canceled or DeadlineExceeded), so callers need not care
// which path a command took.
type ctxError struct{ err error }

func (e ctxError) Error() string              { return e.err.Error() }
func (e ctxError) Unwrap() error              { return e.err }
func (e ctxError) GRPCStatus() *status.Status { return status.FromContextError(e.err) }

// closedNotSent fails requests still queued when the Pool closes.
var closedNotSent = fmt.Errorf("%w: %w", ErrNotSent, kv.ErrClosed)

// errStreamClosed fails requests in flight when the Pool closes.
var errStreamClosed = fmt.Errorf("BatchCommands stream closed with the request in flight: %w", kv.ErrClosed)

// errBatchUnsupported hands a request that was never written back to the
// Pool, to be sent as a unary call.
var errBatchUnsupported = fmt.Errorf("%w: the server has no BatchCommands", ErrNotSent)

// errNoResponse fails a request whose id TiKV answered without a body.
var errNoResponse = fmt.Errorf("%w: a request id answered without a body", ErrMalformedBatchResponse)
