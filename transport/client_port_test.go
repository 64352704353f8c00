package transport

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/tikvpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// This file ports the behaviour of client-go's
// internal/client/client_test.go that tikvgo's Pool has. Cases already
// covered by the Pool's own tests say so in those tests' doc comments.

// restartable is a TiKV test server that can be stopped and started again
// on the same address, as client-go's mock server can.
type restartable struct {
	t    *testing.T
	svc  tikvpb.TikvServer
	addr string

	mu   sync.Mutex
	srv  *grpc.Server
	done chan struct{}
}

func startRestartable(t *testing.T, svc tikvpb.TikvServer) *restartable {
	r := &restartable{t: t, svc: svc}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r.addr = lis.Addr().String()
	r.serve(lis)
	t.Cleanup(r.stop)
	return r
}

func (r *restartable) serve(lis net.Listener) {
	srv := grpc.NewServer()
	tikvpb.RegisterTikvServer(srv, r.svc)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	r.srv, r.done = srv, done
}

func (r *restartable) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv == nil {
		return
	}
	r.srv.Stop()
	<-r.done
	r.srv = nil
}

func (r *restartable) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return
	}
	var (
		lis net.Listener
		err error
	)
	for range 100 { // the old socket may linger for a moment
		if lis, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		r.t.Errorf("restart %s: %v", r.addr, err) // may run off the test goroutine
		return
	}
	r.serve(lis)
}

// TestPortCancelTimeoutRetErr ports client-go's TestCancelTimeoutRetErr:
// a batched request whose ctx is cancelled fails with context.Canceled,
// and one whose timeout runs out with context.DeadlineExceeded, each with
// the gRPC status a unary call would carry. (In client-go the request is
// queued on a batch connection nobody serves; here it waits in the queue
// behind a MaxConcurrency of 1, so both also prove it was not sent.)
func TestPortCancelTimeoutRetErr(t *testing.T) {
	s := newBatchTikv()
	s.withGate(t)
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(1), WithBatch(BatchConfig{MaxConcurrency: 1}))
	blocker := sendAsync(context.Background(), p, rawPut(addr, "blocker", "v"))
	<-s.entered

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Send(ctx, rawGet(addr, "k"))
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, ErrNotSent)

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = p.Send(ctx, rawGet(addr, "k"))
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, codes.Canceled, status.Code(err))
	require.ErrorIs(t, err, ErrNotSent, "still queued")

	req := rawGet(addr, "k")
	req.Timeout = 20 * time.Millisecond
	_, err = p.Send(context.Background(), req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, codes.DeadlineExceeded, status.Code(err))
	require.ErrorIs(t, err, ErrNotSent, "still queued")

	s.gate <- struct{}{}
	require.NoError(t, (<-blocker).err)
}

// hangTikv opens BatchCommands streams and never answers anything, not
// even the client's Empty probe: a stream that stays "connecting".
type hangTikv struct {
	tikvpb.UnimplementedTikvServer
	subs atomic.Int64 // non-probe sub-requests received
}

func (s *hangTikv) BatchCommands(stream tikvpb.Tikv_BatchCommandsServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		for _, sub := range req.Requests {
			if sub.GetEmpty() == nil {
				s.subs.Add(1)
			}
		}
	}
}

// TestPortSendWhenReconnect ports client-go's TestSendWhenReconnect: while
// every stream of an address is being (re)established, a request waits
// for one only as long as its timeout, then fails with DeadlineExceeded
// (client-go: "wait recvLoop timeout ... context deadline exceeded"). Here
// it also wraps ErrNotSent: it never left the queue.
func TestPortSendWhenReconnect(t *testing.T) {
	s := &hangTikv{}
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(2))
	req := rawGet(addr, "k")
	req.Timeout = 200 * time.Millisecond
	start := time.Now()
	_, err := p.Send(context.Background(), req)
	elapsed := time.Since(start)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, ErrNotSent)
	require.GreaterOrEqual(t, elapsed, req.Timeout)
	require.Less(t, elapsed, probeTimeout, "it did not wait for the stream")
	require.Zero(t, s.subs.Load(), "nothing but probes reached the server")
}

// refusingTikv answers unary calls but fails every BatchCommands stream
// at once with Unavailable (not Unimplemented, so the Pool does not fall
// back to unary calls).
type refusingTikv struct {
	*fakeTikv
	streams atomic.Int64
}

func (s *refusingTikv) BatchCommands(tikvpb.Tikv_BatchCommandsServer) error {
	s.streams.Add(1)
	return status.Error(codes.Unavailable, "refused")
}

// TestPortFastFailWhenNoAvailableConn ports client-go's
// TestFastFailWhenNoAvailableConn: when no stream of an address is usable
// (client-go: every batch client is being recreated, "no available
// connections"), a request fails at once instead of waiting out its
// timeout, and as not sent.
func TestPortFastFailWhenNoAvailableConn(t *testing.T) {
	s := &refusingTikv{fakeTikv: &fakeTikv{}}
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(2))
	for range 5 {
		req := rawGet(addr, "k")
		req.Timeout = time.Second
		start := time.Now()
		_, err := p.Send(context.Background(), req)
		require.ErrorIs(t, err, ErrNotSent)
		require.Less(t, time.Since(start), req.Timeout)
	}
	require.Positive(t, s.streams.Load())
	s.fakeTikv.mu.Lock()
	defer s.fakeTikv.mu.Unlock()
	require.Empty(t, s.fakeTikv.peers, "no unary fallback for a broken stream")
}

// TestPortFastFailRequest ports client-go's TestFastFailRequest: a request
// to an address nothing listens on fails well before its 20s timeout
// (client-go allows 6s), batched or unary, as not sent.
func TestPortFastFailRequest(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	for _, opts := range [][]PoolOption{nil, {WithoutBatch()}} {
		p, _ := newTestPool(t, opts...)
		req := rawGet(addr, "k")
		req.Timeout = 20 * time.Second
		start := time.Now()
		_, err = p.Send(context.Background(), req)
		require.ErrorIs(t, err, ErrNotSent)
		require.Less(t, time.Since(start), 6*time.Second)
	}
}

// TestPortBatchClientRecoverAfterServerRestart ports client-go's
// TestBatchClientRecoverAfterServerRestart: requests succeed, fail while
// the server is down, and succeed again once it is back on the same
// address, over reconnected streams, without a new Pool or CloseAddr.
func TestPortBatchClientRecoverAfterServerRestart(t *testing.T) {
	s := newBatchTikv()
	srv := startRestartable(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(2))
	ctx := context.Background()
	for range 100 {
		_, err := p.Send(ctx, rawGet(srv.addr, "k"))
		require.NoError(t, err)
	}
	opened := s.streams.Load()

	srv.stop()
	for range 10 {
		req := rawGet(srv.addr, "k")
		req.Timeout = 100 * time.Millisecond
		_, err := p.Send(ctx, req)
		require.Error(t, err)
		time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
	}

	srv.start()
	require.Eventually(t, func() bool {
		req := rawGet(srv.addr, "k")
		req.Timeout = time.Second
		_, err := p.Send(ctx, req)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "the streams did not come back")
	for range 100 {
		_, err := p.Send(ctx, rawGet(srv.addr, "k"))
		require.NoError(t, err)
	}
	require.Greater(t, s.streams.Load(), opened, "served by new streams")
	require.Zero(t, s.unaryGets.Load(), "still batched")
}

// TestPortRandomRestartStore ports the restart half of client-go's
// TestRandomRestartStoreAndForwarding (forwarding through a proxy store is
// not part of the Pool): two stores are stopped and started at random
// while many goroutines send with a short timeout. Every error is a
// transport failure (not sent, unavailable, or out of time), never a
// wrong answer, and afterwards both stores are served again with no
// request counted in flight (client-go checks its per-client counters the
// same way).
func TestPortRandomRestartStore(t *testing.T) {
	s1, s2 := newBatchTikv(), newBatchTikv()
	s1.data = map[string][]byte{"k": []byte("v1")}
	s2.data = map[string][]byte{"k": []byte("v2")}
	srv1, srv2 := startRestartable(t, s1), startRestartable(t, s2)
	p, _ := newTestPool(t, WithConnsPerStore(2))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			srv := srv1
			if rand.IntN(10) == 0 {
				srv = srv2
			}
			time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
			srv.stop()
			time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
			srv.start()
			select {
			case <-stop:
				return
			default:
			}
		}
	})
	var ok, failed atomic.Int64
	errs := make(chan error, 1)
	for g := range 64 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				addr, want := srv1.addr, "v1"
				if (g+i)%2 == 1 {
					addr, want = srv2.addr, "v2"
				}
				req := rawGet(addr, "k")
				req.Timeout = 50 * time.Millisecond
				resp, err := p.Send(context.Background(), req)
				if err == nil {
					if got := string(resp.Msg.(interface{ GetValue() []byte }).GetValue()); got != want {
						select {
						case errs <- errors.New("wrong answer " + got + " from " + addr):
						default:
						}
					}
					ok.Add(1)
					continue
				}
				failed.Add(1)
				switch status.Code(err) {
				case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
				default:
					if !errors.Is(err, ErrNotSent) {
						select {
						case errs <- err:
						default:
						}
					}
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "unexpected error kind")
	}
	t.Logf("%d answered, %d failed", ok.Load(), failed.Load())
	require.Positive(t, ok.Load())

	srv1.start()
	srv2.start()
	for _, addr := range []string{srv1.addr, srv2.addr} {
		require.Eventually(t, func() bool {
			_, err := p.Send(context.Background(), rawGet(addr, "k"))
			return err == nil
		}, 10*time.Second, 20*time.Millisecond, "%s not served again", addr)
		p.mu.RLock()
		streams := p.addrs[addr].batch.streams
		p.mu.RUnlock()
		require.Eventually(t, func() bool {
			for _, st := range streams {
				if st.inflight.Load() != 0 {
					return false
				}
			}
			return true
		}, 10*time.Second, 10*time.Millisecond, "requests still counted in flight")
	}
}

// TestPortConcurrentCloseConnPanic ports client-go's
// TestConcurrentCloseConnPanic: Close and CloseAddr of the same address at
// once neither panic nor fail, and the connections end up shut down.
func TestPortConcurrentCloseConnPanic(t *testing.T) {
	s := newBatchTikv()
	addr := startTikv(t, s)
	for range 20 {
		p, _ := newTestPool(t)
		_, err := p.Send(context.Background(), rawGet(addr, "k"))
		require.NoError(t, err)
		conns := p.connsOf(addr)
		var wg sync.WaitGroup
		wg.Go(func() { assert.NoError(t, p.Close()) })
		wg.Go(func() { assert.NoError(t, p.CloseAddr(addr)) })
		wg.Wait()
		requireShutdown(t, conns)
	}
}
