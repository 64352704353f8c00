package locate_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/raw"
)

// Ports of client-go internal/locate/region_cache_test.go
// (testRegionCacheSuite, testRegionCacheWithDelaySuite) for tikvgo's
// RegionCache. Most use a cache of their own over mocktikv's in-process PD
// in raw key mode (keys as stored), so cache options (TTL, page size) can be
// set; the PD is wrapped to count lookups.

// newCache returns a raw-mode cache over h's counting PD.
func newCache(t *testing.T, h *harness, opts ...pdclient.CacheOption) *pdclient.RegionCache {
	c := pdclient.NewRegionCache(h.pd, append([]pdclient.CacheOption{pdclient.WithProber(h.live.probe)}, opts...)...)
	t.Cleanup(c.Close)
	return c
}

func locate(t *testing.T, c *pdclient.RegionCache, key string) *pdclient.Region {
	t.Helper()
	r, err := c.Locate(context.Background(), []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSimple ports client-go's TestSimple
// (internal/locate/region_cache_test.go): a located region comes from PD
// once, then from memory; its leader is PD's.
func TestSimple(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(2), withRaw())
		c := newCache(t, h)
		r := locate(t, c, "a")
		if r.Leader().GetStoreId() != 1 || len(r.Peers()) != 2 {
			t.Fatalf("region %v", r)
		}
		before := h.pd.regionLoads.Load()
		if locate(t, c, "z") != r || h.pd.regionLoads.Load() != before {
			t.Fatal("a cached key asked PD again")
		}
	})
}

// TestLocateEndKey covers the end-key lookups (getRegionWithEndKey) that
// client-go's TestUpdateLeader and TestSplit make
// (internal/locate/region_cache_test.go); Contains / ContainsByEnd are
// TestContains.
func TestLocateEndKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw(), withMock(mocktikv.WithSplitKeys([]byte("m"))))
		c := newCache(t, h)
		left, right := locate(t, c, "a"), locate(t, c, "m")
		for key, want := range map[string]*pdclient.Region{"m": left, "b": left, "n": right, "": right} {
			r, err := c.LocateEndKey(t.Context(), []byte(key))
			if err != nil || r.ID() != want.ID() {
				t.Errorf("LocateEndKey(%q) = %v, %v, want region %d", key, r, err, want.ID())
			}
		}
		if !right.Contains([]byte("m")) || left.Contains([]byte("m")) || !left.ContainsByEnd([]byte("m")) {
			t.Error("Contains / ContainsByEnd disagree with [start, end)")
		}
	})
}

// TestTombstoneStore ports client-go's TestResolveStateTransition
// (internal/locate/region_cache_test.go) and the leader-on-a-tombstone part
// of TestFilterDownPeersOrPeersOnTombstoneOrDroppedStores: a store that
// became a tombstone is reported as such once re-resolved, and a request to a
// region led there re-routes.
func TestTombstoneStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw())
		if err := h.mock.TombstoneStore(1); err != nil {
			t.Fatal(err)
		}
		// Still cached as Up until a failure says otherwise.
		if _, err := h.cache.Store(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		h.cache.OnStoreFailure(1)
		if _, err := h.cache.Store(t.Context(), 1); !errors.Is(err, pdclient.ErrStoreTombstone) {
			t.Fatalf("%v, want ErrStoreTombstone", err)
		}
		_, err := h.rawPut(t.Context(), "key")
		if k := errKind(err); k != "noReplica" {
			t.Fatalf("%v (%s), want the region handed back", err, k)
		}
		if h.cached("key") {
			t.Fatal("a region led on a tombstone must be dropped")
		}
	})
}

// TestReturnRegionWithNoLeader ports client-go's TestReturnRegionWithNoLeader
// and TestSwitchPeerWhenNoLeader (internal/locate/region_cache_test.go): a
// region without leader is still returned; a leader read walks the peers
// (NotLeader without hint, regionScheduling backoff) and is handed back when
// none leads.
func TestReturnRegionWithNoLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(2), withRaw())
		if err := h.mock.RemoveLeader(h.regionID("key")); err != nil {
			t.Fatal(err)
		}
		c := newCache(t, h)
		if r := locate(t, c, "key"); r.Leader() != nil {
			t.Fatalf("region %v: want no leader", r)
		}
		h.cache.Invalidate(h.region("key"))
		_, err := h.rawPut(t.Context(), "key")
		if k := errKind(err); k != "noReplica" {
			t.Fatalf("%v (%s), want no replica", err, k)
		}
		for _, a := range h.rec.take() {
			if a.regionErr != "NotLeader" {
				t.Fatalf("attempt %v answered %s", a, a.regionErr)
			}
		}
	})
}

// TestNeedExpireRegionAfterTTL ports client-go's TestNeedExpireRegionAfterTTL
// (internal/locate/region_cache_test.go): a region not accessed for its TTL
// is loaded again; accessing it extends its life.
func TestNeedExpireRegionAfterTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw())
		c := newCache(t, h, pdclient.WithCacheTTL(10*time.Second), pdclient.WithCacheTTLJitter(0))
		locate(t, c, "k")
		loads := func() int64 { return h.pd.regionLoads.Load() }
		n := loads()
		for range 5 {
			time.Sleep(6 * time.Second)
			locate(t, c, "k")
		}
		if loads() != n {
			t.Fatal("a region accessed within its TTL expired")
		}
		time.Sleep(11 * time.Second)
		locate(t, c, "k")
		if loads() != n+1 {
			t.Fatal("a region idle past its TTL was not reloaded")
		}
	})
}

// TestUpdateLeader ports client-go's TestUpdateLeader, TestUpdateLeader2 and
// TestUpdateLeader3 (internal/locate/region_cache_test.go): a hint naming one
// of the region's peers switches the leader; a hint on a store the region has
// no peer on drops the region.
func TestUpdateLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(2), withRaw())
		c := newCache(t, h)
		r := locate(t, c, "k")
		nr := c.UpdateLeader(r, &metapb.Peer{StoreId: 2})
		if nr == nil || nr.Leader().GetStoreId() != 2 || locate(t, c, "k").Leader().GetStoreId() != 2 {
			t.Fatalf("leader not switched: %v", nr)
		}
		id3, err := h.mock.AddStore()
		if err != nil {
			t.Fatal(err)
		}
		before := h.pd.regionLoads.Load()
		if c.UpdateLeader(nr, &metapb.Peer{StoreId: id3}) != nil {
			t.Fatal("a leader on a store without a peer of the region was accepted")
		}
		locate(t, c, "k")
		if h.pd.regionLoads.Load() != before+1 {
			t.Fatal("the region was not dropped")
		}
	})
}

// TestSplitMerge ports client-go's TestSplit and TestMerge
// (internal/locate/region_cache_test.go): after a split the cached region's
// epoch is stale; TiKV's EpochNotMatch carries the new regions, which replace
// it; after a merge the surviving region covers both.
func TestSplitMerge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw())
		client := raw.NewClient(h.cluster)
		ctx := t.Context()
		for _, k := range []string{"a", "z"} {
			if err := client.Put(ctx, []byte(k), []byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		old := h.region("a")
		left, err := h.mock.Split([]byte("m"))
		if err != nil {
			t.Fatal(err)
		}
		loads := h.pd.regionLoads.Load()
		if v, err := client.Get(ctx, []byte("a")); err != nil || string(v) != "a" {
			t.Fatalf("get after split: %q, %v", v, err)
		}
		if h.region("a").ID() != left || h.region("z").ID() != old.ID() || h.pd.regionLoads.Load() != loads {
			t.Fatalf("after split: %v, %v (PD loads %d): want both halves learnt from EpochNotMatch",
				h.region("a"), h.region("z"), h.pd.regionLoads.Load()-loads)
		}
		if err := h.mock.Merge(left, old.ID()); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"a", "z"} {
			if v, err := client.Get(ctx, []byte(k)); err != nil || string(v) != k {
				t.Fatalf("get %s after merge: %q, %v", k, v, err)
			}
		}
		if h.region("a").ID() != old.ID() || h.region("z").ID() != old.ID() {
			t.Fatalf("after merge: %v / %v, want the merged region for both", h.region("a"), h.region("z"))
		}
	})
}

// TestRegionEpochAheadOfTiKV ports client-go's TestRegionEpochAheadOfTiKV
// (internal/locate/region_cache_test.go): when TiKV reports the region with
// an older epoch than the cached one, the request is retried as is and the
// cache is left alone.
func TestRegionEpochAheadOfTiKV(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw())
		c := newCache(t, h)
		r := locate(t, c, "k")
		older := *r.Meta()
		older.RegionEpoch = &metapb.RegionEpoch{ConfVer: r.Epoch().GetConfVer(), Version: r.Epoch().GetVersion() - 1}
		if !c.OnEpochNotMatch(r, 1, []*metapb.Region{&older}) {
			t.Fatal("an older epoch from TiKV must mean retry")
		}
		if locate(t, c, "k") != r {
			t.Fatal("the cache changed")
		}
	})
}

// TestScanRegions ports client-go's TestScanRegions and TestBatchLoadRegions
// (internal/locate/region_cache_test.go): a range is loaded page by page with
// BatchScanRegions and then served from memory.
func TestScanRegions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var splits []mocktikv.Option
		for i := 1; i < 25; i++ {
			splits = append(splits, mocktikv.WithSplitKeys([]byte(fmt.Sprintf("k%02d", i))))
		}
		h := newHarness(t, withStores(1), withRaw(), withMock(splits...))
		c := newCache(t, h, pdclient.WithScanPageSize(10))
		rs, err := c.LoadRange(t.Context(), nil, nil, 0)
		if err != nil || len(rs) != 25 {
			t.Fatalf("%d regions, %v", len(rs), err)
		}
		if n := h.pd.scans.Load(); n != 3 {
			t.Fatalf("%d BatchScanRegions calls, want 3 pages of 10", n)
		}
		rs, err = c.LoadRange(t.Context(), []byte("k05"), []byte("k08"), 0)
		if err != nil || len(rs) != 3 || h.pd.scans.Load() != 3 {
			t.Fatalf("cached range: %d regions, %v, %d scans", len(rs), err, h.pd.scans.Load())
		}
		rs, err = c.LoadRange(t.Context(), []byte("k05"), nil, 2)
		if err != nil || len(rs) != 2 {
			t.Fatalf("limit 2: %d regions, %v", len(rs), err)
		}
	})
}

// TestBuckets ports client-go's TestBuckets
// (internal/locate/region_cache_test.go): PD's buckets come with the region;
// newer buckets from BucketVersionNotMatch replace them, older ones do not.
func TestBuckets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw())
		if err := h.mock.SetBuckets(h.regionID("k"), [][]byte{[]byte("c"), []byte("m")}, 3); err != nil {
			t.Fatal(err)
		}
		c := newCache(t, h)
		r := locate(t, c, "k")
		if r.BucketVersion() != 3 || len(r.Buckets().GetKeys()) != 4 {
			t.Fatalf("buckets %v", r.Buckets())
		}
		c.UpdateBuckets(r, &metapb.Buckets{RegionId: r.ID(), Version: 2, Keys: [][]byte{{}, []byte("x"), {}}})
		if locate(t, c, "k").BucketVersion() != 3 {
			t.Fatal("older buckets replaced newer ones")
		}
		c.UpdateBuckets(r, &metapb.Buckets{RegionId: r.ID(), Version: 4, Keys: [][]byte{{}, []byte("x"), {}}})
		if b := locate(t, c, "k").Buckets(); b.GetVersion() != 4 || len(b.GetKeys()) != 3 {
			t.Fatalf("buckets %v, want version 4", b)
		}
	})
}

// TestPDLeaderOnlyRetry ports client-go's TestLoadRegionsWithLeader
// (internal/locate/region_cache_test.go), whose mustLeader failpoint makes
// the retried load go to PD's leader: a region lookup that PD fails is
// retried against PD's leader only.
func TestPDLeaderOnlyRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw())
		c := newCache(t, h)
		h.mock.FailPD("QueryRegion", errors.New("test: PD follower lagging"), 1)
		locate(t, c, "k")
		if n := h.pd.leaderOnly.Load(); n != 1 {
			t.Fatalf("%d leader-only retries, want 1", n)
		}
	})
}

// TestStaleGetRegion ports client-go's TestInsertStaleRegion,
// TestStaleGetRegion and TestFollowerGetStaleRegion
// (internal/locate/region_cache_test.go, testRegionCacheWithDelaySuite): a
// slow PD answer that is older than what the cache learnt from TiKV in the
// meantime does not replace it.
func TestStaleGetRegion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw())
		c := newCache(t, h)
		h.mock.DelayPD("QueryRegion", time.Second)
		done := make(chan *pdclient.Region, 1)
		go func() {
			r, _ := c.Locate(context.Background(), []byte("a"))
			done <- r
		}()
		synctest.Wait()
		// Meanwhile the region splits and the client learns the halves
		// from an EpochNotMatch.
		rid := h.regionID("a")
		if _, err := h.mock.Split([]byte("m")); err != nil {
			t.Fatal(err)
		}
		h.mock.DelayPD("QueryRegion", 0)
		current := h.mock.Regions()
		old, _ := h.mock.RegionByID(rid)
		pre := pdclient.NewRegion(&metapb.Region{Id: rid, RegionEpoch: &metapb.RegionEpoch{ConfVer: old.RegionEpoch.ConfVer, Version: 1},
			Peers: old.Peers}, nil)
		c.OnEpochNotMatch(pre, 1, current)
		got := <-done
		if got == nil {
			t.Fatal("the slow lookup failed")
		}
		if r := locate(t, c, "a"); r.Ver().Version != 2 {
			t.Fatalf("cached %v: the stale PD answer replaced the newer region", r)
		}
	})
}

// TestHealthCheckWithAddressChange ports client-go's
// TestHealthCheckWithAddressChange (internal/locate/region_cache_test.go): a
// store found unreachable that comes back at another address is re-resolved
// by the background check and becomes reachable.
func TestHealthCheckWithAddressChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(2), withRaw())
		old := h.mock.StoreAddr(2)
		h.live.set(old, true)
		if l := h.cache.ReportSendFailure(t.Context(), 2, errors.New("test: down")); l != pdclient.Unreachable {
			t.Fatalf("liveness %v", l)
		}
		if err := h.mock.SetStoreAddress(2, "store2-moved"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if l := h.cache.StoreHealth(2).Liveness; l != pdclient.Reachable {
			t.Fatalf("liveness %v after the address change", l)
		}
		s, err := h.cache.Store(t.Context(), 2)
		if err != nil || s.Addr != "store2-moved" {
			t.Fatalf("store %v, %v", s, err)
		}
		if h.live.probed("store2-moved") == 0 {
			t.Fatal("the new address was never checked")
		}
	})
}

// TestStoreRestartWithNewLabels ports client-go's
// TestStoreRestartWithNewLabels and TestIssue1401
// (internal/locate/region_cache_test.go): labels changed while the store was
// away are picked up when it is re-resolved after a failure.
func TestStoreRestartWithNewLabels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(2), withRaw(), withIDLabels())
		if err := h.mock.SetStoreLabels(2, map[string]string{"zone": "z9"}); err != nil {
			t.Fatal(err)
		}
		if l := h.cache.StoreLabels(2); len(l) != 1 || l[0].GetKey() != "id" {
			t.Fatalf("labels %v before the restart", l)
		}
		h.stop(2)
		h.cache.ReportSendFailure(t.Context(), 2, errors.New("test: down"))
		h.start(2)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if l := h.cache.StoreLabels(2); len(l) != 1 || l[0].GetKey() != "zone" || l[0].GetValue() != "z9" {
			t.Fatalf("labels %v after the restart", l)
		}
	})
}
