package pdclient

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tikvgo/tikv/transport"
)

// tlsProbe finds out why PD cannot be reached over TLS. The PD client
// retries a failed handshake until the caller's context ends and then
// reports only "failed to get cluster id", so a wrong CA looked like an
// unreachable PD. While it connects, the probe makes one TLS handshake of
// its own to each PD address, with the same files, and keeps the first
// failure: a certificate the CA does not verify, or a client certificate
// the server refuses.
type tlsProbe struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	addr string
	err  error
}

// postHandshakeWait bounds the read that catches a server's rejection of
// the client certificate: under TLS 1.3 it arrives as an alert after the
// client's handshake has completed. A gRPC server sends its HTTP/2
// settings at once, so an accepting server answers well within it.
const postHandshakeWait = 500 * time.Millisecond

// startTLSProbe starts the probe for the security options, or returns nil
// when TLS is off or its files cannot be loaded (the PD client reports
// those itself).
func startTLSProbe(ctx context.Context, addrs []string, caPath, certPath, keyPath string) *tlsProbe {
	if caPath == "" {
		return nil
	}
	cfg, err := transport.LoadTLS(caPath, certPath, keyPath)
	if err != nil || cfg == nil {
		return nil
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &tlsProbe{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for _, a := range addrs {
			host := hostPort(a)
			if err := handshake(pctx, cfg, host); err != nil && pctx.Err() == nil {
				p.mu.Lock()
				p.addr, p.err = host, err
				p.mu.Unlock()
				return
			}
		}
	}()
	return p
}

// stop ends the probe and returns the handshake failure it found, if any.
func (p *tlsProbe) stop() (string, error) {
	if p == nil {
		return "", nil
	}
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr, p.err
}

// handshake returns the TLS failure of one connection to addr, nil when
// the handshake succeeds or the address cannot even be dialled (that is
// not a TLS problem).
func handshake(ctx context.Context, base *tls.Config, addr string) error {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil
	}
	defer raw.Close()
	cfg := base.Clone()
	if h, _, err := net.SplitHostPort(addr); err == nil {
		cfg.ServerName = h
	}
	cfg.NextProtos = []string{"h2"}
	conn := tls.Client(raw, cfg)
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Now()) })
	defer stop()
	if err := conn.HandshakeContext(ctx); err != nil {
		return err
	}
	if err := conn.SetReadDeadline(time.Now().Add(postHandshakeWait)); err != nil {
		return nil
	}
	var b [1]byte
	_, err = conn.Read(b[:])
	var ne net.Error
	if err == nil || errors.Is(err, io.EOF) || (errors.As(err, &ne) && ne.Timeout()) {
		return nil
	}
	return err
}

// dialProbeTimeout bounds each dial of dialProbe.
const dialProbeTimeout = time.Second

// dialProbe dials each PD address once, after the PD client gave up, to
// name why PD could not be reached (a refused connection, an unknown host,
// a timeout): the PD client reports only that it got no cluster id. It
// returns the first failure, or nil when every address accepts a
// connection (PD is reachable but did not answer).
func dialProbe(addrs []string) (string, error) {
	for _, a := range addrs {
		host := hostPort(a)
		d := net.Dialer{Timeout: dialProbeTimeout}
		conn, err := d.Dial("tcp", host)
		if err != nil {
			return host, err
		}
		conn.Close()
	}
	return "", nil
}

// hostPort turns a PD endpoint ("host:port" or a URL) into host:port.
func hostPort(addr string) string {
	if strings.Contains(addr, "://") {
		if u, err := url.Parse(addr); err == nil {
			return u.Host
		}
	}
	return addr
}
