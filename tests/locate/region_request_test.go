package locate_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// Ports of client-go internal/locate/region_request_test.go
// (testRegionRequestToSingleStoreSuite): the request sender on a one-store
// cluster.

// rawPut dispatches a raw put of key to its region.
func (h *harness) rawPut(ctx context.Context, key string) (*kvrpcpb.RawPutResponse, error) {
	m := pipeline.Method[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse]{Cmd: transport.CmdRawPut, Idempotent: true}
	return pipeline.Retry(h.env, m)(ctx, h.region(key), &kvrpcpb.RawPutRequest{Key: []byte(key), Value: []byte("v")})
}

// TestOnRegionErrorStaleCommand ports client-go's TestOnRegionError
// (internal/locate/region_request_test.go): a store that keeps answering
// StaleCommand is retried without waiting, and the request ends with a region
// error instead of looping (tikvgo: the leader's attempt limit, then "no
// replica").
func TestOnRegionErrorStaleCommand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw())
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawPut, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.RegionError(
			&errorpb.Error{Message: "stale command", StaleCommand: &errorpb.StaleCommand{}}))}})
		_, err := h.rawPut(t.Context(), "key")
		if k := errKind(err); k != "noReplica" {
			t.Fatalf("outcome %v (%s), want a region error after the attempts ran out", err, k)
		}
		if n := len(h.rec.take()); n != 10 {
			t.Fatalf("%d attempts, want the leader's limit of 10", n)
		}
	})
}

// TestOnSendFailedWithStoreRestart ports client-go's
// TestOnSendFailedWithStoreRestart (internal/locate/region_request_test.go):
// while the only store is stopped the request fails (after backing off); once
// it is back the same client succeeds.
func TestOnSendFailedWithStoreRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw(), withBudget(2*time.Second))
		if _, err := h.rawPut(t.Context(), "key"); err != nil {
			t.Fatal(err)
		}
		h.stop(1)
		_, err := h.rawPut(t.Context(), "key")
		if err == nil || !errors.Is(err, transport.ErrNotSent) {
			t.Fatalf("put to the stopped store: %v, want a send failure", err)
		}
		h.start(1)
		// The background health check finds the store again.
		time.Sleep(2 * time.Second)
		if l := h.cache.StoreHealth(1).Liveness; l != pdclient.Reachable {
			t.Fatalf("store is %v after restart", l)
		}
		if _, err := h.rawPut(t.Context(), "key"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestOnSendFailedWithCloseKnownStoreThenUseNewOne ports client-go's
// TestOnSendFailedWithCloseKnownStoreThenUseNewOne
// (internal/locate/region_request_test.go): a second store takes the
// leadership and is stopped, the leadership goes back: the request reaches
// the old leader again without a region error.
func TestOnSendFailedWithCloseKnownStoreThenUseNewOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw())
		id2, err := h.mock.AddStore()
		if err != nil {
			t.Fatal(err)
		}
		rid := h.regionID("key")
		if err := h.mock.AddPeer(rid, id2); err != nil {
			t.Fatal(err)
		}
		if err := h.mock.TransferLeader(rid, id2); err != nil {
			t.Fatal(err)
		}
		client := raw.NewClient(h.cluster)
		if err := client.Put(t.Context(), []byte("key"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		h.stop(id2)
		if err := h.mock.TransferLeader(rid, 1); err != nil {
			t.Fatal(err)
		}
		if err := client.Put(t.Context(), []byte("key"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		if got := h.rec.take(); got[len(got)-1].store != 1 {
			t.Fatalf("path %v: want the old leader to serve", paths(got))
		}
	})
}

// TestNoReloadRegionWhenCtxCanceled ports client-go's
// TestOnSendFailedWithCancelled and TestNoReloadRegionWhenCtxCanceled
// (internal/locate/region_request_test.go): a request whose context is
// cancelled returns the cancellation and leaves the region cached.
func TestNoReloadRegionWhenCtxCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw())
		h.region("key")
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := h.rawPut(ctx, "key")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%v, want context.Canceled", err)
		}
		if !h.cached("key") {
			t.Fatal("a cancelled request dropped the region")
		}
		// Cancelled while the store holds the request.
		gate := mocktikv.NewGate()
		f := h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawPut, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(gate))}})
		defer f.Remove()
		ctx, cancel = context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := h.rawPut(ctx, "key")
			done <- err
		}()
		<-gate.Arrived()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("%v, want context.Canceled", err)
		}
		if !h.cached("key") || h.live.probed(h.mock.StoreAddr(1)) != 0 {
			t.Fatal("a cancelled request dropped the region or probed the store")
		}
		if _, err := h.rawPut(t.Context(), "key"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestOnMaxTimestampNotSyncedError ports client-go's
// TestOnMaxTimestampNotSyncedError (internal/locate/region_request_test.go):
// MaxTimestampNotSynced is retried after a maxTsNotSynced backoff until the
// store is ready.
func TestOnMaxTimestampNotSyncedError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1))
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Steps: []mocktikv.Step{mocktikv.Times(2, mocktikv.RegionError(
			&errorpb.Error{Message: "max ts not synced", MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}}))}})
		start := time.Now()
		if _, err := h.prewrite(t.Context(), "key"); err != nil {
			t.Fatal(err)
		}
		if n := len(h.rec.take()); n != 3 {
			t.Fatalf("%d attempts, want 3", n)
		}
		lo, hi := backoffRange([]string{"maxTsNotSynced", "maxTsNotSynced"})
		if d := time.Since(start); d < lo || d > hi {
			t.Fatalf("slept %v, want [%v, %v]", d, lo, hi)
		}
	})
}

// TestGetRegionByIDFromCache ports client-go's TestGetRegionByIDFromCache
// (internal/locate/region_request_test.go): EpochNotMatch without current
// regions drops the region; the next lookup by id asks PD again and gets it
// back.
func TestGetRegionByIDFromCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1))
		r := h.region("key")
		if retry := h.cache.OnEpochNotMatch(r, 1, nil); retry {
			t.Fatal("no current regions: not a lagging replica")
		}
		before := h.pd.regionLoads.Load()
		got, err := h.cache.LocateByID(t.Context(), r.ID())
		if err != nil || got.Ver() != r.Ver() {
			t.Fatalf("locate by id: %v, %v", got, err)
		}
		if h.pd.regionLoads.Load() == before {
			t.Fatal("the invalidated region was served from the cache")
		}
	})
}

// TestCloseConnectionOnStoreNotMatch ports client-go's
// TestCloseConnectionOnStoreNotMatch
// (internal/locate/region_request_test.go): StoreNotMatch returns a region
// error, invalidates the region and makes the store's address be resolved
// again. (Closing the connection is the pool's part; the in-process transport
// has none.)
func TestCloseConnectionOnStoreNotMatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1))
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.RegionError(
			&errorpb.Error{Message: "store not match", StoreNotMatch: &errorpb.StoreNotMatch{}}))}})
		_, err := h.get(t.Context(), "key")
		if k := errKind(err); k != "region:StoreNotMatch" {
			t.Fatalf("%v (%s), want StoreNotMatch", err, k)
		}
		if h.cached("key") {
			t.Fatal("region still cached")
		}
		before := h.pd.storeLoads.Load()
		if _, err := h.cache.Store(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		if h.pd.storeLoads.Load() == before {
			t.Fatal("the store was not resolved again")
		}
	})
}

// TestKVReadTimeout ports client-go's TestKVReadTimeoutWithDisableBatchClient
// (internal/locate/region_request_test.go), in-process: a read whose short
// timeout expires on the only replica gives the "no replica" error at once;
// the caller's budget decides what happens next.
func TestKVReadTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withReadTimeout(time.Millisecond))
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Fail(context.DeadlineExceeded))}})
		start := time.Now()
		_, err := h.get(t.Context(), "key")
		if k := errKind(err); k != "noReplica" || time.Since(start) != 0 {
			t.Fatalf("%v (%s) after %v", err, k, time.Since(start))
		}
		if !h.cached("key") {
			t.Fatal("a timeout under a short read timeout must not invalidate the region")
		}
	})
}

// TestClusterIDInReq ports client-go's TestClusterIDInReq
// (internal/locate/region_request_test.go): mocktikv checks the request's
// cluster id; a request naming another cluster fails as a whole.
func TestClusterIDInReq(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1))
		m := pipeline.Method[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse]{Cmd: transport.CmdGet, Read: true, Idempotent: true}
		_, err := pipeline.Retry(h.env, m)(t.Context(), h.region("key"),
			&kvrpcpb.GetRequest{Key: []byte("key"), Version: 1, Context: &kvrpcpb.Context{ClusterId: h.mock.ClusterID() + 1}})
		if err == nil {
			t.Fatal("a request for another cluster was served")
		}
		if _, err := pipeline.Retry(h.env, m)(t.Context(), h.region("key"),
			&kvrpcpb.GetRequest{Key: []byte("key"), Version: 1, Context: &kvrpcpb.Context{ClusterId: h.mock.ClusterID()}}); err != nil {
			t.Fatal(err)
		}
	})
}
