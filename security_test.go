package tikv_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/internal/testcerts"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// TestSecurityRefusesInsecureDialOptions: a pool dial option installing
// insecure credentials next to WithSecurity would make every TiKV
// connection plaintext (grpc lets the last credentials option win); Connect
// refuses the combination before dialling anything. The same option
// without WithSecurity is the user's business and connects.
func TestSecurityRefusesInsecureDialOptions(t *testing.T) {
	certs, err := testcerts.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	plaintext := tikv.WithPoolOptions(transport.WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())))
	// Nothing listens there: the refusal must come before any dial.
	_, err = tikv.Connect(t.Context(), []string{"127.0.0.1:1"}, tikv.WithSecurity(certs.CA, certs.ClientCert, certs.ClientKey), plaintext)
	if !errors.Is(err, transport.ErrInsecureDialOption) || !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("WithSecurity plus insecure dial options: %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("multi-line error: %q", err)
	}
	// Harmless dial options next to WithSecurity are accepted.
	serverTLS, err := certs.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	secure := mocktikv.Start(t, mocktikv.WithTLS(serverTLS))
	c, err := tikv.Connect(t.Context(), secure.PDAddrs(), tikv.WithSecurity(certs.CA, certs.ClientCert, certs.ClientKey),
		tikv.WithPoolOptions(transport.WithDialOptions(grpc.WithUserAgent("tikvgo-test"))))
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.NewClient(c).Put(t.Context(), []byte("k"), []byte("v")); err != nil {
		t.Fatalf("Put over TLS with extra dial options: %v", err)
	}
	c.Close()

	plain := mocktikv.Start(t)
	c, err = tikv.Connect(t.Context(), plain.PDAddrs(), plaintext)
	if err != nil {
		t.Fatalf("insecure dial options without WithSecurity: %v", err)
	}
	c.Close()
}

// TestSecurityWrongCANamesTheX509Cause: with a CA that did not sign PD's
// certificate, Connect fails with an error that carries the x509 cause,
// not only the PD client's "failed to get cluster id".
func TestSecurityWrongCANamesTheX509Cause(t *testing.T) {
	certs, err := testcerts.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcerts.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, err := certs.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	mock := mocktikv.Start(t, mocktikv.WithTLS(serverTLS))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	c, err := tikv.Connect(ctx, mock.PDAddrs(), tikv.WithSecurity(other.CA, certs.ClientCert, certs.ClientKey))
	if err == nil {
		c.Close()
		t.Fatal("connected with a CA that did not sign PD's certificate")
	}
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "x509: certificate signed by unknown authority") {
		t.Fatalf("wrong CA: %v, want the x509 cause", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("multi-line error: %q", err)
	}

	// The right CA, but a client certificate PD does not trust: under TLS
	// 1.3 the refusal comes after the client's handshake, as an alert;
	// Connect names it too.
	ctx, cancel = context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	c, err = tikv.Connect(ctx, mock.PDAddrs(), tikv.WithSecurity(certs.CA, other.ClientCert, other.ClientKey))
	if err == nil {
		c.Close()
		t.Fatal("connected with a client certificate PD does not trust")
	}
	if !strings.Contains(err.Error(), "TLS handshake with") || !strings.Contains(err.Error(), "tls: ") {
		t.Fatalf("untrusted client certificate: %v, want the TLS cause", err)
	}
}
