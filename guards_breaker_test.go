package tikv_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// guardAttempt is one attempt as the outermost user middleware saw it.
type guardAttempt struct {
	store uint64
	cmd   transport.Cmd
	err   error
}

// guardRecorder records attempts (WithMiddleware, outside the breaker)
// and backoff events (WithObserver).
type guardRecorder struct {
	mu       sync.Mutex
	attempts []guardAttempt
	backoffs []string
}

func (r *guardRecorder) middleware(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		resp, err := next.Send(ctx, req)
		r.mu.Lock()
		r.attempts = append(r.attempts, guardAttempt{req.Target.StoreID, req.Cmd, err})
		r.mu.Unlock()
		return resp, err
	})
}

func (r *guardRecorder) Start(ctx context.Context, _ observe.Call) context.Context { return ctx }
func (r *guardRecorder) End(context.Context, observe.Call, error)                  {}
func (r *guardRecorder) Event(_ context.Context, e observe.Event) {
	if e.Kind == observe.Backoff {
		r.mu.Lock()
		r.backoffs = append(r.backoffs, e.Backoff)
		r.mu.Unlock()
	}
}

func (r *guardRecorder) take() ([]guardAttempt, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, b := r.attempts, r.backoffs
	r.attempts, r.backoffs = nil, nil
	return a, b
}

// waitBreaker polls (real time: the breaker is driven by gRPC health
// checks) until store's breaker reaches want.
func waitBreaker(t *testing.T, b *middleware.CircuitBreaker, store uint64, want middleware.BreakerState) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.State(store) != want {
		if time.Now().After(deadline) {
			t.Fatalf("store %d breaker is %v after 10s, want %v", store, b.State(store), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBreakerStoppedStoreOverGRPC is issue #11's acceptance test for the
// circuit breaker, over gRPC with three stores: a stopped store opens its
// breaker (its failed sends and failed health checks count); a follower
// read then goes to a live replica at once, with no attempt at the dead
// store and no backoff; a write to the region it leads fails at once (no
// backoff) with a not-sent breaker error, never undetermined, and an
// attempt at the store is refused by the breaker without being sent; once the store is back, a
// half-open health check closes the breaker and the leader serves again.
func TestBreakerStoppedStoreOverGRPC(t *testing.T) {
	mock := mocktikv.Start(t, mocktikv.WithStores(3))
	rec := &guardRecorder{}
	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs(),
		tikv.WithCircuitBreaker(middleware.BreakerConfig{Failures: 3, OpenTimeout: time.Second}),
		tikv.WithMiddleware(rec.middleware), tikv.WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	client := raw.NewClient(cluster)
	key := []byte("k")
	if err := client.Put(t.Context(), key, []byte("v")); err != nil {
		t.Fatal(err)
	}
	region, leader := mock.RegionByKey(key)
	dead := leader.GetStoreId()
	breaker := cluster.CircuitBreaker()
	if breaker.State(dead) != middleware.BreakerClosed {
		t.Fatalf("breaker before the stop = %v", breaker.State(dead))
	}

	if err := mock.StopStore(dead); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	if _, err := client.Get(ctx, key); err == nil {
		t.Fatal("leader read from a stopped store succeeded")
	}
	cancel()
	waitBreaker(t, breaker, dead, middleware.BreakerOpen)
	// An attempt aimed at the dead store is refused at once, unsent.
	store, err := cluster.RegionCacheFor(kv.ModeRaw).Store(t.Context(), dead)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = cluster.Sender().Send(t.Context(), &transport.Request{
		Cmd:    transport.CmdRawPut,
		Msg:    &kvrpcpb.RawPutRequest{Context: &kvrpcpb.Context{RegionId: region.GetId()}, Key: key, Value: []byte("w")},
		Target: transport.Target{StoreID: dead, Addr: store.Addr, RegionID: region.GetId(), Peer: leader},
	})
	var open *middleware.BreakerOpenError
	if !errors.As(err, &open) || open.StoreID != dead || !errors.Is(err, transport.ErrNotSent) {
		t.Fatalf("write attempt at the dead store = %v, want *BreakerOpenError wrapping ErrNotSent", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("refusal took %v, want at once", d)
	}

	rec.take()

	// Reads fail over at once.
	start = time.Now()
	v, err := client.Get(t.Context(), key, raw.ReplicaRead(kv.ReplicaReadFollower))
	if err != nil || string(v) != "v" {
		t.Fatalf("follower read with the leader's store down = %q, %v", v, err)
	}
	took := time.Since(start)
	attempts, backoffs := rec.take()
	if len(backoffs) != 0 || len(attempts) != 1 || attempts[0].store == dead || attempts[0].err != nil {
		t.Fatalf("follower read: attempts %+v, backoffs %v (took %v); want one attempt at a live store, no backoff", attempts, backoffs, took)
	}

	// A write to the region the dead store leads fails fast: the
	// followers answer NotLeader, the leader's breaker refuses, so the
	// piece ends at once with a not-sent error, no backoff and never
	// undetermined (the caller may send it again).
	err = client.Put(t.Context(), key, []byte("w"))
	if !errors.Is(err, transport.ErrNotSent) || !errors.Is(err, middleware.ErrBreakerOpen) || errors.Is(err, kv.ErrUndetermined) {
		t.Fatalf("write with the leader's store down = %v, want a not-sent breaker refusal, not undetermined", err)
	}
	attempts, backoffs = rec.take()
	if len(backoffs) != 0 {
		t.Fatalf("write with the leader's store down backed off %v, want it to fail fast", backoffs)
	}
	for _, a := range attempts {
		if a.store == dead && !errors.Is(a.err, middleware.ErrBreakerOpen) {
			t.Fatalf("attempt %+v reached the dead store's transport past an open breaker", a)
		}
	}
	// The store returns: the breaker closes and the leader serves.
	if err := mock.StartStore(dead); err != nil {
		t.Fatal(err)
	}
	waitBreaker(t, breaker, dead, middleware.BreakerClosed)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec.take()
		v, err := client.Get(t.Context(), key)
		attempts, _ := rec.take()
		if err == nil && string(v) == "v" && len(attempts) > 0 && attempts[len(attempts)-1].store == dead {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leader read after the restart = %q, %v, attempts %+v: want it served by store %d", v, err, attempts, dead)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
