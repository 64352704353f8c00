package pdclient

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// White-box ports of client-go internal/locate/region_cache_test.go cases
// about the cache's own bookkeeping (what it holds, how store health is
// combined).

// TestPortBackgroundCacheGC ports client-go's TestBackgroundCacheGC
// (internal/locate/region_cache_test.go): the background collection drops
// exactly the regions whose TTL passed, round after round, and keeps the
// ones still in use.
func TestPortBackgroundCacheGC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		const n = 30
		metas := make([]*metapb.Region, 0, n)
		for i := range n {
			start, end := fmt.Sprintf("k%02d", i), fmt.Sprintf("k%02d", i+1)
			if i == 0 {
				start = ""
			}
			if i == n-1 {
				end = ""
			}
			metas = append(metas, region(uint64(i+1), start, end, 1, 1, 1))
		}
		pd := newFakePD(metas...)
		c := NewRegionCache(pd, WithCacheTTL(10*time.Second), WithCacheTTLJitter(0), WithGCInterval(time.Second))
		defer c.Close()
		_, err := c.LoadRange(ctx, nil, nil, 0)
		must.NoError(t, err)
		must.Len(t, cachedIDs(t, c), n)

		// Keep every region but those with id%3 == 0 in use for 12s: the
		// TTL of the others passes and the next GC round drops them.
		touch := func(keep func(id uint64) bool) {
			for i := range n {
				if keep(uint64(i + 1)) {
					_, err := c.Locate(ctx, []byte(fmt.Sprintf("k%02d", i)))
					must.NoError(t, err)
				}
			}
		}
		for range 4 {
			time.Sleep(3 * time.Second)
			touch(func(id uint64) bool { return id%3 != 0 })
		}
		synctest.Wait()
		got := cachedIDs(t, c)
		must.Len(t, got, n-n/3)
		for _, id := range got {
			must.True(t, id%3 != 0, "expired region %d kept", id)
		}

		// Then those with id%3 == 1 go idle too.
		for range 4 {
			time.Sleep(3 * time.Second)
			touch(func(id uint64) bool { return id%3 == 2 })
		}
		synctest.Wait()
		got = cachedIDs(t, c)
		must.Len(t, got, n/3)
		for _, id := range got {
			must.Equal(t, uint64(2), id%3)
		}
	})
}

// TestPortStoreHealthStatus ports client-go's TestStoreHealthStatus
// (internal/locate/region_cache_test.go): a store is slow while either its
// client-side slow score or its TiKV-side score (health feedback) says so,
// and each score is reported apart.
func TestPortStoreHealthStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := feedbackCache(t)
		must.False(t, c.StoreHealth(1).Slow())

		c.ReportLatency(1, 31*time.Second) // client side: slow at once
		h := c.StoreHealth(1)
		must.True(t, h.Slow())
		must.True(t, h.SlowScore >= SlowScoreThreshold, "client-side score %d", h.SlowScore)

		c.RecordHealthFeedback(1, 100) // TiKV side: slow too
		must.Equal(t, 100, c.StoreHealth(1).ServerSlowScore)

		// The client-side score decays; TiKV's, refreshed, keeps the store slow.
		for c.StoreHealth(1).SlowScore >= SlowScoreThreshold {
			time.Sleep(time.Second)
			c.RecordHealthFeedback(1, 100)
		}
		must.True(t, c.StoreHealth(1).Slow(), "TiKV still reports the store slow")

		time.Sleep(feedbackMinInterval)
		c.RecordHealthFeedback(1, 1)
		h = c.StoreHealth(1)
		must.False(t, h.Slow())
		must.Equal(t, 1, h.ServerSlowScore)
	})
}

// TestPortRegionCacheStartNonEmpty ports client-go's
// TestRegionCacheStartNonEmpty and the cache-scan part of TestRefreshCache
// (internal/locate/region_cache_test.go): when the cache's first region
// starts after the range's start, the cache does not answer the range by
// itself: the uncovered head is loaded from PD. And a newer region that
// overlaps a cached one replaces it, so a range is never answered with
// both.
func TestPortRegionCacheStartNonEmpty(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD(threeRegions()...)
	c := newTestCache(t, pd)
	_, err := c.Locate(ctx, []byte("c")) // caches [b, d) only
	must.NoError(t, err)
	rs, out, done := c.cachedRange(nil, nil, 10)
	must.False(t, done)
	must.Len(t, rs, 0)
	must.Equal(t, 0, len(out))
	all, err := c.LoadRange(ctx, nil, nil, 0)
	must.NoError(t, err)
	must.Equal(t, []uint64{1, 2, 3}, ids(all))

	// Region 2 [b, d) is replaced by a newer conf version reaching to the
	// end: region 3 [d, "") overlapped and is dropped.
	must.True(t, c.insert(NewRegion(region(2, "b", "", 1, 2, 1, 2, 3), nil)))
	must.Equal(t, []uint64{1, 2}, cachedIDs(t, c))
	rs, _, done = c.cachedRange(nil, nil, 10)
	must.True(t, done)
	must.Equal(t, []uint64{1, 2}, ids(rs))
}

// TestPortScanRegionsWithGaps ports client-go's TestScanRegionsWithGaps
// (internal/locate/region_cache_test.go): PD's answer has a hole (a split
// region not reported yet); the range load retries at the hole, and once PD
// has the region it returns every region of the range, in order. (A hole
// that never fills is TestLoadRangeHoleInPD.)
func TestPortScanRegionsWithGaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		full := []*metapb.Region{
			region(1, "", "a", 1, 1, 1), region(2, "a", "c", 1, 1, 1),
			region(3, "c", "e", 1, 1, 1), region(4, "e", "", 1, 1, 1),
		}
		pd := newFakePD(full[0], full[1], full[3]) // [c, e) not reported yet
		c := NewRegionCache(pd)
		defer c.Close()
		done := make(chan []*Region, 1)
		go func() {
			rs, err := c.LoadRange(context.Background(), nil, nil, 10)
			check.NoError(t, err)
			done <- rs
		}()
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("the load finished across the hole")
		default:
		}
		pd.setRegions(full...)
		rs := <-done
		must.Equal(t, []uint64{1, 2, 3, 4}, ids(rs))
	})
}
