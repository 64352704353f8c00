package tikv_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// connectGuarded opens an in-process cluster (usable in a synctest bubble)
// with opts.
func connectGuarded(t *testing.T, mock *mocktikv.Cluster, opts ...tikv.Option) (*tikv.Cluster, *raw.Client) {
	t.Helper()
	opts = append([]tikv.Option{tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender())}, opts...)
	cluster, err := tikv.Connect(context.Background(), nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cluster, raw.NewClient(cluster)
}

// TestRateLimitPacesCallsInVirtualTime: with a client-wide limit of 10
// attempts a second (burst 1), five raw Gets after the first take 500ms;
// a Get whose deadline comes before its token fails by that deadline with
// a limiter refusal, not sent.
func TestRateLimitPacesCallsInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mock := mocktikv.NewCluster(mocktikv.WithStores(3))
		defer mock.Close()
		cluster, client := connectGuarded(t, mock, tikv.WithRateLimit(middleware.RateLimitConfig{Rate: 10, Burst: 1}))
		defer cluster.Close()
		ctx := context.Background()
		if err := client.Put(ctx, []byte("k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for range 5 {
			if _, err := client.Get(ctx, []byte("k")); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d != 500*time.Millisecond {
			t.Fatalf("5 Gets at 10/s took %v, want 500ms", d)
		}
		short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		start = time.Now()
		_, err := client.Get(short, []byte("k"))
		if !errors.Is(err, middleware.ErrLimited) || !errors.Is(err, transport.ErrNotSent) {
			t.Fatalf("Get whose token comes after its deadline = %v, want a limiter refusal, not sent", err)
		}
		if d := time.Since(start); d > 10*time.Millisecond {
			t.Fatalf("refused Get took %v, want it over by its 10ms deadline", d)
		}
	})
}

// TestStoreTokenNotHeldAcrossBackoff runs in virtual time with a limit of
// one attempt in flight per store: a Get whose first attempt fails is
// backing off before its retry; meanwhile another Get to the same store
// is served at once, because the failed attempt gave its token back when
// it returned.
func TestStoreTokenNotHeldAcrossBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mock := mocktikv.NewCluster(mocktikv.WithStores(3))
		defer mock.Close()
		rec := &guardRecorder{}
		cluster, client := connectGuarded(t, mock, tikv.WithStoreTokenLimit(1), tikv.WithObserver(rec))
		defer cluster.Close()
		ctx := context.Background()
		key := []byte("k")
		if err := client.Put(ctx, key, []byte("v")); err != nil {
			t.Fatal(err)
		}
		fault := mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawGet, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.Fail(status.Error(codes.Unavailable, "injected"))),
		}})
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			_, err := client.Get(ctx, key)
			done <- err
		}()
		synctest.Wait() // the first Get is now asleep in its backoff
		select {
		case err := <-done:
			t.Fatalf("first Get returned %v before its retry", err)
		default:
		}
		if fault.Hits() != 1 {
			t.Fatalf("fault hit %d times, want the first Get's first attempt", fault.Hits())
		}
		if v, err := client.Get(ctx, key); err != nil || string(v) != "v" {
			t.Fatalf("second Get = %q, %v", v, err)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("second Get finished after %v, want at once (no token held by the backing-off Get)", d)
		}
		if err := <-done; err != nil {
			t.Fatalf("first Get after its retry = %v", err)
		}
		if _, backoffs := rec.take(); len(backoffs) != 1 || time.Since(start) == 0 {
			t.Fatalf("first Get: backoffs %v after %v, want one backoff before its retry", backoffs, time.Since(start))
		}
	})
}
