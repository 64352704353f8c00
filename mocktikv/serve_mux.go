package mocktikv

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
)

// One port, two protocols. Real PD serves gRPC and its HTTP API on one
// address (the etcd it embeds multiplexes them), and its clients count on
// that: github.com/tikv/pd/client/http dials the same host:port the gRPC
// client uses. A TiKV's status address serves HTTP; the mock serves it on
// the store's gRPC port, which is what metapb.Store.status_address names.
//
// Without TLS the first bytes of a connection tell the protocols apart: a
// gRPC client speaks HTTP/2 with prior knowledge and opens with the
// HTTP/2 client preface ("PRI * HTTP/2.0..."), an HTTP/1.x request opens
// with a method token. The listener is split on that, and gRPC keeps
// grpc-go's own transport (keepalive enforcement, Stop closing every
// connection). With TLS the bytes are encrypted and both kinds of client
// may negotiate h2, so, as etcd does for its TLS client port, one
// net/http server terminates TLS and hands requests with a gRPC content
// type to grpc.Server.ServeHTTP.

// http2Preface is the start of the HTTP/2 client connection preface
// (RFC 9113 §3.4); no HTTP/1.x method begins with it.
const http2Preface = "PRI * HTTP/2.0"

// sniffTimeout bounds how long an accepted connection may stay silent
// before it is dropped; a client always writes first on both protocols.
const sniffTimeout = 10 * time.Second

// muxServer is one listening address serving gRPC and HTTP.
type muxServer struct {
	grpc *grpc.Server
	http *http.Server
	lis  net.Listener // the real listener
	addr string
	wg   sync.WaitGroup

	// Plain-text mode only: the two halves of lis, and the connections
	// being sorted, which stop closes so that it need not wait out their
	// sniffTimeout.
	grpcLis, httpLis *chanListener
	mu               sync.Mutex
	stopped          bool
	sorting          map[net.Conn]struct{}
}

// serveMux starts serving lis: g for gRPC and h for HTTP requests. With
// tlsCfg set, lis is wrapped in TLS first.
func serveMux(lis net.Listener, g *grpc.Server, h http.Handler, tlsCfg *tls.Config) *muxServer {
	m := &muxServer{grpc: g, lis: lis, addr: lis.Addr().String()}
	if tlsCfg != nil {
		cfg := tlsCfg.Clone()
		cfg.NextProtos = []string{"h2", "http/1.1"}
		m.http = &http.Server{Handler: grpcOrHTTP(g, h), ReadHeaderTimeout: sniffTimeout}
		tlsLis := tls.NewListener(lis, cfg)
		m.wg.Go(func() {
			// Serve returns when the server is closed.
			_ = m.http.Serve(tlsLis)
		})
		return m
	}
	m.sorting = map[net.Conn]struct{}{}
	m.grpcLis = newChanListener(lis.Addr())
	m.httpLis = newChanListener(lis.Addr())
	m.http = &http.Server{Handler: h, ReadHeaderTimeout: sniffTimeout}
	m.wg.Go(func() { _ = g.Serve(m.grpcLis) })
	m.wg.Go(func() { _ = m.http.Serve(m.httpLis) })
	m.wg.Go(m.acceptLoop)
	return m
}

// grpcOrHTTP routes HTTP/2 requests with a gRPC content type to the gRPC
// server (gRPC over HTTP/2 requires "application/grpc" or a
// "application/grpc+codec" content type) and everything else to h.
func grpcOrHTTP(g *grpc.Server, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			g.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// acceptLoop accepts connections until lis is closed and sorts each one,
// in a goroutine of its own so a silent client cannot hold up the others.
func (m *muxServer) acceptLoop() {
	for {
		conn, err := m.lis.Accept()
		if err != nil {
			return
		}
		m.wg.Go(func() { m.route(conn) })
	}
}

// route reads the first bytes of conn and passes it, bytes included, to
// the gRPC or the HTTP half; a connection that says nothing in time, or
// arrives while the server stops, is closed.
func (m *muxServer) route(conn net.Conn) {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		conn.Close()
		return
	}
	m.sorting[conn] = struct{}{}
	m.mu.Unlock()

	_ = conn.SetReadDeadline(time.Now().Add(sniffTimeout))
	br := bufio.NewReaderSize(conn, 64)
	head, err := br.Peek(len(http2Preface))
	_ = conn.SetReadDeadline(time.Time{})
	m.mu.Lock()
	delete(m.sorting, conn)
	m.mu.Unlock()
	target := m.httpLis
	if string(head) == http2Preface {
		target = m.grpcLis
	} else if err != nil && len(head) == 0 {
		conn.Close()
		return
	}
	// A short HTTP/1.x request (shorter than the preface) is still HTTP.
	if !target.deliver(&peekedConn{Conn: conn, r: br}) {
		conn.Close()
	}
}

// stop closes the listener and both servers, ends every connection and
// waits for the serving goroutines.
func (m *muxServer) stop() {
	m.mu.Lock()
	m.stopped = true
	for conn := range m.sorting {
		conn.Close()
	}
	m.mu.Unlock()
	m.lis.Close()
	m.grpc.Stop()
	m.http.Close()
	m.wg.Wait()
}

// peekedConn is a connection whose first bytes were read into r.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// chanListener is a net.Listener fed by muxServer.route.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// deliver hands conn to Accept; false when the listener is closed.
func (l *chanListener) deliver(conn net.Conn) bool {
	select {
	case l.conns <- conn:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
