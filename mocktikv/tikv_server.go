package mocktikv

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/debugpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// handler executes one command on one store. It returns the command's
// response message, or an error that becomes the RPC's gRPC status (TiKV
// reports region and key failures inside the response; gRPC errors are
// reserved for cluster-id mismatches and unimplemented commands). ctx is the
// RPC's context: a handler that blocks (a pessimistic lock waiting for
// another transaction) must give up when it ends, and must never block
// while holding c.mu.
type handler func(ctx context.Context, c *Cluster, storeID uint64, req transport.Message) transport.Message

// typed adapts a command's function that does not block to a handler.
func typed[Req, Resp transport.Message](f func(*Cluster, uint64, Req) Resp) handler {
	return func(_ context.Context, c *Cluster, storeID uint64, req transport.Message) transport.Message {
		return f(c, storeID, req.(Req))
	}
}

// typedCtx adapts a command's function that may block to a handler.
func typedCtx[Req, Resp transport.Message](f func(*Cluster, context.Context, uint64, Req) Resp) handler {
	return func(ctx context.Context, c *Cluster, storeID uint64, req transport.Message) transport.Message {
		return f(c, ctx, storeID, req.(Req))
	}
}

// handlerTable maps commands to handlers.
type handlerTable map[transport.Cmd]handler

// handlers is the command table the gRPC service and the in-process Sender
// share. Each group of commands registers itself from its own file.
// Commands absent from it answer codes.Unimplemented.
var handlers = func() handlerTable {
	t := handlerTable{}
	for _, register := range []func(handlerTable){
		registerRawHandlers,    // raw_service.go
		registerTxnHandlers,    // txn_handlers.go
		registerAdminHandlers,  // admin_handlers.go
		registerStoreHandlers,  // store_handlers.go
		registerHealthHandlers, // health_feedback.go
	} {
		register(t)
	}
	return t
}()

// handle serves one request that reached storeID: it notifies the request
// observers, applies the scripted faults, then the service-level cluster-id
// check and the envelope checks that need the request body
// (checkEnvelope), and runs the command; the response observers see the
// outcome. Every transport (unary gRPC, BatchCommands, the in-process
// Sender) goes through it, so all three behave alike.
func (c *Cluster) handle(ctx context.Context, storeID uint64, cmd transport.Cmd, req transport.Message) (transport.Message, error) {
	if !cmd.Valid() {
		return nil, status.Errorf(codes.Unimplemented, "mocktikv: unknown command %d", uint16(cmd))
	}
	c.observers.notify(storeID, cmd, req)
	resp, err := c.handleWithFaults(ctx, storeID, cmd, req)
	c.observers.notifyResponse(storeID, cmd, req, resp, err)
	return resp, err
}

// handleWithFaults runs the faults' plan around execute. It never holds c.mu
// while a fault holds the request.
func (c *Cluster) handleWithFaults(ctx context.Context, storeID uint64, cmd transport.Cmd, req transport.Message) (transport.Message, error) {
	plan := c.faults.match(storeID, cmd, req)
	if err := plan.hold(ctx); err != nil {
		return nil, err
	}
	if t := plan.terminal; t != nil && t.kind != actLoseResponse {
		return t.answer(cmd, req)
	}
	resp, err := c.execute(ctx, storeID, cmd, req)
	if t := plan.terminal; t != nil && err == nil {
		// LoseResponse: applied, but the client never hears of it.
		return nil, newFaultError(t.err)
	}
	return resp, err
}

// execute runs the service-level checks and then cmd's handler. The checks
// come first, as TiKV's service applies them before dispatching, so that
// they hold even for commands the mock does not implement yet.
func (c *Cluster) execute(ctx context.Context, storeID uint64, cmd transport.Cmd, req transport.Message) (transport.Message, error) {
	if cmd.HasContext() {
		if err := c.checkClusterID(cmd.Context(req)); err != nil {
			return nil, err
		}
		if rerr := c.checkEnvelope(storeID, cmd, req); rerr != nil {
			resp := cmd.NewResponse()
			if setRegionError(resp, rerr) {
				return resp, nil
			}
		}
	}
	if cmd == cmdDebugGetRegionProperties {
		// The Debug service fails with a gRPC status, not inside its
		// response, so it has no entry in handlers (debug_service.go).
		return c.regionProperties(storeID, req.(*debugpb.GetRegionPropertiesRequest))
	}
	h, ok := handlers[cmd]
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "mocktikv: %s is not implemented", cmd)
	}
	start := time.Now()
	resp := h(ctx, c, storeID, req)
	fillExecDetails(req, resp, time.Since(start))
	return resp, nil
}

// tikvService is one store's tikvpb.Tikv gRPC service.
type tikvService struct {
	tikvpb.UnimplementedTikvServer
	c       *Cluster
	storeID uint64
}

// serve runs cmd for a gRPC call and returns its typed response.
func serve[Resp transport.Message](ctx context.Context, s *tikvService, cmd transport.Cmd, req transport.Message) (Resp, error) {
	var zero Resp
	resp, err := s.c.handle(ctx, servingStore(ctx, s.storeID), cmd, req)
	if err != nil {
		return zero, grpcError(err)
	}
	typedResp, ok := resp.(Resp)
	if !ok {
		return zero, status.Errorf(codes.Internal, "mocktikv: %s produced %T", cmd, resp)
	}
	return typedResp, nil
}

// Sender returns the in-process TiKV: a transport.Sender that delivers each
// request to the store named by req.Target.StoreID and runs exactly what
// that store's gRPC server runs, faults included. It fails as tikvgo's
// gRPC transport (transport.Pool) does against the served cluster, down to
// the gRPC status (status.Code) and whether the error wraps
// transport.ErrNotSent (inprocess_errors.go):
//
//   - a request to a stopped or unknown store, an invalid request, or a
//     ctx already done: never sent (ErrNotSent); a stopped store's error is
//     Unavailable, as a refused connection is;
//   - a request in flight when its store stops: Unavailable, outcome
//     unknown (the handler's context is cancelled, as the server's is when
//     its connections close, and a response it produced is dropped);
//   - a request whose ctx ends while the store holds it (a fault's Delay or
//     Block, a lock wait): Canceled or DeadlineExceeded, unwrapping to
//     ctx.Err(), outcome unknown;
//   - a fault's Fail or LoseResponse: the fault's error, unwrapping to it
//     and carrying its status (see Fail);
//   - an unimplemented command: codes.Unimplemented.
//
// A request whose Target.ForwardedHost is set goes to the store at
// Target.Addr, which forwards it to the store at ForwardedHost as the gRPC
// server does (forwarding.go); PartitionClient's cut refuses requests sent
// to the cut store directly, as a refused dial.
//
// The Sender also implements transport.HealthChecker, answering as the
// gRPC health service of the served cluster would: a stopped or unknown
// store fails its check. tikv.Connect uses it to find dead stores, as it
// uses the Pool's check over gRPC.
//
// It is safe for concurrent use and works without Serve.
func (c *Cluster) Sender() transport.Sender {
	return inProcessSender{c}
}

// inProcessSender is Cluster.Sender.
type inProcessSender struct{ c *Cluster }

func (s inProcessSender) Send(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	return s.c.send(ctx, req)
}

// CheckHealth reports whether a running store has address addr.
func (s inProcessSender) CheckHealth(ctx context.Context, addr string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.c.mu.RLock()
	defer s.c.mu.RUnlock()
	for _, st := range s.c.stores {
		if st.meta.Address == addr {
			if st.cut {
				return status.Errorf(codes.Unavailable, "store %d (%s) is unreachable from the client", st.meta.Id, addr)
			}
			if st.stopped {
				return status.Errorf(codes.Unavailable, "store %d (%s) is down", st.meta.Id, addr)
			}
			return nil
		}
	}
	return status.Errorf(codes.Unavailable, "no store has address %s", addr)
}

// grpcError is err as the gRPC status a client sees: status errors as they
// are, context errors as Canceled or DeadlineExceeded, anything else as
// Unknown.
func grpcError(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.FromContextError(err).Err()
}

func (c *Cluster) send(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", transport.ErrNotSent, err)
	}
	// The store the client talks to: the target, or the proxy that
	// forwards to it (forwarding.go).
	id := req.Target.StoreID
	forwarded := req.Target.ForwardedHost != ""
	c.mu.RLock()
	var st *storeState
	ok := false
	if forwarded {
		for _, s := range c.stores {
			if s.meta.Address == req.Target.Addr {
				st, ok, id = s, true, s.meta.Id
				break
			}
		}
	} else {
		st, ok = c.stores[id]
	}
	var down, cut bool
	var life, cutLife context.Context
	if ok {
		down, cut, life, cutLife = st.stopped, st.cut, st.life, st.cutLife
	}
	c.mu.RUnlock()
	switch {
	case !ok && forwarded:
		return nil, fmt.Errorf("%w: no store has address %s", transport.ErrNotSent, req.Target.Addr)
	case !ok:
		return nil, fmt.Errorf("%w: store %d does not exist", transport.ErrNotSent, id)
	case down:
		return nil, storeDownError(id)
	case cut:
		return nil, clientCutError(id)
	case req.Msg == nil:
		return nil, fmt.Errorf("%w: %s request has no message", transport.ErrNotSent, req.Cmd)
	}
	if req.Cmd.Valid() {
		if want := req.Cmd.NewRequest(); reflect.TypeOf(want) != reflect.TypeOf(req.Msg) {
			return nil, fmt.Errorf("%w: %s request is a %T, want %T", transport.ErrNotSent, req.Cmd, req.Msg, want)
		}
	}
	serve := func(ctx context.Context) (*transport.Response, error) {
		return c.serve(ctx, req, id, forwarded, life, cutLife)
	}
	d := transport.AttemptTimeout(ctx, req.Timeout)
	if d <= 0 {
		return serve(ctx)
	}
	// The attempt's Timeout: the client stops waiting for the answer at
	// the deadline, but the handler runs on, as TiKV's does for a
	// BatchCommands request the client gave up on (the stream carries no
	// per-request cancellation; a lock wait keeps its place in the queue).
	// The handler runs on a goroutine the Cluster owns (Close cancels and
	// waits for it); the caller's ctx and the store's fate still end it.
	done := make(chan handled, 1)
	if !c.detached.start(ctx, func(hctx context.Context) {
		resp, err := serve(hctx)
		done <- handled{resp, err}
	}) {
		return serve(ctx) // after Close the Sender serves in line, as before
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case h := <-done:
		return h.resp, h.err
	case <-t.C:
		return nil, inFlightError(context.DeadlineExceeded)
	}
}

// handled is an answer of serve.
type handled struct {
	resp *transport.Response
	err  error
}

// serve runs one request on store id (or, forwarded, on the store id
// forwards it to) under ctx, with the store's death and a client cut
// cancelling it, and classifies its failure as the gRPC client would.
func (c *Cluster) serve(ctx context.Context, req *transport.Request, id uint64, forwarded bool, life, cutLife context.Context) (*transport.Response, error) {
	// The store's death cancels the handler, as closing a gRPC server's
	// connections cancels the contexts of the calls it is serving; so does
	// a cut between the client and the store it talks to.
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(life, cancel)
	defer stop()
	stopCut := context.AfterFunc(cutLife, cancel)
	defer stopCut()
	serving := id
	if forwarded {
		fctx, target, done, err := c.forwardTarget(hctx, req.Target.ForwardedHost)
		if err != nil {
			return nil, err
		}
		defer done()
		hctx, serving = fctx, target
	}
	resp, err := c.handle(hctx, serving, req.Cmd, req.Msg)
	switch {
	case life.Err() != nil:
		return nil, stoppedInFlightError(id)
	case cutLife.Err() != nil:
		return nil, clientCutInFlightError(id)
	case serving != id && c.storeLife(serving).Err() != nil:
		return nil, stoppedInFlightError(serving)
	}
	if err != nil {
		return nil, inFlightError(err)
	}
	return &transport.Response{Msg: resp}, nil
}

// detachedHandlers owns the in-process handlers whose client stopped
// waiting at the attempt's deadline (Cluster.send).
type detachedHandlers struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
}

func newDetachedHandlers() *detachedHandlers {
	ctx, cancel := context.WithCancel(context.Background())
	return &detachedHandlers{ctx: ctx, cancel: cancel}
}

// start runs f on a new goroutine with ctx, also cancelled by close, and
// reports whether it did (false after close).
func (d *detachedHandlers) start(ctx context.Context, f func(context.Context)) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		hctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(d.ctx, cancel)
		defer func() {
			stop()
			cancel()
		}()
		f(hctx)
	}()
	return true
}

// close cancels the handlers still running and waits for them.
func (d *detachedHandlers) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
}
