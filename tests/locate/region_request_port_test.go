package locate_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
)

// More ports of client-go internal/locate/region_request_test.go.

// TestOnSendFailByResourceGroupThrottled ports client-go's
// TestOnSendFailByResourceGroupThrottled
// (internal/locate/region_request_test.go): a request the client's
// resource control refuses (its group is throttled) fails without being
// retried, and says nothing about the store: the store is not checked or
// marked for re-resolution, and the region stays cached.
func TestOnSendFailByResourceGroupThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw())
		r := h.region("key")
		next := h.env.Sender
		sends := 0
		h.env.Sender = transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			sends++
			return nil, &middleware.ResourceGroupError{Group: "g", Err: errors.New("exceeded resource group quota limitation")}
		})
		defer func() { h.env.Sender = next }()
		loads := h.pd.storeLoads.Load()
		_, err := h.rawPut(t.Context(), "key")
		var rge *middleware.ResourceGroupError
		if !errors.As(err, &rge) || rge.Group != "g" {
			t.Fatalf("%v, want the resource group refusal", err)
		}
		if sends != 1 {
			t.Fatalf("%d attempts, want 1 (no retry)", sends)
		}
		if h.live.probed(h.mock.StoreAddr(1)) != 0 || h.cache.StoreHealth(1).Liveness != pdclient.Reachable {
			t.Fatal("the store was checked after a client-side refusal")
		}
		if _, err := h.cache.Store(t.Context(), 1); err != nil || h.pd.storeLoads.Load() != loads {
			t.Fatalf("the store was marked for re-resolution (%v)", err)
		}
		if got := h.region("key"); got != r {
			t.Fatal("the region was dropped")
		}
	})
}

// TestSendReqCtx ports client-go's TestSendReqCtx
// (internal/locate/region_request_test.go): a write and then a replica
// read (client-go sets ReplicaRead on the same request) are served, each
// attempt carrying the region's routing in its kvrpcpb.Context.
func TestSendReqCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw())
		if _, err := h.rawPut(t.Context(), "key"); err != nil {
			t.Fatal(err)
		}
		ctx := pipeline.WithReadOptions(t.Context(), pipeline.ReadOptions{ReplicaRead: kv.ReplicaReadMixed})
		resp, err := pipeline.Retry(h.env, rawGetMethod)(ctx, h.region("key"), &kvrpcpb.RawGetRequest{Key: []byte("key")})
		if err != nil || string(resp.GetValue()) != "v" {
			t.Fatalf("read: %v, %v", resp, err)
		}
		r := h.region("key")
		for _, a := range h.rec.take() {
			if a.region != r.ID() || a.peer != r.Leader().GetId() || a.store != 1 {
				t.Fatalf("attempt %+v: want region %d, peer %d on store 1", a, r.ID(), r.Leader().GetId())
			}
		}
	})
}

// TestNoReloadRegionForGrpcWhenCtxCanceled ports client-go's
// TestNoReloadRegionForGrpcWhenCtxCanceled
// (internal/locate/region_request_test.go) over gRPC (mocktikv served on
// loopback, the real PD client and transport): a request whose context is
// cancelled, before it is sent or while the store holds it, returns the
// cancellation, leaves the region cached and the store reachable, and the
// next request is served.
func TestNoReloadRegionForGrpcWhenCtxCanceled(t *testing.T) {
	mock := mocktikv.Start(t, mocktikv.WithStores(1))
	rec := &recorder{}
	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs(), tikv.WithMiddleware(rec.middleware))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cache := cluster.RegionCacheFor(kv.ModeRaw)
	env := cluster.EnvFor(kv.ModeRaw)
	putMethod := pipeline.Method[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse]{Cmd: transport.CmdRawPut, Idempotent: true}
	put := func(ctx context.Context, r *pdclient.Region) error {
		_, err := pipeline.Retry(env, putMethod)(ctx, r, &kvrpcpb.RawPutRequest{Key: []byte("key"), Value: []byte("v")})
		return err
	}
	r, err := cache.Locate(t.Context(), []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	stillCached := func() {
		t.Helper()
		got, err := cache.Locate(t.Context(), []byte("key"))
		if err != nil || got != r {
			t.Fatalf("region %v, %v: the cancelled request dropped the cached region", got, err)
		}
		if l := cache.StoreHealth(1).Liveness; l != pdclient.Reachable {
			t.Fatalf("store is %v after a cancelled request", l)
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := put(ctx, r); !errors.Is(err, context.Canceled) {
		t.Fatalf("%v, want context.Canceled", err)
	}
	stillCached()

	gate := mocktikv.NewGate()
	f := mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawPut, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(gate))}})
	defer f.Remove()
	ctx, cancel = context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- put(ctx, r) }()
	<-gate.Arrived()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("%v, want context.Canceled", err)
	}
	gate.Open()
	stillCached()
	rec.take()
	if err := put(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 1 {
		t.Fatalf("path %v, want one attempt", paths(got))
	}
}

// TestBatchClientSendLoopPanic ports client-go's TestBatchClientSendLoopPanic
// (internal/locate/region_request_test.go) over gRPC, through tikvgo's
// BatchCommands client (on by default): many callers whose requests are
// cancelled at random moments (a killed query, a timeout) leave the batch
// streams working (no panic, no race under -race, no stuck goroutine for
// goleak) and later requests are all served.
func TestBatchClientSendLoopPanic(t *testing.T) {
	mock := mocktikv.Start(t, mocktikv.WithStores(1))
	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs())
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cache := cluster.RegionCacheFor(kv.ModeRaw)
	env := cluster.EnvFor(kv.ModeRaw)
	r, err := cache.Locate(t.Context(), []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(ctx context.Context) error {
		_, err := pipeline.Retry(env, rawGetMethod)(ctx, r, &kvrpcpb.RawGetRequest{Key: []byte("key")})
		return err
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			for j := range 25 {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(time.Duration((i+j)%5+1)*time.Millisecond/2, cancel)
				_ = get(ctx)
				cancel()
			}
		})
	}
	wg.Wait()
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() { errs <- get(t.Context()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("after the cancellations: %v", err)
		}
	}
}
