package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// LoadTLS builds the client TLS configuration for TiKV (and PD) from PEM
// files, as client-go's Security does: TLS is on only when caPath is set
// (nil, nil otherwise); the CA verifies the servers; certPath and keyPath,
// when set, are the client certificate, read again from disk on every
// handshake so that rotated certificates are picked up without a restart.
// The CA is read once, here: the configuration verifies servers against
// the CA as it was. NewTLSCredentials re-reads it as well. All files are
// read here, so a bad path fails now, not at the first connection.
func LoadTLS(caPath, certPath, keyPath string) (*tls.Config, error) {
	if caPath == "" {
		if certPath != "" || keyPath != "" {
			return nil, errors.New("tls: a client certificate needs a CA (set the CA path)")
		}
		return nil, nil
	}
	pool, err := (&caFile{path: caPath}).pool()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certPath == "" && keyPath == "" {
		return cfg, nil
	}
	if certPath == "" || keyPath == "" {
		return nil, errors.New("tls: set both the certificate and the key path, or neither")
	}
	if _, err := tls.LoadX509KeyPair(certPath, keyPath); err != nil {
		return nil, fmt.Errorf("tls: load client certificate: %w", err)
	}
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		cert, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			return nil, fmt.Errorf("tls: reload client certificate: %w", err)
		}
		return &cert, nil
	}
	return cfg, nil
}

// NewTLSCredentials returns gRPC client credentials for TiKV built from PEM
// files like LoadTLS (nil, nil when caPath is empty: TLS off), except that
// the CA too is read again from disk at every handshake and parsed again
// when its content changed, as the certificate and key are: a rotated CA
// takes effect on the next connection without a restart. A CA file that
// cannot be read or holds no certificate at a later handshake fails that
// handshake; the credentials never fall back to an older CA.
//
// Verification is crypto/tls's own, against the current CA, and uses the
// server name grpc derives from the address (an IP is matched against the
// certificate's IP SANs). Use them with WithTLSCredentials.
func NewTLSCredentials(caPath, certPath, keyPath string) (credentials.TransportCredentials, error) {
	base, err := LoadTLS(caPath, certPath, keyPath)
	if err != nil || base == nil {
		return nil, err
	}
	return &reloadingTLS{base: base, ca: &caFile{path: caPath}}, nil
}

// WithTLSCredentials makes the Pool connect with creds (for example from
// NewTLSCredentials) instead of WithTLS's configuration. It is a dial
// option, applied after the Pool's own: a later WithDialOptions that sets
// transport credentials replaces it (RequireTLS detects when that turns
// TLS off).
func WithTLSCredentials(creds credentials.TransportCredentials) PoolOption {
	return WithDialOptions(grpc.WithTransportCredentials(creds))
}

// reloadingTLS is grpc's TLS credentials over a configuration whose root
// CAs are taken from the CA file at each handshake. crypto/tls has no
// per-handshake hook for a client's roots, and grpc's credentials.NewTLS
// copies the configuration once, so each handshake builds its own copy.
type reloadingTLS struct {
	base *tls.Config // read-only after construction
	ca   *caFile
}

func (r *reloadingTLS) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	roots, err := r.ca.pool()
	if err != nil {
		return nil, nil, err
	}
	cfg := r.base.Clone()
	cfg.RootCAs = roots
	return credentials.NewTLS(cfg).ClientHandshake(ctx, authority, conn)
}

func (r *reloadingTLS) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("tls: client credentials cannot serve")
}

func (r *reloadingTLS) Info() credentials.ProtocolInfo { return credentials.NewTLS(r.base).Info() }

func (r *reloadingTLS) Clone() credentials.TransportCredentials {
	return &reloadingTLS{base: r.base.Clone(), ca: r.ca}
}

// OverrideServerName is deprecated in grpc; it sets the name certificates
// are checked against, as grpc's TLS credentials do.
func (r *reloadingTLS) OverrideServerName(name string) error {
	r.base.ServerName = name
	return nil
}

// caFile is a CA certificate file, read at every handshake and parsed again
// when its content changed. Safe for concurrent use: handshakes run on
// grpc's connection goroutines.
type caFile struct {
	path string

	mu     sync.Mutex
	pem    []byte
	parsed *x509.CertPool
}

func (f *caFile) pool() (*x509.CertPool, error) {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("tls: read CA: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.parsed != nil && bytes.Equal(data, f.pem) {
		return f.parsed, nil
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("tls: no PEM certificate in %s", f.path)
	}
	f.pem, f.parsed = data, p
	return p, nil
}

// ErrInsecureDialOption is wrapped by RequireTLS's error: the Pool would
// connect without TLS.
var ErrInsecureDialOption = errors.New("transport: the dial options turn TLS off")

// RequireTLS reports an error unless a Pool built with opts would speak TLS
// on every connection. It is for callers that configured TLS (tikv.Connect
// with WithSecurity): WithDialOptions options are applied after the Pool's
// own, so grpc.WithTransportCredentials(insecure.NewCredentials()) among
// them would otherwise win without a word, and every store connection
// would be plaintext. The error wraps ErrInsecureDialOption when the
// options leave the Pool with insecure credentials (no TLS configured, or
// insecure ones installed over it), or is grpc's own when grpc rejects the
// options.
//
// grpc.DialOption is opaque (its apply method is unexported), so the check
// asks grpc itself: insecure.NewCredentials documents that grpc refuses to
// create a channel whose transport credentials are insecure when a
// per-RPC credential requires transport security. RequireTLS creates a
// ClientConn (it connects to nothing before first use, and is closed at
// once) with the Pool's final dial options plus such a credential, so
// grpc's verdict covers every way the options could set credentials
// (WithInsecure, WithTransportCredentials, bundles), in any order. It does
// not flag other non-TLS credentials (grpc's "local" ones, say): those are
// a deliberate choice nobody makes by accident.
func RequireTLS(opts ...PoolOption) error {
	p := NewPool(opts...)
	defer p.Close()
	probe := func(extra ...grpc.DialOption) error {
		all := append(p.dialOpts[:len(p.dialOpts):len(p.dialOpts)], extra...)
		cc, err := p.newClient("passthrough:///tls-probe", all...)
		if err == nil {
			cc.Close()
		}
		return err
	}
	if err := probe(grpc.WithPerRPCCredentials(requiresTransportSecurity{})); err != nil {
		if perr := probe(); perr != nil {
			return fmt.Errorf("transport: dial options rejected: %w", perr)
		}
		return fmt.Errorf("%w: the Pool's connections would be plaintext", ErrInsecureDialOption)
	}
	return nil
}

// requiresTransportSecurity is a per-RPC credential that adds nothing but
// demands a secure transport: RequireTLS's probe.
type requiresTransportSecurity struct{}

func (requiresTransportSecurity) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return nil, nil
}

func (requiresTransportSecurity) RequireTransportSecurity() bool { return true }
