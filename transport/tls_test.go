package transport

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/tikvgo/tikv/internal/testcerts"
)

type tlsTikv struct {
	tikvpb.UnimplementedTikvServer
}

func (*tlsTikv) RawGet(context.Context, *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	return &kvrpcpb.RawGetResponse{Value: []byte("secret")}, nil
}

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
