package transport

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/kv"
)

// asyncResult records what a Callback received and how often.
type asyncResult struct {
	calls atomic.Int32
	done  chan struct{}
	resp  *Response
	err   error
	// onLoop, when set, tells where the callback ran: the RunLoop test
	// sets it just before Exec, and ranOn records its value at the call.
	onLoop *atomic.Bool
	ranOn  bool
}

func newAsyncResult() *asyncResult { return &asyncResult{done: make(chan struct{})} }

func (r *asyncResult) cb(resp *Response, err error) {
	if r.calls.Add(1) != 1 {
		panic("callback called twice")
	}
	r.resp, r.err = resp, err
	if r.onLoop != nil {
		r.ranOn = r.onLoop.Load()
	}
	close(r.done)
}

// wait returns the result once the callback ran.
func (r *asyncResult) wait(t *testing.T) (*Response, error) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("callback not called")
	}
	require.EqualValues(t, 1, r.calls.Load())
	return r.resp, r.err
}

// TestSendAsyncBasic ports client-go's TestSendRequestAsyncBasic
// (internal/client/client_async_test.go). client-go refuses an
// asynchronous request when batching is off ("batch client is disabled"),
// for a non-TiKV store, or for a command BatchCommands cannot carry; the
// Pool sends all of them, as unary calls, so each subtest asserts the
// answer arrives instead. Store types do not exist here (every Target is a
// TiKV store). The OK case runs the callback on a RunLoop: it runs on
// the goroutine that drives Exec, not before.
func TestSendAsyncBasic(t *testing.T) {
	s := newBatchTikv()
	s.data = map[string][]byte{"k": []byte("v")}
	addr := startTikv(t, s)
	ctx := context.Background()

	t.Run("BatchDisabled", func(t *testing.T) {
		p, _ := newTestPool(t, WithoutBatch())
		r := newAsyncResult()
		p.SendAsync(ctx, rawGet(addr, "k"), r.cb)
		resp, err := r.wait(t)
		require.NoError(t, err)
		require.Equal(t, "v", string(resp.Msg.(*kvrpcpb.RawGetResponse).Value))
		require.EqualValues(t, 1, s.unaryGets.Load(), "sent as a unary call")
		require.Zero(t, s.streams.Load())
	})

	t.Run("UnbatchableCommand", func(t *testing.T) {
		p, _ := newTestPool(t)
		r := newAsyncResult()
		p.SendAsync(ctx, &Request{
			Cmd:    CmdRawGetKeyTTL,
			Msg:    &kvrpcpb.RawGetKeyTTLRequest{Context: &kvrpcpb.Context{}, Key: []byte("k")},
			Target: Target{Addr: addr},
		}, r.cb)
		resp, err := r.wait(t)
		require.NoError(t, err)
		require.EqualValues(t, 7, resp.Msg.(*kvrpcpb.RawGetKeyTTLResponse).Ttl)
		require.EqualValues(t, 1, s.unaryTTLs.Load())
	})

	t.Run("ServerWithoutBatchCommands", func(t *testing.T) {
		nb := &noBatchTikv{}
		nbAddr := startTikv(t, nb)
		p, _ := newTestPool(t, WithConnsPerStore(2))
		for range 4 {
			r := newAsyncResult()
			p.SendAsync(ctx, rawGet(nbAddr, "k"), r.cb)
			resp, err := r.wait(t)
			require.NoError(t, err)
			require.Equal(t, "v", string(resp.Msg.(*kvrpcpb.RawGetResponse).Value))
		}
		require.EqualValues(t, 4, nb.gets.Load(), "each went unary, once")
	})

	t.Run("InvalidRequest", func(t *testing.T) {
		p, _ := newTestPool(t)
		r := newAsyncResult()
		p.SendAsync(ctx, &Request{Cmd: CmdRawGet, Msg: &kvrpcpb.RawPutRequest{}, Target: Target{Addr: addr}}, r.cb)
		require.EqualValues(t, 1, r.calls.Load(), "refused before SendAsync returned")
		_, err := r.wait(t)
		require.ErrorIs(t, err, kv.ErrInvalidArgument)
		require.ErrorIs(t, err, ErrNotSent)
	})

	t.Run("OK", func(t *testing.T) {
		p, _ := newTestPool(t)
		var loop RunLoop
		var onLoop atomic.Bool
		r := newAsyncResult()
		r.onLoop = &onLoop
		batched := s.batchedSubs.Load()
		p.SendAsync(ctx, rawGet(addr, "k"), OnExecutor(&loop, r.cb))

		// The answer comes back on the receive loop, which only queues
		// the callback: it waits for Exec.
		require.Eventually(t, func() bool { return loop.Pending() == 1 }, 10*time.Second, time.Millisecond)
		require.Zero(t, r.calls.Load())
		onLoop.Store(true)
		n, err := loop.Exec(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		resp, err := r.wait(t)
		require.NoError(t, err)
		require.True(t, r.ranOn, "the callback ran on the goroutine driving Exec")
		require.Equal(t, "v", string(resp.Msg.(*kvrpcpb.RawGetResponse).Value))
		require.EqualValues(t, batched+1, s.batchedSubs.Load(), "sent over the BatchCommands stream")
	})
}

// TestSendAsyncKeepsContext ports client-go's
// TestSendRequestAsyncAttachContext: the request's kvrpcpb.Context (region
// id, peer) reaches TiKV inside the batched sub-request. client-go
// attaches the context in SendRequestAsync; here the pipeline fills it
// before the Pool, which must carry it untouched.
func TestSendAsyncKeepsContext(t *testing.T) {
	s := newBatchTikv()
	addr := startTikv(t, s)
	p, _ := newTestPool(t)
	req := rawGet(addr, "foo")
	req.Msg.(*kvrpcpb.RawGetRequest).Context = &kvrpcpb.Context{RegionId: 7, Peer: nil, RegionEpoch: nil, RequestSource: "async"}
	r := newAsyncResult()
	p.SendAsync(context.Background(), req, r.cb)
	_, err := r.wait(t)
	require.NoError(t, err)
	require.EqualValues(t, 1, s.batchedSubs.Load())
	s.fakeTikv.mu.Lock()
	defer s.fakeTikv.mu.Unlock()
	require.EqualValues(t, 7, s.lastCtx.GetRegionId())
	require.Equal(t, "async", s.lastCtx.GetRequestSource())
}

// TestSendAsyncTimeout ports client-go's TestSendRequestAsyncTimeout, its
// four cases: the ctx deadline or a cancel while TiKV handles the request
// (the error unwraps to the ctx error, carries the matching gRPC status,
// and does not claim the request was not sent), and the deadline or a
// cancel before the request was written (client-go fakes a full queue
// with a failpoint; here a MaxConcurrency of 1 holds the request in the
// queue behind one in flight), which fail wrapping ErrNotSent. A request
// whose ctx is done before SendAsync is not sent at all.
func TestSendAsyncTimeout(t *testing.T) {
	s := newBatchTikv()
	s.withGate(t)
	addr := startTikv(t, s)
	ctx := context.Background()

	t.Run("TimeoutOnHandle", func(t *testing.T) {
		p, _ := newTestPool(t, WithConnsPerStore(1))
		sendCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		r := newAsyncResult()
		p.SendAsync(sendCtx, rawPut(addr, "a", "v"), r.cb)
		<-s.entered
		_, err := r.wait(t)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Equal(t, codes.DeadlineExceeded, status.Code(err))
		require.NotErrorIs(t, err, ErrNotSent, "TiKV got it")
	})

	t.Run("RequestTimeoutOnHandle", func(t *testing.T) {
		p, _ := newTestPool(t, WithConnsPerStore(1))
		req := rawPut(addr, "a", "v")
		req.Timeout = 100 * time.Millisecond
		r := newAsyncResult()
		start := time.Now()
		p.SendAsync(ctx, req, r.cb)
		<-s.entered
		_, err := r.wait(t)
		require.GreaterOrEqual(t, time.Since(start), req.Timeout)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotErrorIs(t, err, ErrNotSent)
	})

	t.Run("CanceledOnHandle", func(t *testing.T) {
		p, _ := newTestPool(t, WithConnsPerStore(1))
		sendCtx, cancel := context.WithCancel(ctx)
		r := newAsyncResult()
		p.SendAsync(sendCtx, rawPut(addr, "a", "v"), r.cb)
		<-s.entered
		cancel()
		_, err := r.wait(t)
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, codes.Canceled, status.Code(err))
		require.NotErrorIs(t, err, ErrNotSent)
	})

	// The queued cases: one request holds the only slot.
	queued := func(t *testing.T) (*Pool, *batchStream) {
		p, _ := newTestPool(t, WithConnsPerStore(1), WithBatch(BatchConfig{MaxConcurrency: 1}))
		blocker := newAsyncResult()
		p.SendAsync(ctx, rawPut(addr, "blocker", "v"), blocker.cb)
		<-s.entered
		t.Cleanup(func() { _ = p.Close(); _, _ = blocker.wait(t) })
		return p, streamOf(t, p, addr)
	}

	// requireSkipped frees the slot and sends z after the given-up key:
	// the stream is FIFO, so had key been written it would be in the
	// arrivals before z.
	requireSkipped := func(t *testing.T, p *Pool, st *batchStream, key string) {
		t.Helper()
		s.gate <- struct{}{} // the blocker finishes
		_, err := p.Send(ctx, rawGet(addr, "z-"+key))
		require.NoError(t, err)
		require.Contains(t, s.arrivals(), "z-"+key)
		require.NotContains(t, s.arrivals(), key, "given up while queued, so never written")
		require.Zero(t, len(st.normal))
	}

	t.Run("TimeoutBeforeSend", func(t *testing.T) {
		p, st := queued(t)
		sendCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		r := newAsyncResult()
		p.SendAsync(sendCtx, rawPut(addr, "b", "v"), r.cb)
		_, err := r.wait(t)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorIs(t, err, ErrNotSent, "still queued")
		require.Equal(t, codes.DeadlineExceeded, status.Code(err))
		requireSkipped(t, p, st, "b")
	})

	t.Run("CanceledBeforeSend", func(t *testing.T) {
		p, st := queued(t)
		sendCtx, cancel := context.WithCancel(ctx)
		r := newAsyncResult()
		p.SendAsync(sendCtx, rawPut(addr, "c", "v"), r.cb)
		cancel()
		_, err := r.wait(t)
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, ErrNotSent)
		requireSkipped(t, p, st, "c")
	})

	t.Run("TimeoutWaitingForRoom", func(t *testing.T) {
		// A queue of one, full: SendAsync itself waits for room (as
		// client-go's does for its channel), bounded by req.Timeout.
		p, _ := newTestPool(t, WithConnsPerStore(1), WithBatch(BatchConfig{MaxConcurrency: 1, MaxBatchSize: 1}))
		blocker, filler := newAsyncResult(), newAsyncResult()
		p.SendAsync(ctx, rawPut(addr, "blocker", "v"), blocker.cb)
		<-s.entered
		p.SendAsync(ctx, rawPut(addr, "filler", "v"), filler.cb)
		st := streamOf(t, p, addr)
		waitQueued(t, st, 1)
		req := rawPut(addr, "e", "v")
		req.Timeout = 50 * time.Millisecond
		r := newAsyncResult()
		start := time.Now()
		p.SendAsync(ctx, req, r.cb)
		require.EqualValues(t, 1, r.calls.Load(), "settled while SendAsync waited for room")
		require.GreaterOrEqual(t, time.Since(start), req.Timeout)
		_, err := r.wait(t)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorIs(t, err, ErrNotSent)
		require.NoError(t, p.Close())
		_, _ = blocker.wait(t)
		_, err = filler.wait(t)
		require.ErrorIs(t, err, ErrNotSent)
	})

	t.Run("CanceledBeforeCall", func(t *testing.T) {
		p, _ := newTestPool(t)
		sendCtx, cancel := context.WithCancel(ctx)
		cancel()
		r := newAsyncResult()
		p.SendAsync(sendCtx, rawPut(addr, "d", "v"), r.cb)
		require.EqualValues(t, 1, r.calls.Load(), "settled before SendAsync returned")
		_, err := r.wait(t)
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, ErrNotSent)
		require.Empty(t, p.Addrs(), "nothing was dialled")
	})
}

// TestSendAsyncCloseWhileHandled ports client-go's
// TestSendRequestAsyncAndCloseClientOnHandle: Close while TiKV holds the
// request settles the callback with kv.ErrClosed, and not ErrNotSent,
// since TiKV got it.
func TestSendAsyncCloseWhileHandled(t *testing.T) {
	s := newBatchTikv()
	s.withGate(t)
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(1))
	var loop RunLoop
	r := newAsyncResult()
	p.SendAsync(context.Background(), rawPut(addr, "a", "v"), OnExecutor(&loop, r.cb))
	<-s.entered
	require.NoError(t, p.Close())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := loop.Exec(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = r.wait(t)
	require.ErrorIs(t, err, kv.ErrClosed)
	require.NotErrorIs(t, err, ErrNotSent)
}

// TestSendAsyncCloseBeforeSend ports client-go's
// TestSendRequestAsyncAndCloseClientBeforeSend: a request still queued
// when the Pool closes is settled as not sent (kv.ErrClosed and
// ErrNotSent), and one sent after Close is refused at once.
func TestSendAsyncCloseBeforeSend(t *testing.T) {
	s := newBatchTikv()
	s.withGate(t)
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(1), WithBatch(BatchConfig{MaxConcurrency: 1}))
	ctx := context.Background()

	inFlight := newAsyncResult()
	p.SendAsync(ctx, rawPut(addr, "a", "v"), inFlight.cb)
	<-s.entered
	queued := newAsyncResult()
	p.SendAsync(ctx, rawPut(addr, "b", "v"), queued.cb)
	waitQueued(t, streamOf(t, p, addr), 1)

	require.NoError(t, p.Close())
	_, err := queued.wait(t)
	require.ErrorIs(t, err, kv.ErrClosed)
	require.ErrorIs(t, err, ErrNotSent)
	_, err = inFlight.wait(t)
	require.ErrorIs(t, err, kv.ErrClosed)
	require.NotErrorIs(t, err, ErrNotSent)
	require.Equal(t, []string{"a"}, s.arrivals())

	after := newAsyncResult()
	p.SendAsync(ctx, rawPut(addr, "c", "v"), after.cb)
	require.EqualValues(t, 1, after.calls.Load())
	_, err = after.wait(t)
	require.ErrorIs(t, err, kv.ErrClosed)
	require.ErrorIs(t, err, ErrNotSent)
}

// TestSendAsyncNoGoroutinePerRequest checks the point of the asynchronous
// batch path: many requests in flight cost no goroutine each. The server
// swallows them (no goroutine per request on its side either); then the
// stream breaks and every callback gets the stream's failure, once.
func TestSendAsyncNoGoroutinePerRequest(t *testing.T) {
	const n = 300
	s := newBatchTikv()
	s.swallow.Store(true)
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(1))
	// Open the stream first, so its goroutines are in the baseline.
	warm := newAsyncResult()
	p.SendAsync(context.Background(), rawGet(addr, "warm"), warm.cb)
	<-s.swallowed
	base := runtime.NumGoroutine()

	var got sync.WaitGroup
	var calls atomic.Int64
	errs := make(chan error, n)
	got.Add(n)
	for i := range n {
		p.SendAsync(context.Background(), rawGet(addr, fmt.Sprint(i)), func(_ *Response, err error) {
			calls.Add(1)
			errs <- err
			got.Done()
		})
	}
	for range n {
		<-s.swallowed
	}
	grew := runtime.NumGoroutine() - base
	t.Logf("%d requests in flight, %d more goroutines", n, grew)
	require.Less(t, grew, 10, "no goroutine per request")

	s.swallow.Store(false)
	s.abort <- struct{}{}
	got.Wait()
	_, _ = warm.wait(t)
	require.EqualValues(t, n, calls.Load())
	close(errs)
	for err := range errs {
		require.Error(t, err)
		require.NotErrorIs(t, err, ErrNotSent, "every one was written")
		require.Equal(t, codes.Unavailable, status.Code(err))
	}
}

// TestSendAsyncExactlyOnce races answers, cancels, timeouts and Close:
// every callback runs exactly once (asyncResult panics on a second call)
// and Close leaves no goroutine behind (goleak, in TestMain).
//
// ports client-go's TestFulfillOnce "InvokeTwice"/"InvokeSchedule"
// (util/async/core_test.go): a request's callback is fulfilled once.
func TestSendAsyncExactlyOnce(t *testing.T) {
	const n = 400
	s := newBatchTikv()
	s.inline = true
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(2), WithBatch(BatchConfig{MaxConcurrency: 8}))
	results := make([]*asyncResult, n)
	for i := range n {
		results[i] = newAsyncResult()
		ctx, cancel := context.WithCancel(context.Background())
		req := rawPut(addr, fmt.Sprint(i), "v")
		if i%5 == 0 {
			req.Timeout = time.Duration(i%7) * time.Microsecond
		}
		if i%2 == 0 {
			req = rawGetKeyTTL(addr) // unary, on an owned goroutine
		}
		p.SendAsync(ctx, req, results[i].cb)
		if i%3 == 0 {
			cancel()
		}
		defer cancel()
		if i == n*3/4 {
			require.NoError(t, p.Close())
		}
	}
	for _, r := range results {
		_, _ = r.wait(t)
	}
}

func rawGetKeyTTL(addr string) *Request {
	return &Request{
		Cmd:    CmdRawGetKeyTTL,
		Msg:    &kvrpcpb.RawGetKeyTTLRequest{Context: &kvrpcpb.Context{}, Key: []byte("k")},
		Target: Target{Addr: addr},
	}
}

// TestSendAsyncHelper: SendAsync on a Sender that is not an AsyncSender
// runs Send on a goroutine; a done ctx is refused at once.
func TestSendAsyncHelper(t *testing.T) {
	var sends atomic.Int32
	s := SenderFunc(func(ctx context.Context, req *Request) (*Response, error) {
		sends.Add(1)
		return &Response{Msg: &kvrpcpb.RawGetResponse{Value: []byte("x")}}, nil
	})
	r := newAsyncResult()
	SendAsync(context.Background(), s, &Request{Cmd: CmdRawGet}, r.cb)
	resp, err := r.wait(t)
	require.NoError(t, err)
	require.Equal(t, "x", string(resp.Msg.(*kvrpcpb.RawGetResponse).Value))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r = newAsyncResult()
	SendAsync(ctx, s, &Request{Cmd: CmdRawGet}, r.cb)
	_, err = r.wait(t)
	require.ErrorIs(t, err, ErrNotSent)
	require.ErrorIs(t, err, context.Canceled)
	require.EqualValues(t, 1, sends.Load())
}

// TestRunLoop: Exec waits for work, runs what is queued including what
// its functions submit, stops at ctx's end leaving the rest queued, and
// refuses a second driver.
func TestRunLoop(t *testing.T) {
	var l RunLoop
	ctx := context.Background()
	var order []int
	l.Submit(func() {
		order = append(order, 1)
		l.Submit(func() { order = append(order, 3) })
	})
	l.Submit(func() { order = append(order, 2) })
	n, err := l.Exec(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Equal(t, []int{1, 2, 3}, order)

	// Nothing queued: Exec waits for a Submit from elsewhere.
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(time.Millisecond)
		l.Submit(func() { order = append(order, 4) })
	}()
	n, err = l.Exec(ctx)
	<-done
	require.NoError(t, err)
	require.Equal(t, 1, n)

	cctx, cancel := context.WithCancel(ctx)
	l.Submit(func() { cancel() })
	l.Submit(func() { order = append(order, 5) })
	n, err = l.Exec(cctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, n)
	require.Equal(t, 1, l.Pending(), "the rest stays queued")
	n, err = l.Exec(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []int{1, 2, 3, 4, 5}, order)

	// One driver at a time.
	started := make(chan struct{})
	release := make(chan struct{})
	l.Submit(func() { close(started); <-release })
	execDone := make(chan struct{})
	go func() { defer close(execDone); _, _ = l.Exec(ctx) }()
	<-started
	_, err = l.Exec(ctx)
	require.ErrorIs(t, err, ErrRunLoopBusy)
	close(release)
	<-execDone
}

// TestAroundKeepsSendAsynchronous: layers built with Around run before on
// the caller, After on the answer, and refuse without sending; the chain
// over a Pool stays an AsyncSender down to the batch stream.
func TestAroundKeepsSendAsynchronous(t *testing.T) {
	s := newBatchTikv()
	s.data = map[string][]byte{"k": []byte("v")}
	addr := startTikv(t, s)
	p, _ := newTestPool(t)
	var afters atomic.Int32
	refuse := Around(func(ctx context.Context, req *Request) (context.Context, *Request, After, error) {
		if string(req.Msg.(*kvrpcpb.RawGetRequest).Key) == "no" {
			return ctx, nil, nil, fmt.Errorf("%w: refused", ErrNotSent)
		}
		return ctx, req, func(resp *Response, err error) (*Response, error) {
			afters.Add(1)
			return resp, err
		}, nil
	})
	chain := Chain(p, refuse)
	_, ok := chain.(AsyncSender)
	require.True(t, ok)

	r := newAsyncResult()
	SendAsync(context.Background(), chain, rawGet(addr, "k"), r.cb)
	resp, err := r.wait(t)
	require.NoError(t, err)
	require.Equal(t, "v", string(resp.Msg.(*kvrpcpb.RawGetResponse).Value))
	require.EqualValues(t, 1, afters.Load())
	require.EqualValues(t, 1, s.batchedSubs.Load())

	r = newAsyncResult()
	SendAsync(context.Background(), chain, rawGet(addr, "no"), r.cb)
	require.EqualValues(t, 1, r.calls.Load(), "refused inline")
	_, err = r.wait(t)
	require.ErrorIs(t, err, ErrNotSent)
	require.EqualValues(t, 1, s.batchedSubs.Load())

	// The synchronous path runs the same halves.
	_, err = chain.Send(context.Background(), rawGet(addr, "k"))
	require.NoError(t, err)
	require.EqualValues(t, 2, afters.Load())
}

// TestSendAsyncCloseAddrInFlight: CloseAddr under an asynchronous request
// in flight lets it finish; its answer, settled on the stream's receive
// loop, then closes the retired connections without that loop waiting for
// itself (the close runs on a goroutine the Pool owns).
func TestSendAsyncCloseAddrInFlight(t *testing.T) {
	s := newBatchTikv()
	s.withGate(t)
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(1))
	r := newAsyncResult()
	p.SendAsync(context.Background(), rawPut(addr, "a", "v"), r.cb)
	<-s.entered
	old := p.connsOf(addr)
	require.NoError(t, p.CloseAddr(addr))
	s.gate <- struct{}{}
	_, err := r.wait(t)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, cc := range old {
			if cc.GetState() != connectivity.Shutdown {
				return false
			}
		}
		return true
	}, 10*time.Second, time.Millisecond)
	p.mu.RLock()
	require.Empty(t, p.retired)
	p.mu.RUnlock()
}

// TestSendAsyncRacesClose sends from several goroutines while the Pool
// closes under them: every callback still runs exactly once, requests
// after Close are refused as not sent, and no goroutine outlives Close.
func TestSendAsyncRacesClose(t *testing.T) {
	const senders, each = 8, 100
	s := newBatchTikv()
	s.inline = true
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(2), WithBatch(BatchConfig{MaxConcurrency: 4}))
	var settled atomic.Int64
	half := make(chan struct{})
	var once sync.Once
	results := make([][]*asyncResult, senders)
	var wg sync.WaitGroup
	for g := range senders {
		results[g] = make([]*asyncResult, each)
		wg.Go(func() {
			for i := range each {
				r := newAsyncResult()
				results[g][i] = r
				req := rawPut(addr, fmt.Sprint(g, "-", i), "v")
				if i%4 == 0 {
					req = rawGetKeyTTL(addr)
				}
				ctx, cancel := context.WithCancel(context.Background())
				p.SendAsync(ctx, req, func(resp *Response, err error) {
					r.cb(resp, err)
					if settled.Add(1) == senders*each/2 {
						once.Do(func() { close(half) })
					}
				})
				if i%5 == 0 {
					cancel()
				}
				defer cancel()
			}
		})
	}
	<-half
	require.NoError(t, p.Close())
	wg.Wait()
	closed := 0
	for _, rs := range results {
		for _, r := range rs {
			if _, err := r.wait(t); errors.Is(err, kv.ErrClosed) {
				closed++
			}
		}
	}
	t.Logf("%d of %d settled by Close", closed, senders*each)
}
