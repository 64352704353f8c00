package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/kv"
)

type sendResult struct {
	resp *Response
	err  error
}

// sendAsync sends req in a goroutine that ends when Send returns.
func sendAsync(ctx context.Context, p *Pool, req *Request) <-chan sendResult {
	ch := make(chan sendResult, 1)
	go func() {
		resp, err := p.Send(ctx, req)
		ch <- sendResult{resp, err}
	}()
	return ch
}

// highPriorityPut is a RawPut in the priority lane (client-go's
// highTaskPriority is 10).
func highPriorityPut(addr, key string) *Request {
	r := rawPut(addr, key, "v")
	r.Msg.(*kvrpcpb.RawPutRequest).Context.ResourceControlContext = &kvrpcpb.ResourceControlContext{OverridePriority: 16}
	return r
}

// TestBatchConcurrentCallersGetTheirOwnResponses: concurrent callers on
// shared streams each get the answer to their own request.
//
// ports client-go's TestEncodedMsgDataPool_ConcurrentSafety
// (internal/client/client_batch_test.go): the pooled entries and their
// encoding buffers are reused under concurrency (checked by -race) and
// no caller sees another's bytes.
func TestBatchConcurrentCallersGetTheirOwnResponses(t *testing.T) {
	const callers, each = 64, 40
	s := newBatchTikv()
	s.inline = true
	s.data = make(map[string][]byte)
	for c := range callers {
		for i := range each {
			key := fmt.Sprintf("k%d-%d", c, i)
			s.data[key] = []byte("v" + key)
		}
	}
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(2))

	start := make(chan struct{})
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			<-start
			for i := range each {
				key := fmt.Sprintf("k%d-%d", c, i)
				resp, err := p.Send(context.Background(), rawGet(addr, key))
				if err != nil {
					errs <- err
					return
				}
				if got := string(resp.Msg.(*kvrpcpb.RawGetResponse).Value); got != "v"+key {
					errs <- fmt.Errorf("%s: got %q", key, got)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	require.Zero(t, s.unaryGets.Load(), "batchable commands go over the streams")
	require.EqualValues(t, callers*each, s.batchedSubs.Load())
	require.EqualValues(t, 2, s.streams.Load(), "one stream per connection")
	biggest := 0
	for _, n := range s.batchSizes() {
		biggest = max(biggest, n)
		require.LessOrEqual(t, n, DefaultMaxBatchSize)
	}
	require.Greater(t, biggest, 1, "concurrent requests share batches")
	t.Logf("%d batches, largest %d", len(s.batchSizes()), biggest)

	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ids := range s.ids {
		for j := 1; j < len(ids); j++ {
			require.Greater(t, ids[j], ids[j-1], "stream %d: ids not unique and increasing", i)
		}
	}
}

func TestBatchNonBatchableCommandGoesUnary(t *testing.T) {
	s := newBatchTikv()
	addr := startTikv(t, s)
	p, _ := newTestPool(t)
	resp, err := p.Send(context.Background(), &Request{
		Cmd:    CmdRawGetKeyTTL,
		Msg:    &kvrpcpb.RawGetKeyTTLRequest{Context: &kvrpcpb.Context{}, Key: []byte("k")},
		Target: Target{Addr: addr},
	})
	require.NoError(t, err)
	require.EqualValues(t, 7, resp.Msg.(*kvrpcpb.RawGetKeyTTLResponse).Ttl)
	require.EqualValues(t, 1, s.unaryTTLs.Load())
	require.Zero(t, s.batchedSubs.Load())
}

func TestBatchDisabledGoesUnary(t *testing.T) {
	s := newBatchTikv()
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithBatch(BatchConfig{}), WithoutBatch())
	for range 3 {
		_, err := p.Send(context.Background(), rawGet(addr, "k"))
		require.NoError(t, err)
	}
	require.EqualValues(t, 3, s.unaryGets.Load())
	require.Zero(t, s.streams.Load(), "no stream is opened")

	// The last option wins.
	p2, _ := newTestPool(t, WithoutBatch(), WithBatch(BatchConfig{}))
	_, err := p2.Send(context.Background(), rawGet(addr, "k"))
	require.NoError(t, err)
	require.EqualValues(t, 3, s.unaryGets.Load())
	require.EqualValues(t, 1, s.batchedSubs.Load())
}

// TestBatchStreamBrokenMidFlight: a stream that breaks under requests in
// flight fails each of them (sent, so not ErrNotSent) and is replaced; a
// later request succeeds on the new stream, whose ids keep increasing.
//
// ports client-go's TestPanicInRecvLoop (internal/client/client_fail_test.go):
// an error in the receive loop fails the pending requests and the
// connection recovers (its failpoint panic inside failPendingRequests is
// client-go's code path; we break the stream from the server instead).
func TestBatchStreamBrokenMidFlight(t *testing.T) {
	s := newBatchTikv()
	s.swallow.Store(true)
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(1))

	const n = 5
	results := make([]<-chan sendResult, n)
	for i := range n {
		results[i] = sendAsync(context.Background(), p, rawGet(addr, fmt.Sprint(i)))
	}
	var lastID uint64
	for range n {
		lastID = max(lastID, <-s.swallowed)
	}
	s.swallow.Store(false)
	s.abort <- struct{}{}

	for _, ch := range results {
		r := <-ch
		require.Error(t, r.err)
		require.NotErrorIs(t, r.err, ErrNotSent, "the request reached the server")
		require.Equal(t, codes.Unavailable, status.Code(r.err), "%v", r.err)
		require.ErrorContains(t, r.err, "RawGet to "+addr)
	}

	// The stream comes back; meanwhile a request either succeeds or
	// provably did not leave.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := p.Send(context.Background(), rawGet(addr, "k"))
		if err == nil {
			break
		}
		require.ErrorIs(t, err, ErrNotSent)
		require.True(t, time.Now().Before(deadline), "no new stream: %v", err)
		time.Sleep(10 * time.Millisecond)
	}
	require.EqualValues(t, 2, s.streams.Load())
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Greater(t, s.ids[len(s.ids)-1][0], lastID, "ids keep increasing across streams")
}

func TestBatchContextCancelWhileInFlight(t *testing.T) {
	s := newBatchTikv()
	s.swallow.Store(true)
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(1))

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-s.swallowed
		cancel()
	}()
	_, err := p.Send(ctx, rawGet(addr, "k"))
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, codes.Canceled, status.Code(err), "%v", err)
	require.NotErrorIs(t, err, ErrNotSent, "the request was written")
	require.ErrorContains(t, err, "RawGet to "+addr)

	req := rawGet(addr, "k2")
	req.Timeout = 50 * time.Millisecond
	start := time.Now()
	_, err = p.Send(context.Background(), req)
	elapsed := time.Since(start)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, codes.DeadlineExceeded, status.Code(err), "%v", err)
	require.NotErrorIs(t, err, ErrNotSent)
	require.GreaterOrEqual(t, elapsed, req.Timeout)
	require.Less(t, elapsed, 5*time.Second)
	<-s.swallowed
}

func TestBatchLateAndUnknownResponsesAreDropped(t *testing.T) {
	s := newBatchTikv()
	s.withGate(t)
	s.bogusID.Store(1 << 62)
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(1))

	// Every answer is preceded by one for an id nobody asked for.
	_, err := p.Send(context.Background(), rawGet(addr, "k"))
	require.NoError(t, err)

	// The answer to an abandoned request is dropped too.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-s.entered
		cancel()
	}()
	_, err = p.Send(ctx, rawPut(addr, "k", "late"))
	require.ErrorIs(t, err, context.Canceled)
	s.gate <- struct{}{}
	require.Eventually(t, func() bool {
		s.fakeTikv.mu.Lock()
		defer s.fakeTikv.mu.Unlock()
		return len(s.puts) == 1
	}, 5*time.Second, time.Millisecond)

	resp, err := p.Send(context.Background(), rawGet(addr, "k"))
	require.NoError(t, err)
	require.Equal(t, "late", string(resp.Msg.(*kvrpcpb.RawGetResponse).Value))
	require.EqualValues(t, 1, s.streams.Load(), "the stream survived")
}

// streamOf returns the (only) BatchCommands stream the Pool holds for addr.
func streamOf(t *testing.T, p *Pool, addr string) *batchStream {
	t.Helper()
	p.mu.RLock()
	defer p.mu.RUnlock()
	ac := p.addrs[addr]
	require.NotNil(t, ac, "no connections to %s", addr)
	require.NotNil(t, ac.batch, "no batch client for %s", addr)
	require.Len(t, ac.batch.streams, 1)
	return ac.batch.streams[0]
}

// waitQueued waits until n requests sit in st's normal lane: their callers
// have queued them and the send loop has not taken them. It proves the
// state was reached, instead of sleeping and hoping it was.
func waitQueued(t *testing.T, st *batchStream, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(st.normal) == n }, 5*time.Second, time.Millisecond,
		"normal lane holds %d, want %d", len(st.normal), n)
}

// The server records each batch as its stream receives it, before any
// handler runs, and a stream delivers batches in order: so once a request
// has entered its handler, every batch written before it is in arrivals().
// That is what lets these tests assert what was not sent without sleeping.

// TestBatchPriorityLane ports client-go's TestPrioritySentLimit and the
// priority half of TestLimitConcurrency (internal/client/client_test.go):
// a high-priority request overtakes queued normal ones and is not held
// back by MaxConcurrency. client-go measures latencies under load; this
// asserts the order in which requests reach the server.
//
// Also ports the order half of client-go's TestPriority
// (internal/client/priority_queue_test.go): the highest priority is taken
// first. Our queue has two lanes (OverridePriority >= 10 or not), FIFO
// within each, where client-go's heap orders every priority value.
func TestBatchPriorityLane(t *testing.T) {
	s := newBatchTikv()
	s.withGate(t)
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(1), WithBatch(BatchConfig{MaxConcurrency: 1}))
	ctx := context.Background()

	r0 := sendAsync(ctx, p, rawPut(addr, "r0", "v"))
	<-s.entered
	st := streamOf(t, p, addr)
	n1 := sendAsync(ctx, p, rawPut(addr, "n1", "v"))
	n2 := sendAsync(ctx, p, rawPut(addr, "n2", "v"))
	waitQueued(t, st, 2)

	// n1 and n2 were queued before h: a send loop ignoring the limit would
	// have written them before h or in h's batch.
	h := sendAsync(ctx, p, highPriorityPut(addr, "h"))
	<-s.entered
	require.Equal(t, []string{"r0", "h"}, s.arrivals(), "high priority overtakes and ignores the limit")
	require.EqualValues(t, 2, st.inflight.Load())
	require.Len(t, st.normal, 2, "normal requests still wait in their lane")

	for range 4 {
		s.gate <- struct{}{}
	}
	for _, ch := range []<-chan sendResult{r0, n1, n2, h} {
		require.NoError(t, (<-ch).err)
	}
	got := s.arrivals()
	require.Len(t, got, 4)
	require.ElementsMatch(t, []string{"n1", "n2"}, got[2:])
}

// TestBatchConcurrencyLimit ports the limit half of client-go's
// TestLimitConcurrency (internal/client/client_test.go): at most
// MaxConcurrency requests in flight per stream, the rest wait queued, and
// a queued request whose caller gave up is dropped, never sent.
//
// Also ports the clean half of client-go's TestPriority
// (internal/client/priority_queue_test.go): a cancelled queued request is
// dropped from the queue, not sent.
func TestBatchConcurrencyLimit(t *testing.T) {
	s := newBatchTikv()
	s.withGate(t)
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(1), WithBatch(BatchConfig{MaxConcurrency: 2}))
	ctx := context.Background()

	a := sendAsync(ctx, p, rawPut(addr, "a", "v"))
	b := sendAsync(ctx, p, rawPut(addr, "b", "v"))
	<-s.entered
	<-s.entered
	st := streamOf(t, p, addr)
	cctx, cancel := context.WithCancel(ctx)
	c := sendAsync(cctx, p, rawPut(addr, "c", "v"))
	waitQueued(t, st, 1)
	d := sendAsync(ctx, p, rawPut(addr, "d", "v"))
	waitQueued(t, st, 2)
	require.Len(t, s.arrivals(), 2, "two in flight at most")

	// c is provably still queued, so cancelling it must not send it.
	cancel()
	r := <-c
	require.ErrorIs(t, r.err, ErrNotSent, "c was still queued")
	require.ErrorIs(t, r.err, context.Canceled)
	require.Equal(t, codes.Canceled, status.Code(r.err))

	s.gate <- struct{}{} // a or b finishes; d takes its place
	<-s.entered
	require.ElementsMatch(t, []string{"a", "b", "d"}, s.arrivals(), "c was never sent")
	s.gate <- struct{}{}
	s.gate <- struct{}{}
	for _, ch := range []<-chan sendResult{a, b, d} {
		require.NoError(t, (<-ch).err)
	}
	require.ElementsMatch(t, []string{"a", "b", "d"}, s.arrivals(), "c was never sent")
}

func TestBatchCloseFailsWaitersAndStopsGoroutines(t *testing.T) {
	s := newBatchTikv()
	s.withGate(t)
	addr := startTikv(t, s)
	before := goleak.IgnoreCurrent()
	p, _ := newTestPool(t, WithConnsPerStore(1), WithBatch(BatchConfig{MaxConcurrency: 1}))
	ctx := context.Background()

	inFlight := sendAsync(ctx, p, rawPut(addr, "a", "v"))
	<-s.entered
	queued := sendAsync(ctx, p, rawPut(addr, "b", "v"))
	waitQueued(t, streamOf(t, p, addr), 1)

	require.NoError(t, p.Close())
	r := <-inFlight
	require.ErrorIs(t, r.err, kv.ErrClosed)
	require.NotErrorIs(t, r.err, ErrNotSent, "a was written")
	r = <-queued
	require.ErrorIs(t, r.err, kv.ErrClosed)
	require.ErrorIs(t, r.err, ErrNotSent, "b was never written")
	require.Equal(t, []string{"a"}, s.arrivals())

	_, err := p.Send(ctx, rawGet(addr, "k"))
	require.ErrorIs(t, err, kv.ErrClosed)
	goleak.VerifyNone(t, before)
}

func TestBatchCloseAddrStopsStreams(t *testing.T) {
	s := newBatchTikv()
	addr := startTikv(t, s)
	before := goleak.IgnoreCurrent()
	p, _ := newTestPool(t)
	_, err := p.Send(context.Background(), rawGet(addr, "k"))
	require.NoError(t, err)
	require.NoError(t, p.CloseAddr(addr))
	goleak.VerifyNone(t, before)
	opened := s.streams.Load()

	_, err = p.Send(context.Background(), rawGet(addr, "k"))
	require.NoError(t, err, "a fresh set of streams")
	require.Greater(t, s.streams.Load(), opened)
}

func TestBatchUnreachable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())

	p, _ := newTestPool(t, WithConnsPerStore(1))
	for range 3 {
		_, err = p.Send(context.Background(), rawPut(addr, "k", "v"))
		require.ErrorIs(t, err, ErrNotSent, "no stream, so nothing left")
		require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	}
}

func TestBatchServerStopped(t *testing.T) {
	s := newBatchTikv()
	addr, srv := startTikvServer(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(1))
	_, err := p.Send(context.Background(), rawGet(addr, "k"))
	require.NoError(t, err)

	srv.Stop()
	// Until the client notices, a request may be written to the dead
	// stream (outcome unknown); after that, it fails fast as not sent.
	deadline := time.Now().Add(10 * time.Second)
	for {
		start := time.Now()
		_, err = p.Send(context.Background(), rawPut(addr, "k", "v"))
		require.Error(t, err)
		require.Less(t, time.Since(start), 5*time.Second, "fails fast")
		if errors.Is(err, ErrNotSent) {
			break
		}
		require.True(t, time.Now().Before(deadline), "still not failing fast: %v", err)
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("error once down: %v", err)
}

// noBatchTikv has no BatchCommands, like a server that predates it.
type noBatchTikv struct {
	tikvpb.UnimplementedTikvServer
	gets atomic.Int64
}

func (s *noBatchTikv) RawGet(context.Context, *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	s.gets.Add(1)
	return &kvrpcpb.RawGetResponse{Value: []byte("v")}, nil
}

func TestBatchUnimplementedFallsBackToUnary(t *testing.T) {
	s := &noBatchTikv{}
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(2))
	for range 5 {
		resp, err := p.Send(context.Background(), rawGet(addr, "k"))
		require.NoError(t, err)
		require.Equal(t, "v", string(resp.Msg.(*kvrpcpb.RawGetResponse).Value))
	}
	require.EqualValues(t, 5, s.gets.Load())
	p.mu.RLock()
	defer p.mu.RUnlock()
	require.True(t, p.addrs[addr].batch.unsupported.Load())
}

func TestBatchOverloadWaitsForMore(t *testing.T) {
	const wait = 300 * time.Millisecond
	s := newBatchTikv()
	s.inline = true
	s.load.Store(300)
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(1), WithBatch(BatchConfig{
		Policy: BatchPolicyBasic, MaxBatchWaitTime: wait, BatchWaitSize: 3,
	}))
	ctx := context.Background()

	// The probe's answer reported the load: a lone request waits for
	// company, up to MaxBatchWaitTime.
	start := time.Now()
	_, err := p.Send(ctx, rawGet(addr, "k"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), wait-10*time.Millisecond)

	// Three together fill BatchWaitSize and go at once, in one batch.
	before := len(s.batchSizes())
	res := make([]<-chan sendResult, 3)
	for i := range res {
		res[i] = sendAsync(ctx, p, rawGet(addr, "k"))
	}
	for _, ch := range res {
		require.NoError(t, (<-ch).err)
	}
	require.Equal(t, []int{3}, s.batchSizes()[before:])
}
