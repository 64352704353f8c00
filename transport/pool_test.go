package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"

	"github.com/tikvgo/tikv/kv"
)

// fakeTikv is a tiny tikvpb.Tikv server: RawPut stores, RawGet reads. It
// records what it received and, when gate is set, holds RawPut until the
// gate opens or the call's context ends.
type fakeTikv struct {
	tikvpb.UnimplementedTikvServer

	gate    chan struct{} // nil: RawPut does not wait
	entered chan struct{} // receives once per RawPut that reached the handler

	mu      sync.Mutex
	data    map[string][]byte
	peers   []string           // client address of each call, in order
	lastCtx *kvrpcpb.Context   // Context of the last call
	puts    []*kvrpcpb.Context // Context of every RawPut
}

func (s *fakeTikv) record(ctx context.Context, rctx *kvrpcpb.Context) {
	p, _ := peer.FromContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if p != nil {
		s.peers = append(s.peers, p.Addr.String())
	}
	s.lastCtx = rctx
}

func (s *fakeTikv) RawGet(ctx context.Context, req *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	s.record(ctx, req.Context)
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[string(req.Key)]
	return &kvrpcpb.RawGetResponse{Value: v, NotFound: !ok}, nil
}

func (s *fakeTikv) RawPut(ctx context.Context, req *kvrpcpb.RawPutRequest) (*kvrpcpb.RawPutResponse, error) {
	s.record(ctx, req.Context)
	if s.gate != nil {
		s.entered <- struct{}{}
		select {
		case <-s.gate:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data == nil {
		s.data = make(map[string][]byte)
	}
	s.data[string(req.Key)] = req.Value
	s.puts = append(s.puts, req.Context)
	return &kvrpcpb.RawPutResponse{}, nil
}

func (s *fakeTikv) peerList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.peers...)
}

// withGate makes RawPut wait; the gate opens when the test ends, so no
// handler outlives it.
func (s *fakeTikv) withGate(t *testing.T) *fakeTikv {
	s.gate = make(chan struct{})
	s.entered = make(chan struct{}, 16)
	t.Cleanup(func() { close(s.gate) })
	return s
}

type testServer struct {
	*fakeTikv
	addr string
	srv  *grpc.Server
}

// startServer serves fake on 127.0.0.1 until the test ends.
func startServer(t *testing.T, fake *fakeTikv, opts ...grpc.ServerOption) *testServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(opts...)
	tikvpb.RegisterTikvServer(srv, fake)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return &testServer{fakeTikv: fake, addr: lis.Addr().String(), srv: srv}
}

// newTestPool returns a Pool closed at the end of the test, and the number
// of grpc clients it has created.
func newTestPool(t *testing.T, opts ...PoolOption) (*Pool, *atomic.Int64) {
	t.Helper()
	p := NewPool(opts...)
	var dials atomic.Int64
	p.newClient = func(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
		dials.Add(1)
		return grpc.NewClient(target, opts...)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, &dials
}

// connsOf returns the connections p holds for addr, nil if none.
func (p *Pool) connsOf(addr string) []*grpc.ClientConn {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if ac := p.addrs[addr]; ac != nil {
		return ac.conns
	}
	return nil
}

func rawGet(addr, key string) *Request {
	return &Request{
		Cmd:    CmdRawGet,
		Msg:    &kvrpcpb.RawGetRequest{Context: &kvrpcpb.Context{RegionId: 1}, Key: []byte(key)},
		Target: Target{StoreID: 1, Addr: addr, RegionID: 1},
	}
}

func rawPut(addr, key, value string) *Request {
	return &Request{
		Cmd:    CmdRawPut,
		Msg:    &kvrpcpb.RawPutRequest{Context: &kvrpcpb.Context{RegionId: 1}, Key: []byte(key), Value: []byte(value)},
		Target: Target{StoreID: 1, Addr: addr, RegionID: 1},
	}
}

func requireShutdown(t *testing.T, conns []*grpc.ClientConn) {
	t.Helper()
	require.NotEmpty(t, conns)
	for i, cc := range conns {
		require.Equal(t, connectivity.Shutdown, cc.GetState(), "conn %d", i)
	}
}

func TestPoolSend(t *testing.T) {
	s := startServer(t, &fakeTikv{})
	p, _ := newTestPool(t)
	ctx := context.Background()

	resp, err := p.Send(ctx, rawPut(s.addr, "k", "v"))
	require.NoError(t, err)
	require.IsType(t, &kvrpcpb.RawPutResponse{}, resp.Msg)

	resp, err = p.Send(ctx, rawGet(s.addr, "k"))
	require.NoError(t, err)
	got, ok := resp.Msg.(*kvrpcpb.RawGetResponse)
	require.True(t, ok, "response is %T", resp.Msg)
	require.False(t, got.NotFound)
	require.Equal(t, []byte("v"), got.Value)

	resp, err = p.Send(ctx, rawGet(s.addr, "missing"))
	require.NoError(t, err)
	require.True(t, resp.Msg.(*kvrpcpb.RawGetResponse).NotFound)
}

func TestPoolSendDoesNotModifyRequest(t *testing.T) {
	s := startServer(t, &fakeTikv{})
	p, _ := newTestPool(t)
	req := rawPut(s.addr, "k", "v")
	before := proto.Clone(protoadapt.MessageV2Of(req.Msg))
	reqCopy := *req

	_, err := p.Send(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, reqCopy, *req)
	require.True(t, proto.Equal(before, protoadapt.MessageV2Of(req.Msg)))
}

func TestPoolContextArrivesIntact(t *testing.T) {
	s := startServer(t, &fakeTikv{})
	p, _ := newTestPool(t)
	want := &kvrpcpb.Context{
		RegionId:    42,
		RegionEpoch: &metapb.RegionEpoch{ConfVer: 3, Version: 7},
		Peer:        &metapb.Peer{Id: 5, StoreId: 6, Role: metapb.PeerRole_Learner},
		Priority:    kvrpcpb.CommandPri_High,
		// Large enough that a truncation would show.
		ResourceGroupTag:       make([]byte, 1<<10),
		RequestSource:          "internal_test",
		IsRetryRequest:         true,
		ReplicaRead:            true,
		ResolvedLocks:          []uint64{11, 12},
		MaxExecutionDurationMs: 1500,
		ResourceControlContext: &kvrpcpb.ResourceControlContext{
			ResourceGroupName: "rg",
			OverridePriority:  2,
		},
		TxnSource: 1,
	}
	for i := range want.ResourceGroupTag {
		want.ResourceGroupTag[i] = byte(i)
	}
	req := rawGet(s.addr, "k")
	req.Msg = CmdRawGet.WithContext(req.Msg, want)

	_, err := p.Send(context.Background(), req)
	require.NoError(t, err)

	s.mu.Lock()
	got := s.lastCtx
	s.mu.Unlock()
	require.NotNil(t, got)
	require.NotSame(t, want, got)
	require.True(t, proto.Equal(protoadapt.MessageV2Of(want), protoadapt.MessageV2Of(got)),
		"sent %v\nreceived %v", want, got)
}

func TestPoolConcurrentFirstSendsDialOnce(t *testing.T) {
	s := startServer(t, &fakeTikv{})
	const conns, senders = 3, 32
	p, dials := newTestPool(t, WithConnsPerStore(conns))

	start := make(chan struct{})
	errs := make(chan error, senders)
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			<-start
			_, err := p.Send(context.Background(), rawGet(s.addr, "k"))
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, conns, dials.Load(), "one set of connections per address")
	require.Len(t, p.connsOf(s.addr), conns)
	p.mu.RLock()
	require.Len(t, p.addrs, 1)
	p.mu.RUnlock()
}

func TestPoolConnsPerAddress(t *testing.T) {
	s1 := startServer(t, &fakeTikv{})
	s2 := startServer(t, &fakeTikv{})
	p, dials := newTestPool(t, WithConnsPerStore(2))
	for range 3 {
		for _, s := range []*testServer{s1, s2} {
			_, err := p.Send(context.Background(), rawGet(s.addr, "k"))
			require.NoError(t, err)
		}
	}
	require.EqualValues(t, 4, dials.Load())
	require.Len(t, p.connsOf(s1.addr), 2)
	require.Len(t, p.connsOf(s2.addr), 2)
}

// TestPoolRoundRobin, with TestPoolCloseAddrRedials and TestPoolClose,
// ports client-go's TestConn (internal/client/client_test.go): calls
// rotate over an address's connections, CloseAddr drops the set and the
// next call dials a new one, and a closed Pool refuses. client-go's pool
// versions (CloseAddrVer) have no counterpart: CloseAddr retires exactly
// the set it finds, and calls in flight keep theirs
// (TestPoolCloseAddrLetsInFlightCallsFinish).
func TestPoolRoundRobin(t *testing.T) {
	s := startServer(t, &fakeTikv{})
	const conns, rounds = 3, 4
	p, _ := newTestPool(t, WithConnsPerStore(conns))
	for range conns * rounds {
		_, err := p.Send(context.Background(), rawGet(s.addr, "k"))
		require.NoError(t, err)
	}
	// Each connection is its own TCP connection, so the server sees one
	// client port per connection, in rotation.
	peers := s.peerList()
	require.Len(t, peers, conns*rounds)
	distinct := make(map[string]bool)
	for i, addr := range peers {
		distinct[addr] = true
		require.Equal(t, peers[i%conns], addr, "call %d", i)
	}
	require.Len(t, distinct, conns)
}

func TestPoolDefaultConnsPerStore(t *testing.T) {
	for _, opts := range [][]PoolOption{nil, {WithConnsPerStore(0)}, {WithConnsPerStore(-1)}, {nil}} {
		p := NewPool(opts...)
		require.Equal(t, DefaultConnsPerStore, p.nconns)
		require.NoError(t, p.Close())
	}
	p := NewPool(WithConnsPerStore(1))
	require.Equal(t, 1, p.nconns)
	require.NoError(t, p.Close())
}

func TestPoolTimeoutBoundsCall(t *testing.T) {
	s := startServer(t, (&fakeTikv{}).withGate(t))
	p, _ := newTestPool(t)

	req := rawPut(s.addr, "k", "v")
	req.Timeout = 100 * time.Millisecond
	start := time.Now()
	_, err := p.Send(context.Background(), req)
	elapsed := time.Since(start)

	require.Error(t, err)
	require.Equal(t, codes.DeadlineExceeded, status.Code(err), "%v", err)
	require.NotErrorIs(t, err, ErrNotSent, "a timed-out call may have reached TiKV")
	require.ErrorContains(t, err, "RawPut to "+s.addr)
	require.GreaterOrEqual(t, elapsed, req.Timeout)
	require.Less(t, elapsed, 10*time.Second)
	<-s.entered // the call did reach the server
}

func TestPoolTimeoutDoesNotOutliveSend(t *testing.T) {
	// A Timeout longer than the call must not affect it, nor the caller's
	// ctx afterwards.
	s := startServer(t, &fakeTikv{})
	p, _ := newTestPool(t)
	req := rawGet(s.addr, "k")
	req.Timeout = time.Minute
	ctx := t.Context()
	_, err := p.Send(ctx, req)
	require.NoError(t, err)
	require.NoError(t, ctx.Err())
}

func TestPoolCallerContextCancel(t *testing.T) {
	s := startServer(t, (&fakeTikv{}).withGate(t))
	p, _ := newTestPool(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-s.entered
		cancel()
	}()
	_, err := p.Send(ctx, rawPut(s.addr, "k", "v"))
	require.Equal(t, codes.Canceled, status.Code(err), "%v", err)
	require.NotErrorIs(t, err, ErrNotSent)
}

func TestPoolContextDoneBeforeSend(t *testing.T) {
	s := startServer(t, &fakeTikv{})
	p, dials := newTestPool(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Send(ctx, rawGet(s.addr, "k"))
	require.ErrorIs(t, err, ErrNotSent)
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, dials.Load())
	require.Empty(t, s.peerList())
}

// TestPoolCloseAddrRedials also ports client-go's TestGetConnAfterClose:
// after CloseAddr the old connections are shut down.
func TestPoolCloseAddrRedials(t *testing.T) {
	s := startServer(t, &fakeTikv{})
	p, dials := newTestPool(t, WithConnsPerStore(2))

	_, err := p.Send(context.Background(), rawGet(s.addr, "k"))
	require.NoError(t, err)
	old := p.connsOf(s.addr)
	require.Len(t, old, 2)

	require.NoError(t, p.CloseAddr(s.addr))
	requireShutdown(t, old)
	require.Nil(t, p.connsOf(s.addr))

	_, err = p.Send(context.Background(), rawGet(s.addr, "k"))
	require.NoError(t, err)
	require.EqualValues(t, 4, dials.Load())
	fresh := p.connsOf(s.addr)
	require.Len(t, fresh, 2)
	require.NotSame(t, old[0], fresh[0])

	require.NoError(t, p.CloseAddr("127.0.0.1:1"), "unknown address is a no-op")
	require.NoError(t, p.CloseAddr(s.addr))
	require.NoError(t, p.CloseAddr(s.addr), "second CloseAddr is a no-op")
}

func TestPoolCloseAddrLetsInFlightCallsFinish(t *testing.T) {
	s := startServer(t, (&fakeTikv{}).withGate(t))
	p, _ := newTestPool(t, WithConnsPerStore(1))

	done := make(chan error, 1)
	go func() {
		_, err := p.Send(context.Background(), rawPut(s.addr, "k", "v"))
		done <- err
	}()
	<-s.entered
	old := p.connsOf(s.addr)
	require.NoError(t, p.CloseAddr(s.addr))
	require.NotEqual(t, connectivity.Shutdown, old[0].GetState(), "closed under an in-flight call")
	p.mu.RLock()
	require.Len(t, p.retired, 1)
	p.mu.RUnlock()

	s.gate <- struct{}{} // let this one call through
	require.NoError(t, <-done)
	requireShutdown(t, old)
	p.mu.RLock()
	require.Empty(t, p.retired)
	p.mu.RUnlock()
}

func TestPoolCloseClosesRetired(t *testing.T) {
	s := startServer(t, (&fakeTikv{}).withGate(t))
	p, _ := newTestPool(t, WithConnsPerStore(1))

	done := make(chan error, 1)
	go func() {
		_, err := p.Send(context.Background(), rawPut(s.addr, "k", "v"))
		done <- err
	}()
	<-s.entered
	old := p.connsOf(s.addr)
	require.NoError(t, p.CloseAddr(s.addr))
	require.NoError(t, p.Close())
	requireShutdown(t, old)
	err := <-done
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrNotSent, "the call was in flight")
}

func TestPoolClose(t *testing.T) {
	s := startServer(t, &fakeTikv{})
	p, dials := newTestPool(t)
	_, err := p.Send(context.Background(), rawGet(s.addr, "k"))
	require.NoError(t, err)
	conns := p.connsOf(s.addr)

	require.NoError(t, p.Close())
	requireShutdown(t, conns)

	_, err = p.Send(context.Background(), rawGet(s.addr, "k"))
	require.ErrorIs(t, err, ErrNotSent)
	require.ErrorIs(t, err, kv.ErrClosed)
	_, err = p.Send(context.Background(), rawGet("127.0.0.1:1", "k"))
	require.ErrorIs(t, err, ErrNotSent)
	require.ErrorIs(t, err, kv.ErrClosed)
	require.EqualValues(t, DefaultConnsPerStore, dials.Load(), "no dial after Close")

	require.NoError(t, p.Close(), "Close is idempotent")
	require.NoError(t, p.CloseAddr(s.addr))
}

func TestPoolCloseUnused(t *testing.T) {
	p := NewPool()
	require.NoError(t, p.Close())
	_, err := p.Send(context.Background(), rawGet("127.0.0.1:1", "k"))
	require.ErrorIs(t, err, kv.ErrClosed)
}

func TestPoolValidation(t *testing.T) {
	p, dials := newTestPool(t)
	const addr = "127.0.0.1:1"
	wrongType := rawGet(addr, "k")
	wrongType.Msg = &kvrpcpb.RawPutRequest{}
	cases := map[string]*Request{
		"nil request":   nil,
		"zero request":  {},
		"invalid cmd":   {Cmd: CmdInvalid, Msg: &kvrpcpb.RawGetRequest{}, Target: Target{Addr: addr}},
		"unknown cmd":   {Cmd: neverCmd, Msg: &kvrpcpb.RawGetRequest{}, Target: Target{Addr: addr}},
		"empty address": {Cmd: CmdRawGet, Msg: &kvrpcpb.RawGetRequest{}},
		"nil message":   {Cmd: CmdRawGet, Target: Target{Addr: addr}},
		"typed nil":     {Cmd: CmdRawGet, Msg: (*kvrpcpb.RawGetRequest)(nil), Target: Target{Addr: addr}},
		"wrong type":    wrongType,
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			resp, err := p.Send(context.Background(), req)
			require.Nil(t, resp)
			require.ErrorIs(t, err, ErrNotSent)
			require.ErrorIs(t, err, kv.ErrInvalidArgument)
		})
	}
	require.Zero(t, dials.Load(), "nothing dialed for an invalid request")
}

func TestPoolBadAddress(t *testing.T) {
	p, _ := newTestPool(t)
	_, err := p.Send(context.Background(), rawGet("127.0.0.1:%zz", "k"))
	require.ErrorIs(t, err, ErrNotSent)
	require.NotErrorIs(t, err, kv.ErrInvalidArgument)
	p.mu.RLock()
	require.Empty(t, p.addrs, "a failed dial is not cached")
	p.mu.RUnlock()
}

func TestPoolDialFailureClosesPartialSet(t *testing.T) {
	p, _ := newTestPool(t, WithConnsPerStore(3))
	var made []*grpc.ClientConn
	errDial := errors.New("dial refused")
	p.newClient = func(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
		if len(made) == 2 {
			return nil, errDial
		}
		cc, err := grpc.NewClient(target, opts...)
		made = append(made, cc)
		return cc, err
	}
	_, err := p.Send(context.Background(), rawGet("127.0.0.1:1", "k"))
	require.ErrorIs(t, err, ErrNotSent)
	require.ErrorIs(t, err, errDial)
	requireShutdown(t, made)
}

// A server that stops while a unary call is in its handler leaves the
// call's outcome unknown: it reached TiKV. A call made after the stop finds
// no connection and provably never left (ErrNotSent), as a batched request
// with no usable stream does; TestBatchServerStopped covers that path.
func TestPoolServerStopped(t *testing.T) {
	fake := &fakeTikv{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	s := startServer(t, fake)
	p, _ := newTestPool(t, WithConnsPerStore(1), WithoutBatch())
	_, err := p.Send(context.Background(), rawGet(s.addr, "k"))
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		_, err := p.Send(context.Background(), rawPut(s.addr, "k", "v"))
		done <- err
	}()
	<-fake.entered // the put is in the handler: it left the client
	go s.srv.Stop()
	err = <-done
	close(fake.gate)
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrNotSent, "the put reached the server")
	require.NotEqual(t, codes.OK, status.Code(err))
	require.ErrorContains(t, err, "RawPut to "+s.addr)

	_, err = p.Send(context.Background(), rawPut(s.addr, "k", "v"))
	require.ErrorIs(t, err, ErrNotSent, "nothing listens: the dial fails before a stream exists")
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
}

func TestPoolUnreachable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())

	// A refused dial means no transport stream was ever made: the call
	// provably never left, on the unary path as on the batched one
	// (TestBatchUnreachable), so even a non-idempotent command may be sent
	// elsewhere.
	p, _ := newTestPool(t, WithConnsPerStore(1), WithoutBatch())
	_, err = p.Send(context.Background(), rawGet(addr, "k"))
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.ErrorIs(t, err, ErrNotSent)
}

func TestPoolTLS(t *testing.T) {
	serverCfg, clientCfg := testTLSConfigs(t)
	s := startServer(t, &fakeTikv{}, grpc.Creds(credentials.NewTLS(serverCfg)))

	p, _ := newTestPool(t, WithTLS(clientCfg))
	_, err := p.Send(context.Background(), rawPut(s.addr, "k", "v"))
	require.NoError(t, err)

	plain, _ := newTestPool(t, WithTLS(nil), WithoutBatch())
	_, err = plain.Send(context.Background(), rawGet(s.addr, "k"))
	require.Error(t, err, "plaintext client against a TLS server")
	require.ErrorIs(t, err, ErrNotSent, "the connection never became ready: nothing was sent")
}

func TestPoolDialOptionsApplied(t *testing.T) {
	s := startServer(t, &fakeTikv{})
	var seen atomic.Int64
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		seen.Add(1)
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	// Unary, so that the interceptor sees the call.
	p, _ := newTestPool(t, WithDialOptions(grpc.WithUnaryInterceptor(count)), WithKeepalive(20*time.Second, time.Second), WithoutBatch())
	_, err := p.Send(context.Background(), rawGet(s.addr, "k"))
	require.NoError(t, err)
	require.EqualValues(t, 1, seen.Load())
}

// testTLSConfigs returns a server config with a fresh self-signed
// certificate for 127.0.0.1 and a client config that trusts it.
func testTLSConfigs(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tikvgo-test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return server, client
}

// TestAttemptTimeoutDefersToAnEarlierDeadline: an attempt's Timeout needs a
// timer only when the caller's own deadline is further away; otherwise the
// caller's ctx alone bounds it.
func TestAttemptTimeoutDefersToAnEarlierDeadline(t *testing.T) {
	require.Equal(t, time.Duration(0), AttemptTimeout(context.Background(), 0))
	require.Equal(t, time.Second, AttemptTimeout(context.Background(), time.Second))
	soon, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.Equal(t, time.Duration(0), AttemptTimeout(soon, time.Minute), "the caller's deadline comes first")
	later, cancel2 := context.WithTimeout(context.Background(), time.Hour)
	defer cancel2()
	require.Equal(t, time.Second, AttemptTimeout(later, time.Second))
}
