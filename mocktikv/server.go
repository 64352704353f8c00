package mocktikv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/debugpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
)

// servers is the network side of a Cluster.
type servers struct {
	mu      sync.Mutex
	serving bool
	closed  bool
	pd      *grpcServer
	pdAddr  string
	stores  map[uint64]*grpcServer
}

// grpcServer is one listening server, PD's or a store's: gRPC and HTTP on
// one address (serve_mux.go). srv is nil while a store is stopped.
type grpcServer struct {
	srv  *muxServer
	addr string
}

// serverOptions are shared by PD and store servers. Clients (the PD client,
// tikvgo's transport) send keepalive pings; the server must accept them or
// it would close idle connections with "too many pings". TiKV accepts large
// messages (a 10,000-key batch is several MiB).
func serverOptions(tlsCfg *tls.Config) []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             100 * time.Millisecond,
			PermitWithoutStream: true,
		}),
		grpc.MaxRecvMsgSize(math.MaxInt32),
		grpc.MaxSendMsgSize(math.MaxInt32),
	}
	if tlsCfg != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	return opts
}

// Serve starts PD and one TiKV gRPC server per store, each on its own
// 127.0.0.1 port, and records the stores' addresses in PD. A store stopped
// with StopStore before Serve gets an address but does not listen until
// StartStore. Serve (or ServeAt) may be called once; after Close it fails.
func (c *Cluster) Serve() error { return c.ServeAt("127.0.0.1:0") }

// ServeAt is Serve with PD listening on pdAddr ("host:port"). With port 0
// every server gets a free port of its own; with a fixed port P the stores
// listen on the same host at P+1, P+2, ... in store-id order (so -addr
// 127.0.0.1:2379 puts PD on 2379 and the stores on 2380 and up), and
// ServeAt fails if one of those ports is taken.
func (c *Cluster) ServeAt(pdAddr string) error {
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	switch {
	case c.srv.closed:
		return errors.New("mocktikv: cluster is closed")
	case c.srv.serving:
		return errors.New("mocktikv: already serving")
	}

	host, port, err := splitHostPort(pdAddr)
	if err != nil {
		return err
	}
	pdLis, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("mocktikv: listen for PD: %w", err)
	}
	c.srv.pdAddr = pdLis.Addr().String()
	pdURL := c.urlScheme() + c.srv.pdAddr
	etcd := newEtcdState(c, pdURL) // pd_etcd_kv.go
	c.srv.pd = c.startServerLocked(pdLis, func(s *grpc.Server) {
		c.registerPD(s, pdURL) // pd_server.go
		registerEtcd(s, etcd)  // pd_etcd_service.go
	}, c.pdHTTPHandler(pdURL)) // pd_http.go
	c.srv.serving = true
	c.srv.stores = make(map[uint64]*grpcServer)

	for i, id := range c.StoreIDs() {
		storePort := 0
		if port != 0 {
			storePort = port + 1 + i
		}
		lis, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(storePort)))
		if err != nil {
			c.stopAllLocked()
			return fmt.Errorf("mocktikv: listen for store %d: %w", id, err)
		}
		addr := lis.Addr().String()
		c.mu.Lock()
		st := c.stores[id]
		st.meta.Address = addr
		st.meta.PeerAddress = addr
		st.meta.StatusAddress = addr // store_status.go: HTTP on the same port
		stopped := st.stopped || st.cut
		c.mu.Unlock()
		if stopped {
			// Keep the address for StartStore; refuse connections meanwhile.
			lis.Close()
			c.srv.stores[id] = &grpcServer{addr: addr}
			continue
		}
		c.srv.stores[id] = c.startStoreServerLocked(id, lis)
	}
	return nil
}

// splitHostPort parses a listen address; an empty host means 127.0.0.1.
func splitHostPort(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("mocktikv: listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("mocktikv: listen address %q: bad port", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

func (c *Cluster) startStoreServerLocked(id uint64, lis net.Listener) *grpcServer {
	return c.startServerLocked(lis, func(s *grpc.Server) {
		tikvpb.RegisterTikvServer(s, &tikvService{c: c, storeID: id})
		debugpb.RegisterDebugServer(s, &debugService{c: c, storeID: id}) // debug_service.go
	}, c.storeStatusHandler(), // store_status.go
		grpc.ChainUnaryInterceptor(c.forwardUnary), grpc.ChainStreamInterceptor(c.forwardStream)) // forwarding.go
}

// startServerLocked serves lis with a new gRPC server carrying the services
// register adds plus the standard health service (the PD client and TiKV
// clients probe it), and with h for HTTP requests on the same address.
func (c *Cluster) startServerLocked(lis net.Listener, register func(*grpc.Server), h http.Handler, extra ...grpc.ServerOption) *grpcServer {
	s := grpc.NewServer(append(serverOptions(c.tls), extra...)...)
	register(s)
	healthpb.RegisterHealthServer(s, health.NewServer())
	return &grpcServer{srv: serveMux(lis, s, h, c.tls), addr: lis.Addr().String()}
}

func (c *Cluster) stopAllLocked() {
	if c.srv.pd != nil && c.srv.pd.srv != nil {
		c.srv.pd.srv.stop()
	}
	for _, s := range c.srv.stores {
		if s.srv != nil {
			s.srv.stop()
			s.srv = nil
		}
	}
}

// Close stops every server and waits for their goroutines. It is idempotent
// and safe to call whether or not Serve ran. The in-process PD and Sender
// keep working on the in-memory state after Close.
func (c *Cluster) Close() {
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	if c.srv.closed {
		return
	}
	c.srv.closed = true
	c.txn.close()      // txn_lockwait.go: ends lock waits, stops their timers
	c.detached.close() // in-process handlers whose client stopped waiting
	c.stopAllLocked()  // each server waits for its goroutines
}

// PDAddrs returns PD's address, "127.0.0.1:port" without a scheme, as the
// one-element list pd.NewClient takes; nil before Serve.
func (c *Cluster) PDAddrs() []string {
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	if c.srv.pdAddr == "" {
		return nil
	}
	return []string{c.srv.pdAddr}
}

// StopStore makes a store unreachable, as if its process died: its gRPC
// server stops (open connections are closed, new ones refused) and the
// in-process Sender fails requests to it as the gRPC client would (see
// Sender): later ones as never sent, those in flight with the outcome
// unknown. Data and PD's view of the store are unchanged. Stopping a
// stopped store is a no-op.
func (c *Cluster) StopStore(id uint64) error {
	c.mu.Lock()
	st, ok := c.stores[id]
	if ok && !st.stopped {
		st.stopped = true
		st.kill()
	}
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %d", errStoreNotFound, id)
	}
	c.stopServing(id)
	return nil
}

// stopServing stops store id's gRPC server, if it has one: open
// connections are closed and new ones refused (StopStore,
// PartitionClient).
func (c *Cluster) stopServing(id uint64) {
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	if s := c.srv.stores[id]; s != nil && s.srv != nil {
		s.srv.stop()
		s.srv = nil
	}
}

// StartStore brings a stopped store back, serving again on the same address
// it had. Starting a running store is a no-op.
func (c *Cluster) StartStore(id uint64) error {
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	c.mu.RLock()
	_, ok := c.stores[id]
	c.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: %d", errStoreNotFound, id)
	}
	c.mu.RLock()
	cut := c.stores[id].cut
	c.mu.RUnlock()
	if s := c.srv.stores[id]; c.srv.serving && !c.srv.closed && s != nil && s.srv == nil && !cut {
		lis, err := net.Listen("tcp", s.addr)
		if err != nil {
			return fmt.Errorf("mocktikv: restart store %d on %s: %w", id, s.addr, err)
		}
		c.srv.stores[id] = c.startStoreServerLocked(id, lis)
	}
	c.mu.Lock()
	if st := c.stores[id]; st.stopped {
		st.stopped = false
		st.life, st.kill = context.WithCancel(context.Background())
		c.health.restart(id) // a new process: new sequence, slow score 1
	}
	c.mu.Unlock()
	return nil
}
