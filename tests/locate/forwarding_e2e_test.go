package locate_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// fwdRecorder records the target of every attempt.
type fwdRecorder struct {
	mu  sync.Mutex
	got []transport.Target
	err []error
}

func (r *fwdRecorder) middleware(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		resp, err := next.Send(ctx, req)
		r.mu.Lock()
		r.got, r.err = append(r.got, req.Target), append(r.err, err)
		r.mu.Unlock()
		return resp, err
	})
}

func (r *fwdRecorder) take() ([]transport.Target, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, e := r.got, r.err
	r.got, r.err = nil, nil
	return g, e
}

// newForwardingClient connects a raw client to a three-store mocktikv
// cluster, over gRPC or in process, with the client's own health checks
// (the Pool's, or the in-process Sender's) and forwarding as asked.
func newForwardingClient(t *testing.T, grpc, forwarding bool) (*mocktikv.Cluster, *tikv.Cluster, *raw.Client, *fwdRecorder) {
	t.Helper()
	mock := mocktikv.NewCluster(mocktikv.WithStores(3))
	rec := &fwdRecorder{}
	opts := []tikv.Option{tikv.WithForwarding(forwarding), tikv.WithMiddleware(rec.middleware)}
	var cluster *tikv.Cluster
	var err error
	if grpc {
		if err := mock.Serve(); err != nil {
			t.Fatal(err)
		}
		cluster, err = tikv.Connect(t.Context(), mock.PDAddrs(), opts...)
	} else {
		cluster, err = tikv.Connect(t.Context(), nil, append(opts, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))...)
	}
	if err != nil {
		mock.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cluster.Close()
		mock.Close()
	})
	return mock, cluster, raw.NewClient(cluster), rec
}

// waitReachable waits (in real time: the gRPC path cannot run in a bubble)
// for the client's background health check to find the store serving.
func waitReachable(t *testing.T, cluster *tikv.Cluster, id uint64) {
	t.Helper()
	cache := cluster.RegionCacheFor(kv.ModeRaw)
	deadline := time.Now().Add(15 * time.Second)
	for cache.StoreHealth(id).Liveness != pdclient.Reachable {
		if time.Now().After(deadline) {
			t.Fatalf("store %d not reachable again after 15s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestForwarding ports client-go's TestForwarding
// (internal/locate/region_request3_test.go), end to end and over both
// transports, with mocktikv doing the forwarding that client-go's test
// fakes in its client: the leader's store is cut off from the client only
// (PartitionClient), a RawGet reaches it through a follower carrying
// tikv-forwarded-host, a RawPut and a RawGet go through the same proxy at
// once;
// once the cut heals and the health check sees the leader again, requests
// go to it directly; when the leader's store then dies and another store
// takes over leadership, the forwarded attempts fail, every proxy is used
// up, the region is reloaded from PD and the read is served by the new
// leader directly.
func TestForwarding(t *testing.T) {
	bothTransports(t, func(t *testing.T, grpc bool) {
		mock, cluster, client, rec := newForwardingClient(t, grpc, true)
		ctx := t.Context()
		key := []byte("k")
		if err := client.Put(ctx, key, []byte("v0")); err != nil {
			t.Fatal(err)
		}
		leaderAddr := mock.StoreAddr(1)
		rec.take()

		if err := mock.PartitionClient(1); err != nil {
			t.Fatal(err)
		}
		// A read first: over gRPC the client may still write to the
		// connection the cut closed, which leaves a write's outcome unknown
		// (a read is simply retried).
		if v, err := client.Get(ctx, key); err != nil || string(v) != "v0" {
			t.Fatalf("Get = %q, %v; want v0", v, err)
		}
		got, errs := rec.take()
		last := got[len(got)-1]
		if last.StoreID != 1 || last.ForwardedHost != leaderAddr || last.ProxyStoreID == 0 ||
			last.ProxyStoreID == 1 || last.Addr != mock.StoreAddr(last.ProxyStoreID) || errs[len(errs)-1] != nil {
			t.Fatalf("last attempt %+v (err %v), want store 1 through a follower forwarding to %s", last, errs[len(errs)-1], leaderAddr)
		}
		proxy := last.ProxyStoreID
		if err := client.Put(ctx, key, []byte("v1")); err != nil {
			t.Fatal(err)
		}
		got, _ = rec.take()
		if len(got) != 1 || got[0].ProxyStoreID != proxy || got[0].ForwardedHost != leaderAddr {
			t.Fatalf("Put attempts %+v, want one, through the remembered proxy %d", got, proxy)
		}
		v, err := client.Get(ctx, key)
		if err != nil || string(v) != "v1" {
			t.Fatalf("Get = %q, %v; want v1", v, err)
		}
		got, _ = rec.take()
		if len(got) != 1 || got[0].ProxyStoreID != proxy || got[0].ForwardedHost != leaderAddr {
			t.Fatalf("Get attempts %+v, want one, through the remembered proxy %d", got, proxy)
		}

		// Recovery: the leader is reached directly again.
		if err := mock.HealClient(1); err != nil {
			t.Fatal(err)
		}
		waitReachable(t, cluster, 1)
		if v, err := client.Get(ctx, key); err != nil || string(v) != "v1" {
			t.Fatalf("Get = %q, %v; want v1", v, err)
		}
		got, _ = rec.take()
		if len(got) != 1 || got[0].StoreID != 1 || got[0].ForwardedHost != "" || got[0].Addr != leaderAddr {
			t.Fatalf("attempts after recovery %+v, want one, directly to store 1", got)
		}

		// The leader's store dies and store 2 takes over.
		if err := mock.StopStore(1); err != nil {
			t.Fatal(err)
		}
		meta, _ := mock.RegionByKey(key)
		if err := mock.TransferLeader(meta.GetId(), 2); err != nil {
			t.Fatal(err)
		}
		if v, err := client.Get(ctx, key); err != nil || string(v) != "v1" {
			t.Fatalf("Get = %q, %v; want v1", v, err)
		}
		got, _ = rec.take()
		proxied := map[uint64]bool{}
		for _, g := range got[:len(got)-1] {
			if g.ForwardedHost != "" {
				proxied[g.ProxyStoreID] = true
			}
		}
		if fin := got[len(got)-1]; fin.StoreID != 2 || fin.ForwardedHost != "" || !proxied[2] || !proxied[3] {
			t.Fatalf("attempts %+v, want both followers tried as proxies, then store 2 directly", got)
		}
	})
}

// TestForwardingOff: with forwarding off (the default) a client cut off
// from the leader's store never sends through a proxy; a read fails over to
// the followers, which cannot serve a leader read, and the call ends with
// the error it ended with before forwarding existed, not with success.
func TestForwardingOff(t *testing.T) {
	bothTransports(t, func(t *testing.T, grpc bool) {
		mock, _, client, rec := newForwardingClient(t, grpc, false)
		key := []byte("k")
		if err := client.Put(t.Context(), key, []byte("v0")); err != nil {
			t.Fatal(err)
		}
		if err := mock.PartitionClient(1); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		_, err := client.Get(ctx, key)
		if err == nil || errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("Get = %v, want a failure: the leader is unreachable and forwarding is off", err)
		}
		got, _ := rec.take()
		followers := 0
		for _, g := range got {
			if g.ForwardedHost != "" || g.ProxyStoreID != 0 {
				t.Fatalf("attempt %+v forwarded with forwarding off", g)
			}
			if g.StoreID != 1 {
				followers++
			}
		}
		if followers == 0 {
			t.Fatalf("attempts %v: the followers were never asked", fmt.Sprint(got))
		}
	})
}

// bothTransports runs f in-process and over gRPC, as subtests.
func bothTransports(t *testing.T, f func(t *testing.T, grpc bool)) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) { f(t, grpc) })
	}
}
