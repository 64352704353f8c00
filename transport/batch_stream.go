package transport

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Stream states, as callers see them when they pick a stream.
const (
	streamConnecting int32 = iota // opening: requests queue and wait for it
	streamUp                      // serving
	streamDown                    // waiting out a backoff: callers skip it
)

// Reconnect backoff: client-go re-creates a broken stream under its
// BoTiKVRPC backoff, 100ms doubling to 2s with equal jitter, until closed.
const (
	reconnectBase = 100 * time.Millisecond
	reconnectCap  = 2 * time.Second
)

// probeTimeout bounds the wait for a new stream's first answer; it is
// client-go's dialTimeout, which bounds its wait for a connection to be
// ready before it re-creates a stream.
const probeTimeout = 5 * time.Second

// batchConnIndexKey is the metadata client-go sends with each stream to
// name its connection; TiKV logs it.
const batchConnIndexKey = "tikv-batch-conn-index"

// batchStream is the BatchCommands stream of one connection, across
// reconnects: its queue, its send loop and its request ids.
type batchStream struct {
	client *batchClient
	conn   *grpc.ClientConn
	index  int
	limit  int64 // MaxConcurrency; 0: none

	high   chan *batchEntry // the priority lane
	normal chan *batchEntry
	budget chan struct{} // capacity 1: in-flight count fell, with a limit set

	state    atomic.Int32
	inflight atomic.Int64 // requests written and not yet answered
	lastErr  atomic.Pointer[error]

	// Owned by the send loop.
	policy     *batchPolicy
	nextID     uint64
	batch      []*batchEntry
	normals    int // normal-lane entries in batch
	ids        []uint64
	lastArrive time.Time
	timer      *time.Timer
}

func newBatchStream(b *batchClient, cc *grpc.ClientConn, index int) *batchStream {
	size := b.cfg.MaxBatchSize
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &batchStream{
		client: b,
		conn:   cc,
		index:  index,
		limit:  int64(b.cfg.MaxConcurrency),
		high:   make(chan *batchEntry, size),
		normal: make(chan *batchEntry, size),
		budget: make(chan struct{}, 1),
		policy: newBatchPolicy(b.cfg),
		batch:  make([]*batchEntry, 0, size),
		ids:    make([]uint64, 0, size),
		timer:  t,
	}
}

// liveStream is one opened stream: the requests written to it and not yet
// answered, by id, and the goroutine receiving its responses.
type liveStream struct {
	st     tikvpb.Tikv_BatchCommandsClient
	cancel context.CancelFunc

	mu        sync.Mutex
	inflight  map[uint64]*batchEntry
	broken    bool  // the receive loop has stopped; nothing more may be added
	brokenErr error // why
	sendErr   error // a write error that made the send loop cancel it

	recvDone    chan struct{} // closed when the receive loop has exited
	gotResponse atomic.Bool
}

func (s *batchStream) lastError() error {
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return errors.New("stream not open yet")
}

// enqueue puts e in the lane its priority selects, waiting for room until
// ctx ends, expired fires, or (when expired is nil) timeout, if > 0, runs
// out.
func (s *batchStream) enqueue(ctx context.Context, e *batchEntry, expired <-chan time.Time, timeout time.Duration) error {
	lane := s.normal
	if e.high {
		lane = s.high
	}
	select {
	case lane <- e:
		return nil
	default:
	}
	if expired == nil && timeout > 0 {
		// Only a request that has to wait for room pays for a timer.
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case lane <- e:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for room in the batch queue: %w", ErrNotSent, ctxError{ctx.Err()})
	case <-expired:
		return fmt.Errorf("%w: waiting for room in the batch queue: %w", ErrNotSent, ctxError{context.DeadlineExceeded})
	case <-s.client.stop:
		return fmt.Errorf("%w: %w", ErrNotSent, errStreamClosed)
	}
}

// run owns the stream for the life of the client: it opens it, serves it
// until it breaks, and opens it again, at once after a stream that had
// worked and after a backoff otherwise. While it backs off, callers skip
// this stream and requests already queued on it fail wrapping ErrNotSent.
func (s *batchStream) run() {
	defer s.client.wg.Done()
	attempt := 0
	for {
		ls, err := s.open()
		healthy := false
		if err == nil {
			if err = s.probe(ls); err == nil {
				s.state.Store(streamUp)
				err = s.serve(ls)
			}
			healthy = s.shut(ls)
		}
		if s.client.closing.Load() {
			return
		}
		if status.Code(err) == codes.Unimplemented {
			s.client.unsupported.Store(true)
			s.state.Store(streamDown)
			s.refuseAll()
			return
		}
		s.lastErr.Store(&err)
		if healthy {
			attempt = 0
			s.state.Store(streamConnecting)
			continue
		}
		s.state.Store(streamDown)
		if !s.sleepFailing(reconnectDelay(attempt), err) {
			return
		}
		attempt++
		s.state.Store(streamConnecting)
	}
}

// reconnectDelay is the backoff before reconnect attempt n (from 0).
func reconnectDelay(n int) time.Duration {
	d := reconnectCap
	if n < 5 {
		d = min(reconnectBase<<n, reconnectCap)
	}
	return d/2 + rand.N(d/2+1)
}

// sleepFailing waits d, failing whatever is queued meanwhile; false when the
// client closed.
func (s *batchStream) sleepFailing(d time.Duration, cause error) bool {
	notSent := fmt.Errorf("%w: BatchCommands stream unavailable: %w", ErrNotSent, cause)
	s.timer.Reset(d)
	for {
		select {
		case <-s.timer.C:
			return true
		case <-s.client.stop:
			s.timer.Stop()
			return false
		case e := <-s.high:
			e.complete(entryQueued, nil, notSent)
		case e := <-s.normal:
			e.complete(entryQueued, nil, notSent)
		}
	}
}

// probe sends an Empty request, as client-go's tests and TiKV's own
// BatchCommands handler know it, and waits for its echo: only a stream that
// answered carries requests. It tells a server without BatchCommands
// (UNIMPLEMENTED, before any request was written) from a broken one.
func (s *batchStream) probe(ls *liveStream) error {
	e := &batchEntry{done: make(chan struct{}, 1)}
	e.state.Store(entryTaken)
	s.nextID++
	id := s.nextID
	// The receive loop may already have seen the stream break (a stream
	// reset right after it opened) and dropped the in-flight map: register
	// only on a live stream, as flush does.
	ls.mu.Lock()
	if ls.broken {
		err := ls.brokenErr
		ls.mu.Unlock()
		return err
	}
	ls.inflight[id] = e
	s.inflight.Add(1)
	ls.mu.Unlock()
	req := &tikvpb.BatchCommandsRequest{
		Requests: []*tikvpb.BatchCommandsRequest_Request{{Cmd: &tikvpb.BatchCommandsRequest_Request_Empty{
			Empty: &tikvpb.BatchCommandsEmptyRequest{TestId: id},
		}}},
		RequestIds: []uint64{id},
	}
	_ = ls.st.SendMsg(req) // a failed write shows in Recv
	s.timer.Reset(probeTimeout)
	defer s.timer.Stop()
	select {
	case <-e.done:
		return e.err
	case <-ls.recvDone:
		return ls.brokenErr
	case <-s.client.stop:
		return errStreamClosed
	case <-s.timer.C:
		return fmt.Errorf("BatchCommands stream did not answer its probe within %v", probeTimeout)
	}
}

// failQueued completes, with err, every request still in s's lanes. Only
// close calls it, once the send loop has exited.
func (s *batchStream) failQueued(err error) {
	for {
		select {
		case e := <-s.high:
			e.complete(entryQueued, nil, err)
		case e := <-s.normal:
			e.complete(entryQueued, nil, err)
		default:
			return
		}
	}
}

// refuseAll is what a stream's loop does once the server has said it has
// no BatchCommands: it hands every request queued on it back to its caller,
// which sends it as a unary call instead, until the client closes.
func (s *batchStream) refuseAll() {
	for {
		select {
		case e := <-s.high:
			e.complete(entryQueued, nil, errBatchUnsupported)
		case e := <-s.normal:
			e.complete(entryQueued, nil, errBatchUnsupported)
		case <-s.client.stop:
			return
		}
	}
}

func (s *batchStream) open() (*liveStream, error) {
	ctx, cancel := context.WithCancel(s.client.ctx)
	ctx = metadata.AppendToOutgoingContext(ctx, batchConnIndexKey, strconv.Itoa(s.index))
	if h := s.client.forwardedHost; h != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, ForwardedHostKey, h)
	}
	// The send loop writes pre-encoded batches, which only gogoCodec
	// accepts: force it even if the dial options chose another codec.
	st, err := tikvpb.NewTikvClient(s.conn).BatchCommands(ctx, grpc.ForceCodec(gogoCodec{}))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open BatchCommands stream: %w", err)
	}
	ls := &liveStream{
		st:       st,
		cancel:   cancel,
		inflight: make(map[uint64]*batchEntry),
		recvDone: make(chan struct{}),
	}
	s.client.wg.Add(1)
	go s.recvLoop(ls)
	return ls, nil
}

// shut cancels ls, waits for its receive loop, and reports whether it ever
// delivered a response.
func (s *batchStream) shut(ls *liveStream) bool {
	ls.cancel()
	<-ls.recvDone
	return ls.gotResponse.Load()
}

// recvLoop delivers responses by request id until the stream fails, then
// fails every request in flight on it: they may have reached TiKV, so the
// error does not wrap ErrNotSent.
func (s *batchStream) recvLoop(ls *liveStream) {
	defer s.client.wg.Done()
	defer close(ls.recvDone)
	type delivery struct {
		e *batchEntry
		r *tikvpb.BatchCommandsResponse_Response
	}
	var got []delivery
	for {
		resp, err := ls.st.Recv()
		if err != nil {
			s.breakStream(ls, err)
			return
		}
		ls.gotResponse.Store(true)
		s.client.deliverFeedback(resp.HealthFeedback)
		if load := resp.TransportLayerLoad; load > 0 && s.client.cfg.MaxBatchWaitTime > 0 {
			s.client.load.Store(load)
		}
		ls.mu.Lock()
		for i, id := range resp.RequestIds {
			e, ok := ls.inflight[id]
			if !ok {
				continue // its stream was replaced, or an id TiKV made up
			}
			delete(ls.inflight, id)
			d := delivery{e: e}
			if i < len(resp.Responses) {
				d.r = resp.Responses[i]
			}
			got = append(got, d)
		}
		ls.mu.Unlock()
		if len(got) == 0 {
			continue
		}
		s.retire(len(got))
		for i, d := range got {
			if d.r == nil {
				d.e.complete(entryTaken, nil, errNoResponse)
			} else {
				d.e.complete(entryTaken, d.r, nil) // false: its caller left
			}
			got[i] = delivery{}
		}
		got = got[:0]
	}
}

func (s *batchStream) breakStream(ls *liveStream, recvErr error) {
	ls.mu.Lock()
	cause := recvErr
	if ls.sendErr != nil {
		cause = ls.sendErr
	}
	ls.broken, ls.brokenErr = true, cause
	pending := ls.inflight
	ls.inflight = nil
	ls.mu.Unlock()

	failErr := errStreamClosed
	if !s.client.closing.Load() {
		failErr = fmt.Errorf("BatchCommands stream failed with the request in flight: %w", cause)
	}
	s.retire(len(pending))
	for _, e := range pending {
		e.complete(entryTaken, nil, failErr)
	}
}

// retire accounts for n requests that left the in-flight map.
func (s *batchStream) retire(n int) {
	s.inflight.Add(-int64(n))
	if s.limit > 0 {
		select {
		case s.budget <- struct{}{}:
		default:
		}
	}
}
