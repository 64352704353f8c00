package transport

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tikvgo/tikv/internal/testcerts"
)

type tlsTikv struct {
	tikvpb.UnimplementedTikvServer
}

func (*tlsTikv) RawGet(context.Context, *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	return &kvrpcpb.RawGetResponse{Value: []byte("secret")}, nil
}

// TestLoadTLSAgainstMutualTLSServer: LoadTLS builds, from a CA, a
// certificate and a key in files, a TLS config that a mutual-TLS server
// accepts (and a plaintext client is refused). Ports client-go's
// TestTLSConfig (config/security_test.go), which checks only that the
// config is built.
func TestLoadTLSAgainstMutualTLSServer(t *testing.T) {
	certs, err := testcerts.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, err := certs.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(serverTLS)))
	tikvpb.RegisterTikvServer(srv, &tlsTikv{})
	go srv.Serve(lis)
	defer srv.Stop()
	addr := lis.Addr().String()
	get := func(p *Pool) error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := p.Send(ctx, &Request{Cmd: CmdRawGet, Msg: &kvrpcpb.RawGetRequest{Key: []byte("k")}, Target: Target{Addr: addr}})
		return err
	}

	cfg, err := LoadTLS(certs.CA, certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	withTLS := NewPool(WithTLS(cfg))
	defer withTLS.Close()
	if err := get(withTLS); err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
	if err := withTLS.CheckHealth(context.Background(), addr); err == nil {
		t.Fatal("health check of a server without the health service succeeded")
	}

	// No client certificate: the server refuses the handshake.
	caOnly, err := LoadTLS(certs.CA, "", "")
	if err != nil {
		t.Fatal(err)
	}
	noCert := NewPool(WithTLS(caOnly))
	defer noCert.Close()
	if err := get(noCert); err == nil {
		t.Fatal("a client without a certificate got through")
	}
	// Plaintext against a TLS server fails too.
	plain := NewPool()
	defer plain.Close()
	if err := get(plain); err == nil {
		t.Fatal("a plaintext client got through")
	}
}

func TestLoadTLSValidation(t *testing.T) {
	if cfg, err := LoadTLS("", "", ""); cfg != nil || err != nil {
		t.Fatalf("no CA: %v, %v; want TLS off", cfg, err)
	}
	certs, err := testcerts.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct{ ca, cert, key string }{
		{"", certs.ClientCert, certs.ClientKey}, // a certificate without a CA
		{certs.CA, certs.ClientCert, ""},        // half a key pair
		{"/nonexistent/ca.pem", "", ""},
		{certs.ClientKey, "", ""}, // not a certificate
		{certs.CA, certs.ClientCert, certs.ServerKey},
	}
	for _, b := range bad {
		if _, err := LoadTLS(b.ca, b.cert, b.key); err == nil {
			t.Errorf("LoadTLS(%q, %q, %q) accepted", b.ca, b.cert, b.key)
		}
	}
	// The client certificate is re-read on each handshake.
	cfg, err := LoadTLS(certs.CA, certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(certs.ClientCert); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.GetClientCertificate(nil); err == nil {
		t.Fatal("a deleted certificate was still served from memory")
	}
}

// startTLSTikv serves tlsTikv with mutual TLS from certs; it returns the
// address.
func startTLSTikv(t *testing.T, certs *testcerts.Set) string {
	t.Helper()
	serverTLS, err := certs.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(serverTLS)))
	tikvpb.RegisterTikvServer(srv, &tlsTikv{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

// TestTLSCredentialsReloadTheCA: the CA file is read again at each
// handshake, so after it is rewritten a new connection verifies the server
// against the new CA, in both directions (a wrong CA replaced by the right
// one, and back).
func TestTLSCredentialsReloadTheCA(t *testing.T) {
	certs, err := testcerts.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcerts.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	addr := startTLSTikv(t, certs)
	caPath := filepath.Join(t.TempDir(), "ca.pem")
	copyFile := func(from string) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(caPath, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(other.CA) // not the CA that signed the server
	creds, err := NewTLSCredentials(caPath, certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := NewPool(WithTLSCredentials(creds))
	defer pool.Close()
	get := func() error {
		// A fresh connection, hence a fresh handshake.
		if err := pool.CloseAddr(addr); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := pool.Send(ctx, &Request{Cmd: CmdRawGet, Msg: &kvrpcpb.RawGetRequest{Key: []byte("k")}, Target: Target{Addr: addr}})
		return err
	}
	if err := get(); err == nil || !strings.Contains(err.Error(), "x509") {
		t.Fatalf("wrong CA: %v, want an x509 failure", err)
	}
	copyFile(certs.CA)
	if err := get(); err != nil {
		t.Fatalf("after the CA file was rewritten: %v", err)
	}
	copyFile(other.CA)
	if err := get(); err == nil || !strings.Contains(err.Error(), "x509") {
		t.Fatalf("CA rewritten back to the wrong one: %v", err)
	}
	if err := os.WriteFile(caPath, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := get(); err == nil {
		t.Fatal("a handshake succeeded with no CA in the file")
	}
}

// TestRequireTLS: insecure transport credentials among the dial options,
// which grpc would let override the Pool's TLS in silence, are detected,
// whichever TLS option they follow; TLS options after them, or none of
// them, pass.
func TestRequireTLS(t *testing.T) {
	certs, err := testcerts.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadTLS(certs.CA, certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := NewTLSCredentials(certs.CA, certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	plain := WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials()))
	for _, tc := range []struct {
		name     string
		opts     []PoolOption
		insecure bool
	}{
		{"TLS config", []PoolOption{WithTLS(cfg)}, false},
		{"TLS credentials", []PoolOption{WithTLSCredentials(creds)}, false},
		{"TLS config, then insecure credentials", []PoolOption{WithTLS(cfg), plain}, true},
		{"TLS credentials, then insecure ones", []PoolOption{WithTLSCredentials(creds), plain}, true},
		{"insecure credentials, then TLS ones", []PoolOption{plain, WithTLSCredentials(creds)}, false},
		{"unrelated dial options", []PoolOption{WithTLS(cfg), WithDialOptions(grpc.WithUserAgent("x"))}, false},
		{"no TLS at all", nil, true},
	} {
		err := RequireTLS(tc.opts...)
		if got := errors.Is(err, ErrInsecureDialOption); got != tc.insecure || (!tc.insecure && err != nil) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// An insecure bundle next to TLS credentials is rejected by grpc
	// itself; RequireTLS reports that rather than letting Send find it.
	if err := RequireTLS(WithTLS(cfg), WithDialOptions(grpc.WithCredentialsBundle(insecure.NewBundle()))); err == nil {
		t.Fatal("TLS credentials plus an insecure bundle passed")
	}
}
