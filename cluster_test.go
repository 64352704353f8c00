package tikv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/internal/testcerts"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConnectNeedsAnAddress(t *testing.T) {
	if _, err := tikv.Connect(context.Background(), nil); !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("Connect without PD = %v, want ErrInvalidArgument", err)
	}
}

func TestConnectUnreachablePDRespectsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// A port nothing listens on (loopback only).
	if _, err := tikv.Connect(ctx, []string{"127.0.0.1:1"}); err == nil {
		t.Fatal("Connect to a dead PD succeeded")
	}
}

func TestClusterOverGRPCAndClose(t *testing.T) {
	mock := mocktikv.Start(t, mocktikv.WithStores(2))
	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs())
	if err != nil {
		t.Fatal(err)
	}
	if cluster.EnvFor(kv.ModeRaw) == nil || cluster.PD() == nil || cluster.RegionCacheFor(kv.ModeRaw) == nil || cluster.Oracle() == nil || cluster.Sender() == nil {
		t.Fatal("cluster parts missing")
	}
	ts, err := cluster.Oracle().Now(t.Context())
	if err != nil || ts == 0 {
		t.Fatalf("oracle Now = %d, %v", ts, err)
	}
	client := raw.NewClient(cluster)
	if err := client.Put(t.Context(), []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := cluster.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := client.Put(t.Context(), []byte("k"), []byte("v")); err == nil {
		t.Fatal("Put after Close succeeded")
	}
}

func TestWithTransportKeepsTheMiddlewareChain(t *testing.T) {
	mock := mocktikv.NewCluster()
	defer mock.Close()
	seen := 0
	count := func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			seen++
			return next.Send(ctx, req)
		})
	}
	cluster, err := tikv.Connect(context.Background(), nil,
		tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()), tikv.WithMiddleware(count), tikv.WithConcurrency(4))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	if cluster.EnvFor(kv.ModeRaw).Concurrency != 4 {
		t.Fatalf("concurrency = %d", cluster.EnvFor(kv.ModeRaw).Concurrency)
	}
	if err := raw.NewClient(cluster).Put(context.Background(), []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if seen != 1 {
		t.Fatalf("middleware saw %d attempts, want 1", seen)
	}
}

func TestWithSecurityChecksFiles(t *testing.T) {
	_, err := tikv.Connect(context.Background(), []string{"127.0.0.1:1"}, tikv.WithSecurity("/nonexistent/ca.pem", "", ""))
	if !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("Connect with a missing CA file = %v, want ErrInvalidArgument", err)
	}
}

// TestTLSEndToEnd connects to a mocktikv that requires mutual TLS on PD
// and every store: with WithSecurity the real PD client, the pool and the
// health checks all use it; without, Connect fails.
func TestTLSEndToEnd(t *testing.T) {
	certs, err := testcerts.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, err := certs.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	mock := mocktikv.Start(t, mocktikv.WithStores(2), mocktikv.WithTLS(serverTLS))
	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs(), tikv.WithSecurity(certs.CA, certs.ClientCert, certs.ClientKey))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	client := raw.NewClient(cluster)
	if err := client.Put(t.Context(), []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := client.Get(t.Context(), []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("Get over TLS = %q, %v", v, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if c, err := tikv.Connect(ctx, mock.PDAddrs()); err == nil {
		c.Close()
		t.Fatal("a plaintext client connected to a TLS-only PD")
	}
}

// TestEnvForHandsOutCopies: each EnvFor call returns an Env of its own, so
// one caller's change is not another's; each names its key mode, and an
// invalid mode is refused rather than defaulted.
func TestEnvForHandsOutCopies(t *testing.T) {
	mock := mocktikv.Start(t, mocktikv.WithStores(1))
	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs())
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	a, b := cluster.EnvFor(kv.ModeRaw), cluster.EnvFor(kv.ModeRaw)
	if a == b {
		t.Fatal("EnvFor returned the same *Env twice")
	}
	a.Concurrency = 99
	if b.Concurrency == 99 || cluster.EnvFor(kv.ModeRaw).Concurrency == 99 {
		t.Fatal("a change to one Env reached another")
	}
	if a.Mode != kv.ModeRaw || cluster.EnvFor(kv.ModeTxn).Mode != kv.ModeTxn {
		t.Fatalf("modes = %v, %v", a.Mode, cluster.EnvFor(kv.ModeTxn).Mode)
	}
	if a.Locator == cluster.EnvFor(kv.ModeTxn).Locator {
		t.Fatal("raw and txn environments share a region cache")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("EnvFor(0) did not panic")
		}
	}()
	cluster.EnvFor(0)
}
