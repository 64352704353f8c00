package pdclient

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/kv"
)

// TestRefreshPreloadsWholeKeySpace ports client-go's region preload
// (EnablePreload, refreshRegionIndex): one Refresh reads every region of
// the key space, page by page, and afterwards every key is answered from
// the cache with no further PD call.
func TestRefreshPreloadsWholeKeySpace(t *testing.T) {
	pd := newFakePD(
		region(1, "", "b", 1, 1, 1), region(2, "b", "d", 1, 1, 1), region(3, "d", "f", 1, 1, 1),
		region(4, "f", "h", 1, 1, 1), region(5, "h", "", 1, 1, 1))
	c := NewRegionCache(pd, WithScanPageSize(2))
	defer c.Close()

	n, err := c.Refresh(context.Background())
	check.NoError(t, err)
	check.Equal(t, 5, n)
	check.Equal(t, 3, pd.count("BatchScanRegions"), "five regions in pages of two")

	for _, k := range []string{"a", "c", "e", "g", "z"} {
		r, err := c.Locate(context.Background(), []byte(k))
		check.NoError(t, err)
		check.True(t, r.Contains([]byte(k)), "region %d for %q", r.ID(), k)
	}
	check.Equal(t, 0, pd.count("GetRegion"), "every key came from the preloaded cache")
	check.Equal(t, uint64(5), c.Hits())

	c.Close()
	_, err = c.Refresh(context.Background())
	check.True(t, errors.Is(err, kv.ErrClosed), "refresh after Close: %v", err)
}

// TestRefreshIntervalFollowsPD ports client-go's periodic region refresh
// (RegionsRefreshInterval): without any lookup missing, the cache picks up
// a split and a merge PD reports, at the next tick, in virtual time; a
// failing round keeps the cache and is reported by LastRefresh.
func TestRefreshIntervalFollowsPD(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := newFakePD(region(1, "", "m", 1, 1, 1), region(2, "m", "", 1, 1, 1))
		c := NewRegionCache(pd, WithRefreshInterval(time.Minute), WithCacheTTL(time.Hour))
		defer c.Close()
		_, err := c.Refresh(context.Background())
		check.NoError(t, err)
		at, _, _ := c.LastRefresh()
		check.True(t, at.IsZero(), "no periodic round yet")

		// PD splits region 1 at "g".
		pd.setRegions(region(1, "", "g", 2, 1, 1), region(3, "g", "m", 2, 1, 1), region(2, "m", "", 1, 1, 1))
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		at, n, err := c.LastRefresh()
		check.NoError(t, err)
		check.Equal(t, 3, n)
		check.False(t, at.IsZero(), "a round ran")
		loads := pd.count("GetRegion")
		r, err := c.Locate(context.Background(), []byte("h"))
		check.NoError(t, err)
		check.Equal(t, uint64(3), r.ID(), "the split is cached")
		check.Equal(t, loads, pd.count("GetRegion"), "found without asking PD")

		// A round that fails keeps what the cache has.
		pd.mu.Lock()
		pd.regions = nil // PD answers no region: the scan retries, then gives up
		pd.mu.Unlock()
		time.Sleep(time.Minute + 30*time.Second) // the round's retries take seconds
		synctest.Wait()
		_, _, err = c.LastRefresh()
		check.True(t, err != nil, "a failed round is reported")
		r, err = c.Locate(context.Background(), []byte("h"))
		check.NoError(t, err)
		check.Equal(t, uint64(3), r.ID(), "the cache is kept")
	})
}

// TestRefreshConcurrentWithLookups ports client-go's
// TestRefreshCacheConcurrency (internal/locate/region_cache_test.go):
// refreshes racing lookups, invalidations and PD layout changes keep the
// cache consistent (run under -race): every lookup returns a region that
// holds its key.
func TestRefreshConcurrentWithLookups(t *testing.T) {
	layouts := [][]*metapb.Region{
		{region(1, "", "m", 1, 1, 1), region(2, "m", "", 1, 1, 1)},
		{region(1, "", "g", 2, 1, 1), region(3, "g", "m", 2, 1, 1), region(2, "m", "", 1, 1, 1)},
	}
	pd := newFakePD(layouts[0]...)
	c := NewRegionCache(pd, WithScanPageSize(1))
	defer c.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				switch w {
				case 0:
					_, _ = c.Refresh(ctx)
				case 1:
					pd.setRegions(layouts[i%2]...)
				default:
					k := []byte{byte('a' + (i*7+w)%26)}
					r, err := c.Locate(ctx, k)
					if err != nil {
						continue // a layout change mid-scan may leave a hole for a moment
					}
					if !r.Contains(k) {
						t.Errorf("region %d [%q, %q) for key %q", r.ID(), r.StartKey(), r.EndKey(), k)
						return
					}
					if i%10 == 0 {
						c.Invalidate(r)
					}
				}
			}
		}()
	}
	wg.Wait()
}
