package mocktikv

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// Forwarding, as TiKV's src/server/proxy.rs does it: a call that carries the
// metadata tikv-forwarded-host is not served by the store that received it
// but passed on to the store at that address, and that store's answer (or
// failure) is returned as is. TiKV forwards unary calls and whole
// BatchCommands streams; it dials the target and, when no connection is
// ready within 3 s, drops the call, which the client sees as a failed RPC.
// The mock has every store in one process, so the proxy hop runs in memory:
// the target store serves the request with its own faults and checks, and
// an address that is no running store of the cluster fails the call with
// Unavailable at once. The hop from one store to another is never cut by
// PartitionClient, which is what makes forwarding testable.

// servingStoreKey carries, in a forwarded call's context, the store that
// serves it.
type servingStoreKey struct{}

// servingStore is the store that serves a call received by store id: the
// forwarded host's, if the call was forwarded.
func servingStore(ctx context.Context, id uint64) uint64 {
	if v, ok := ctx.Value(servingStoreKey{}).(uint64); ok {
		return v
	}
	return id
}

// forwardedHost returns the tikv-forwarded-host metadata of an incoming
// call, "" when there is none.
func forwardedHost(ctx context.Context) string {
	if vals := metadata.ValueFromIncomingContext(ctx, transport.ForwardedHostKey); len(vals) > 0 {
		return vals[0]
	}
	return ""
}

// errForwardUnreachable is the proxy's failure to reach host: TiKV drops
// a call it could not pass on, and the client sees the RPC fail.
func errForwardUnreachable(host string, why string) error {
	return status.Errorf(codes.Unavailable, "mocktikv: cannot forward to %s: %s", host, why)
}

// forwardTarget resolves a forwarded host to a running store and returns
// a context for the hop that ends when that store stops.
func (c *Cluster) forwardTarget(ctx context.Context, host string) (context.Context, uint64, context.CancelFunc, error) {
	c.mu.RLock()
	var st *storeState
	for _, s := range c.stores {
		if s.meta.Address == host {
			st = s
			break
		}
	}
	var id uint64
	var life context.Context
	stopped := false
	if st != nil {
		id, life, stopped = st.meta.Id, st.life, st.stopped
	}
	c.mu.RUnlock()
	switch {
	case st == nil:
		return nil, 0, nil, errForwardUnreachable(host, "no store has this address")
	case stopped:
		return nil, 0, nil, errForwardUnreachable(host, fmt.Sprintf("store %d is down", id))
	}
	hctx, cancel := context.WithCancel(context.WithValue(ctx, servingStoreKey{}, id))
	stop := context.AfterFunc(life, cancel)
	return hctx, id, func() { stop(); cancel() }, nil
}

// forwardUnary is the store servers' unary interceptor: a call with a
// forwarded host is served by that store.
func (c *Cluster) forwardUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	host := forwardedHost(ctx)
	if host == "" {
		return handler(ctx, req)
	}
	hctx, id, done, err := c.forwardTarget(ctx, host)
	if err != nil {
		return nil, err
	}
	defer done()
	resp, err := handler(hctx, req)
	if c.storeLife(id).Err() != nil {
		return nil, stoppedInFlightError(id)
	}
	return resp, err
}

// forwardStream is the store servers' stream interceptor: a BatchCommands
// stream with a forwarded host is served, as a whole, by that store.
func (c *Cluster) forwardStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	host := forwardedHost(ss.Context())
	if host == "" {
		return handler(srv, ss)
	}
	hctx, id, done, err := c.forwardTarget(ss.Context(), host)
	if err != nil {
		return err
	}
	defer done()
	err = handler(srv, forwardedStream{ServerStream: ss, ctx: hctx})
	if ss.Context().Err() == nil && c.storeLife(id).Err() != nil {
		// The store the stream was forwarded to died: the proxy's
		// connection to it broke, and so does the stream.
		return stoppedInFlightError(id)
	}
	return err
}

// forwardedStream is a server stream whose context names the store that
// serves it.
type forwardedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s forwardedStream) Context() context.Context { return s.ctx }

// storeLife returns the life of store id (a done context for an unknown
// store).
func (c *Cluster) storeLife(id uint64) context.Context {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if st, ok := c.stores[id]; ok {
		return st.life
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// PartitionClient cuts the network between the client and store id while
// the other stores still reach it: its gRPC server stops (open connections
// close, new ones are refused, its health check fails) and the in-process
// Sender refuses requests sent to it directly as not sent, cutting off
// those in flight with the outcome unknown, exactly as for StopStore. Unlike
// a stopped store it keeps running: it still leads its regions, and another
// store forwards requests to it (tikv-forwarded-host). Partitioning a
// partitioned store is a no-op; HealClient ends the cut.
func (c *Cluster) PartitionClient(id uint64) error {
	c.mu.Lock()
	st, ok := c.stores[id]
	if ok && !st.cut {
		st.cut = true
		st.cutKill()
	}
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %d", errStoreNotFound, id)
	}
	c.stopServing(id)
	return nil
}

// HealClient ends PartitionClient's cut: the store serves the client again
// on the address it had (unless it is stopped). Healing a store that is not
// cut is a no-op.
func (c *Cluster) HealClient(id uint64) error {
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	c.mu.Lock()
	st, ok := c.stores[id]
	wasCut := ok && st.cut
	if wasCut {
		st.cut = false
		st.cutLife, st.cutKill = context.WithCancel(context.Background())
	}
	stopped := ok && st.stopped
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %d", errStoreNotFound, id)
	}
	if s := c.srv.stores[id]; wasCut && !stopped && c.srv.serving && !c.srv.closed && s != nil && s.srv == nil {
		lis, err := net.Listen("tcp", s.addr)
		if err != nil {
			return fmt.Errorf("mocktikv: heal store %d on %s: %w", id, s.addr, err)
		}
		c.srv.stores[id] = c.startStoreServerLocked(id, lis)
	}
	return nil
}

// clientCutError is the in-process Sender's error for a request sent
// directly to a store cut off from the client: never sent, as a refused
// dial.
func clientCutError(id uint64) error {
	return fmt.Errorf("%w: store %d is unreachable from the client: %w", transport.ErrNotSent, id, errConnRefused)
}

// clientCutInFlightError is the in-process Sender's error for a request in
// flight to a store when the client was cut off from it: the connection
// closed under it (outcome unknown, Unavailable).
func clientCutInFlightError(id uint64) error {
	return status.Errorf(codes.Unavailable, "mocktikv: store %d was cut off from the client with the request in flight", id)
}
