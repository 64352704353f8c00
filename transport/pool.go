package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"

	"github.com/tikvgo/tikv/kv"
)

// Defaults of the Pool's options; each is client-go's.
const (
	// DefaultConnsPerStore is client-go's GrpcConnectionCount.
	DefaultConnsPerStore = 4
	// DefaultKeepaliveTime is how long a connection may be silent before
	// the client pings it (client-go's GrpcKeepAliveTime).
	DefaultKeepaliveTime = 10 * time.Second
	// DefaultKeepaliveTimeout is how long the client waits for the ping's
	// answer before it drops the connection (client-go's
	// GrpcKeepAliveTimeout).
	DefaultKeepaliveTimeout = 3 * time.Second
)

const (
	// initialWindowSize is client-go's GrpcInitialWindowSize and
	// GrpcInitialConnWindowSize: large scans and batch gets answer with
	// megabytes, and a small window would throttle them to one round trip
	// per window.
	initialWindowSize = 128 << 20
	// minConnectTimeout is client-go's dialTimeout, which it passes as
	// MinConnectTimeout.
	minConnectTimeout = 5 * time.Second
	// maxRecvMsgSize removes grpc's 4 MiB cap on responses, as client-go
	// does; the -1 keeps grpc's internal "limit + 1" from overflowing.
	maxRecvMsgSize = math.MaxInt - 1
)

// connectBackoff is client-go's reconnect backoff: grpc's defaults, except a
// first retry after 100ms instead of 1s and a cap of 3s instead of 120s, so a
// restarted TiKV is reachable again within seconds.
var connectBackoff = backoff.Config{
	BaseDelay:  100 * time.Millisecond,
	Multiplier: 1.6,
	Jitter:     0.2,
	MaxDelay:   3 * time.Second,
}

// PoolOption configures a Pool.
type PoolOption func(*poolConfig)

type poolConfig struct {
	connsPerStore    int
	tls              *tls.Config
	keepaliveTime    time.Duration
	keepaliveTimeout time.Duration
	dialOpts         []grpc.DialOption
	batch            BatchConfig
	noBatch          bool
	onFeedback       func(HealthFeedback)
	onConnState      func(ConnStateChange) // WithConnStateObserver
}

// WithConnsPerStore sets how many gRPC connections the Pool keeps to each
// address (default DefaultConnsPerStore). Unary calls rotate over them, so
// one HTTP/2 connection's flow-control window and writer do not cap a
// store's throughput. n < 1 keeps the default.
func WithConnsPerStore(n int) PoolOption {
	return func(c *poolConfig) {
		if n >= 1 {
			c.connsPerStore = n
		}
	}
}

// WithDialOptions appends grpc dial options to the Pool's own. They are
// applied after the Pool's, so they override them where grpc lets a later
// option win (interceptors, credentials, window sizes, call options).
func WithDialOptions(opts ...grpc.DialOption) PoolOption {
	return func(c *poolConfig) { c.dialOpts = append(c.dialOpts, opts...) }
}

// WithTLS makes the Pool connect with TLS using cfg. The default, and
// WithTLS(nil), is plaintext, as for a TiKV cluster without security
// configured. The Pool does not modify cfg.
func WithTLS(cfg *tls.Config) PoolOption {
	return func(c *poolConfig) { c.tls = cfg }
}

// WithKeepalive sets the keepalive ping interval and the time to wait for
// its answer (defaults DefaultKeepaliveTime and DefaultKeepaliveTimeout).
// A value <= 0 keeps its default, and grpc raises an interval under 10s to
// 10s. Pings are sent even on a connection with no call in flight, so that a
// dead store is noticed before the next request is routed to it; TiKV's
// server accepts such pings (it sets http2_max_ping_strikes to i32::MAX).
func WithKeepalive(interval, timeout time.Duration) PoolOption {
	return func(c *poolConfig) {
		if interval > 0 {
			c.keepaliveTime = interval
		}
		if timeout > 0 {
			c.keepaliveTimeout = timeout
		}
	}
}

// Pool is the terminal Sender: it puts each Request on the wire to
// req.Target.Addr, over one of a few connections it keeps per address.
//
// Batchable commands (Cmd.Batchable) travel, by default, in client-go's
// BatchCommands streams: one long-lived bidirectional stream per
// connection, whose send loop packs the requests queued on it into one
// BatchCommandsRequest (up to BatchConfig.MaxBatchSize, waiting a little
// longer when the batch policy or TiKV's reported load says so) and whose
// receive loop matches each response to its caller by request id. Callers
// pick a stream round-robin. Requests whose
// Context.ResourceControlContext.OverridePriority is at least 10 go ahead
// of the others on their stream and are not held back by
// BatchConfig.MaxConcurrency. Other commands, and every command under
// WithoutBatch, are unary calls; so is every command to a server that
// answers a new stream's Empty probe with UNIMPLEMENTED (it has no
// BatchCommands; no request was written to that stream).
//
// A request with Target.ForwardedHost set goes to Target.Addr with the
// gRPC metadata ForwardedHostKey, which asks that TiKV to forward it; its
// BatchCommands streams are separate ones, per forwarded host, over the
// same connections (the metadata belongs to a stream), created on first
// use and closed with the address's connections.
//
// The connections to an address are created by the first Send to it and
// live until CloseAddr or Close. grpc.NewClient connects lazily; the
// streams open in the background as soon as the connections exist. A
// connection reconnects with client-go's backoff after a failure, and a
// broken stream is reopened at once if it had worked, else after a backoff
// of 100ms doubling to 2s. Calls fail fast while a connection or stream is
// down: the Pool never waits for a store to come back.
//
// Error contract (see the package documentation): an error wraps
// ErrNotSent only when the request provably did not leave: an invalid
// Request (also kv.ErrInvalidArgument), a closed Pool (also kv.ErrClosed),
// an address grpc rejects, a ctx already done, no usable stream, or a
// batched request still queued when its ctx ended, its stream broke or the
// Pool closed. A request written to a stream that then breaks fails with
// an error that does not wrap ErrNotSent (kv.ErrClosed if the Pool
// closed). Every error from a unary call is returned as grpc reported it,
// wrapped with the command and address, and means the outcome is unknown:
// grpc does not say whether a failed call left the client, so the Pool
// does not guess. When ctx ends while a batched request is in flight, Send
// returns at once with an error that unwraps to ctx.Err() and carries the
// gRPC status a unary call would (Canceled or DeadlineExceeded); the
// response, if it comes, is dropped.
//
// SendAsync sends without blocking for the answer (see AsyncSender and
// Pool.SendAsync), batched requests with no goroutine of their own.
//
// A Pool is safe for concurrent use. Its goroutines (two per stream) and
// those grpc starts for its connections stop in CloseAddr and Close, which
// wait for them. Create one with NewPool: the zero Pool is not usable.
type Pool struct {
	dialOpts []grpc.DialOption
	nconns   int
	batch    *BatchConfig // nil: every command is unary
	// onFeedback is WithHealthFeedback's callback, for the batch clients.
	onFeedback func(HealthFeedback)
	// onConnState is WithConnStateObserver's callback.
	onConnState func(ConnStateChange)
	// newClient is grpc.NewClient; tests replace it to count dials.
	newClient func(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error)

	mu     sync.RWMutex
	closed bool
	addrs  map[string]*addrConns
	// retired holds connections CloseAddr dropped while calls were still
	// in flight on them; the last such call closes them, or Close does.
	retired map[*addrConns]struct{}
	// owned counts the goroutines of asynchronous sends (pool_async.go):
	// unary calls, and closings of retired connections. Add only under mu
	// while !closed; Close waits for them.
	owned sync.WaitGroup
}

// addrConns is the set of connections to one address and their
// BatchCommands streams.
type addrConns struct {
	conns []*grpc.ClientConn
	next  atomic.Uint32
	// batch owns one BatchCommands stream per connection; nil when the
	// Pool does not batch.
	batch *batchClient
	// forwarded holds, per forwarded host, the batch client whose streams
	// carry requests this address proxies to that host (client-go opens a
	// separate BatchCommands stream per forwarded host, since the metadata
	// is the stream's, not a request's). Created on first use over the
	// same connections; closed with the set.
	fwdMu     sync.Mutex
	forwarded map[string]*batchClient
	closing   bool // guarded by fwdMu: no forwarded client is made once set
	// fwdNew makes a forwarded batch client (newBatchClient with the
	// Pool's settings); set by dialLocked.
	fwdNew func(forwardedHost string) *batchClient
	// watch reports the connections' state changes; nil without
	// WithConnStateObserver.
	watch *connWatch
	// refs counts Sends using conns. It is only incremented under
	// Pool.mu (read-locked) while the set is in Pool.addrs, so once
	// CloseAddr has removed it (under the write lock) refs only falls.
	refs    atomic.Int64
	retired atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

var _ Sender = (*Pool)(nil)

// NewPool returns a Pool with no connections; they are made on demand.
func NewPool(opts ...PoolOption) *Pool {
	cfg := poolConfig{
		connsPerStore:    DefaultConnsPerStore,
		keepaliveTime:    DefaultKeepaliveTime,
		keepaliveTimeout: DefaultKeepaliveTimeout,
		batch:            BatchConfig{}.withDefaults(),
	}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	creds := insecure.NewCredentials()
	if cfg.tls != nil {
		creds = credentials.NewTLS(cfg.tls)
	}
	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithInitialWindowSize(initialWindowSize),
		grpc.WithInitialConnWindowSize(initialWindowSize),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(maxRecvMsgSize),
			grpc.ForceCodecV2(gogoCodecV2{}),
		),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           connectBackoff,
			MinConnectTimeout: minConnectTimeout,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                cfg.keepaliveTime,
			Timeout:             cfg.keepaliveTimeout,
			PermitWithoutStream: true,
		}),
	}
	p := &Pool{
		dialOpts:    append(dialOpts, cfg.dialOpts...),
		nconns:      cfg.connsPerStore,
		newClient:   grpc.NewClient,
		onConnState: cfg.onConnState,
		addrs:       make(map[string]*addrConns),
		retired:     make(map[*addrConns]struct{}),
	}
	if !cfg.noBatch {
		bc := cfg.batch
		p.batch = &bc
		p.onFeedback = cfg.onFeedback
	}
	return p
}

// Send sends req.Cmd to req.Target.Addr, batched or as a unary call (see
// Pool), and returns the decoded response, of req.Cmd's response type.
// req.Timeout, when > 0, bounds the call on top of ctx. Send never retries.
// It does not modify req or req.Msg, and does not use req.Msg after it
// returns.
func (p *Pool) Send(ctx context.Context, req *Request) (*Response, error) {
	if err := validateRequest(req); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	addr := req.Target.Addr
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s to %s: %w", ErrNotSent, req.Cmd, addr, err)
	}
	ac, err := p.acquire(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %s to %s: %w", ErrNotSent, req.Cmd, addr, err)
	}
	defer p.release(ac)

	if ac.batch != nil && req.Cmd.Batchable() {
		// The batch path bounds the attempt with a timer of its own rather
		// than a derived context (three allocations fewer per attempt).
		msg, ok, err := ac.batchFor(req).send(ctx, req, AttemptTimeout(ctx, req.Timeout))
		if err != nil {
			return nil, fmt.Errorf("%s to %s: %w", req.Cmd, addr, err)
		}
		if ok {
			return &Response{Msg: msg}, nil
		}
		// The server has no BatchCommands; req was not written.
	}
	return p.sendUnary(ctx, ac, req)
}

// AttemptTimeout is the timeout an attempt needs on top of ctx: timeout,
// unless ctx's own deadline comes first (then ctx alone bounds it and no
// timer is needed); 0 means none. Senders other than the Pool (mocktikv's
// in-process one) bound attempts by it too.
func AttemptTimeout(ctx context.Context, timeout time.Duration) time.Duration {
	if timeout <= 0 {
		return 0
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= timeout {
		return 0
	}
	return timeout
}

// unaryCall holds the per-call grpc options of a unary call. grpc fills
// the Peer option only when the call got as far as a transport stream (its
// headers queued on a connection): a call that failed without one, because
// no connection was ready (a refused dial, a connection in backoff), never
// left the client. That is the proof etcd's clientv3 asks for before it
// resends a mutating call, and the Pool reports it as ErrNotSent, as the
// batch path does for a request it never wrote. Calls are pooled so the
// option costs no allocation.
type unaryCall struct {
	peer peer.Peer
	opts [1]grpc.CallOption
}

var unaryCalls = sync.Pool{New: func() any {
	c := &unaryCall{}
	c.opts[0] = grpc.Peer(&c.peer)
	return c
}}

func invokeUnary(ctx context.Context, cc *grpc.ClientConn, method string, req, resp Message) error {
	c := unaryCalls.Get().(*unaryCall)
	c.peer = peer.Peer{}
	err := cc.Invoke(ctx, method, req, resp, c.opts[:]...)
	if err != nil && c.peer.Addr == nil {
		err = fmt.Errorf("%w: no connection carried the call: %w", ErrNotSent, err)
	}
	c.peer = peer.Peer{}
	unaryCalls.Put(c)
	return err
}

// Addrs returns the addresses the Pool holds connections to, in no
// particular order (for diagnostics and tests).
func (p *Pool) Addrs() []string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]string, 0, len(p.addrs))
	for a := range p.addrs {
		out = append(out, a)
	}
	return out
}

// CloseAddr drops the Pool's connections to addr, so the next Send to addr
// dials afresh (after a store moved, or to shed a connection in a bad
// state). Calls and batched requests already in flight on the old
// connections finish undisturbed; the connections and their streams close
// when the last of them returns, which then waits for the streams'
// goroutines, as CloseAddr does when nothing is in flight. CloseAddr of an
// address the Pool has no connections to is a no-op.
func (p *Pool) CloseAddr(addr string) error {
	p.mu.Lock()
	ac := p.addrs[addr]
	if ac == nil {
		p.mu.Unlock()
		return nil
	}
	delete(p.addrs, addr)
	ac.retired.Store(true)
	if ac.refs.Load() > 0 {
		p.retired[ac] = struct{}{}
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	return ac.close()
}

// Close closes every connection and stream at once and waits for the
// Pool's goroutines; unary calls in flight fail with grpc's Canceled error,
// batched requests with kv.ErrClosed (wrapping ErrNotSent as well if they
// were still queued). Later Sends return an error wrapping ErrNotSent and
// kv.ErrClosed. Close is idempotent: calls after the first return nil.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	all := make([]*addrConns, 0, len(p.addrs)+len(p.retired))
	for _, ac := range p.addrs {
		all = append(all, ac)
	}
	for ac := range p.retired {
		all = append(all, ac)
	}
	p.addrs, p.retired = nil, nil
	p.mu.Unlock()

	var errs []error
	for _, ac := range all {
		errs = append(errs, ac.close())
	}
	p.owned.Wait() // unary calls end as their connections close
	return errors.Join(errs...)
}

// acquire returns addr's connections, creating them on first use, and
// counts the caller as a user until it calls release.
func (p *Pool) acquire(addr string) (*addrConns, error) {
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return nil, kv.ErrClosed
	}
	if ac := p.addrs[addr]; ac != nil {
		ac.refs.Add(1)
		p.mu.RUnlock()
		return ac, nil
	}
	p.mu.RUnlock()

	// Creating the connections under the write lock is what keeps
	// concurrent first Sends to one address from dialing twice. It holds
	// the lock only briefly: grpc.NewClient does no I/O.
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, kv.ErrClosed
	}
	ac := p.addrs[addr]
	if ac == nil {
		var err error
		if ac, err = p.dialLocked(addr); err != nil {
			return nil, err
		}
		p.addrs[addr] = ac
	}
	ac.refs.Add(1)
	return ac, nil
}

// release ends a use begun by acquire, and closes ac if CloseAddr retired it
// while the caller was using it.
func (p *Pool) release(ac *addrConns) {
	// CloseAddr stores retired and then loads refs; release changes refs
	// and then loads retired. Whichever goes second sees the other's write,
	// so a retired set is always closed once its last user leaves (both
	// may try; closeOnce keeps it to one).
	if ac.refs.Add(-1) == 0 && ac.retired.Load() {
		p.mu.Lock()
		delete(p.retired, ac)
		p.mu.Unlock()
		_ = ac.close() // nobody is left to report the error to
	}
}

func (p *Pool) dialLocked(addr string) (*addrConns, error) {
	ac := &addrConns{conns: make([]*grpc.ClientConn, 0, p.nconns)}
	for range p.nconns {
		cc, err := p.newClient(addr, p.dialOpts...)
		if err != nil {
			_ = ac.close() // connections that never carried a call
			return nil, fmt.Errorf("create gRPC client: %w", err)
		}
		ac.conns = append(ac.conns, cc)
	}
	if p.batch != nil {
		cfg, onFeedback := *p.batch, p.onFeedback
		ac.batch = newBatchClient(addr, "", ac.conns, cfg, onFeedback)
		ac.fwdNew = func(host string) *batchClient { return newBatchClient(addr, host, ac.conns, cfg, onFeedback) }
	}
	ac.watch = watchConns(addr, ac.conns, p.onConnState)
	return ac, nil
}

// batchFor returns the batch client whose streams carry req: the
// address's own, or, for a forwarded request, its forwarded host's.
func (ac *addrConns) batchFor(req *Request) *batchClient {
	if fwd := req.Target.ForwardedHost; fwd != "" {
		return ac.forwardedBatch(fwd)
	}
	return ac.batch
}

// forwardedBatch returns the batch client of the streams that ask this
// address to forward to host, creating it on first use. After close it
// returns the main batch client, already closed, which refuses the request
// as not sent.
func (ac *addrConns) forwardedBatch(host string) *batchClient {
	ac.fwdMu.Lock()
	defer ac.fwdMu.Unlock()
	if ac.closing {
		return ac.batch
	}
	bc := ac.forwarded[host]
	if bc == nil {
		if ac.forwarded == nil {
			ac.forwarded = make(map[string]*batchClient)
		}
		bc = ac.fwdNew(host)
		ac.forwarded[host] = bc
	}
	return bc
}

// pick returns the next connection in round-robin order.
func (ac *addrConns) pick() *grpc.ClientConn {
	n := ac.next.Add(1) - 1
	return ac.conns[n%uint32(len(ac.conns))]
}

func (ac *addrConns) close() error {
	ac.closeOnce.Do(func() {
		ac.fwdMu.Lock()
		ac.closing = true
		fwd := ac.forwarded
		ac.fwdMu.Unlock()
		for _, bc := range fwd {
			bc.close()
		}
		if ac.batch != nil {
			ac.batch.close() // before the connections its streams use
		}
		var errs []error
		for _, cc := range ac.conns {
			errs = append(errs, cc.Close())
		}
		ac.closeErr = errors.Join(errs...)
		ac.watch.stop()
	})
	return ac.closeErr
}

// validateRequest rejects what would make a call meaningless or dangerous:
// a message of another command's type could decode on the server as a
// valid request with different fields.
func validateRequest(req *Request) error {
	switch {
	case req == nil:
		return kv.InvalidArgument("nil request")
	case !req.Cmd.Valid():
		return kv.InvalidArgument("invalid command %v", req.Cmd)
	case req.Target.Addr == "":
		return kv.InvalidArgument("%s: empty target address", req.Cmd)
	case req.Msg == nil:
		return kv.InvalidArgument("%s: nil message", req.Cmd)
	}
	if got, want := reflect.TypeOf(req.Msg), req.Cmd.info().reqType; got != want {
		return kv.InvalidArgument("%s: message is %v, want %v", req.Cmd, got, want)
	}
	if v := reflect.ValueOf(req.Msg); v.Kind() == reflect.Pointer && v.IsNil() {
		return kv.InvalidArgument("%s: nil message", req.Cmd)
	}
	return nil
}
