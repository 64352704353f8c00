package pdclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"go.uber.org/goleak"

	"github.com/tikvgo/tikv/kv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// threeRegions is ["", b) [b, d) [d, "") on stores 1-3.
func threeRegions() []*metapb.Region {
	return []*metapb.Region{
		region(1, "", "b", 1, 1, 1, 2, 3),
		region(2, "b", "d", 1, 1, 1, 2, 3),
		region(3, "d", "", 1, 1, 1, 2, 3),
	}
}

func newTestCache(t *testing.T, pd PD, opts ...CacheOption) *RegionCache {
	t.Helper()
	c := NewRegionCache(pd, opts...)
	t.Cleanup(c.Close)
	return c
}

// cachedIDs lists the ids of the cached regions in key order and checks the
// index's invariants: sorted, non-overlapping, map in sync.
func cachedIDs(t *testing.T, c *RegionCache) []uint64 {
	t.Helper()
	c.mu.RLock()
	defer c.mu.RUnlock()
	var ids []uint64
	for i, e := range c.idx.sorted {
		ids = append(ids, e.region.ID())
		must.Same(t, e, c.idx.byID[e.region.ID()], "byID out of sync for region %d", e.region.ID())
		if i > 0 {
			prev := c.idx.sorted[i-1].region
			must.NotEmpty(t, prev.EndKey(), "region after the last one")
			must.LessOrEqual(t, bytes.Compare(prev.EndKey(), e.region.StartKey()), 0, "overlap: %v and %v", prev, e.region)
		}
	}
	must.Len(t, c.idx.byID, len(c.idx.sorted))
	return ids
}

func TestLocateHitAndMiss(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD(threeRegions()...)
	c := newTestCache(t, pd)

	r, err := c.Locate(ctx, []byte("a"))
	must.NoError(t, err)
	check.Equal(t, uint64(1), r.ID())
	check.Equal(t, uint64(1), r.Leader().GetStoreId())
	check.Equal(t, 1, pd.count("GetRegion"))

	for _, key := range []string{"", "a", "azzz"} {
		r, err = c.Locate(ctx, []byte(key))
		must.NoError(t, err)
		check.Equal(t, uint64(1), r.ID(), "key %q", key)
	}
	check.Equal(t, 1, pd.count("GetRegion"), "hits must not call PD")

	r, err = c.Locate(ctx, []byte("b"))
	must.NoError(t, err)
	check.Equal(t, uint64(2), r.ID())
	r, err = c.Locate(ctx, []byte("zzz"))
	must.NoError(t, err)
	check.Equal(t, uint64(3), r.ID())
	check.Equal(t, 3, pd.count("GetRegion"))
	check.Equal(t, []uint64{1, 2, 3}, cachedIDs(t, c))
}

func TestLocateSingleflight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := newFakePD(threeRegions()...)
		pd.hold = make(chan struct{})
		c := NewRegionCache(pd)
		defer c.Close()

		const n = 50
		var wg sync.WaitGroup
		ids := make([]uint64, n)
		for i := range n {
			wg.Go(func() {
				r, err := c.Locate(context.Background(), []byte("c"))
				if check.NoError(t, err) {
					ids[i] = r.ID()
				}
			})
		}
		synctest.Wait() // every caller is waiting on the one PD call
		check.Equal(t, 1, pd.count("GetRegion"))
		close(pd.hold)
		wg.Wait()
		check.Equal(t, 1, pd.count("GetRegion"))
		for _, id := range ids {
			check.Equal(t, uint64(2), id)
		}
	})
}

func TestLocateSharedLoadSurvivesFirstCallerCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := newFakePD(threeRegions()...)
		pd.hold = make(chan struct{})
		c := NewRegionCache(pd)
		defer c.Close()

		ctx1, cancel1 := context.WithCancel(context.Background())
		first := make(chan error, 1)
		go func() {
			_, err := c.Locate(ctx1, []byte("c"))
			first <- err
		}()
		synctest.Wait()
		second := make(chan *Region, 1)
		go func() {
			r, err := c.Locate(context.Background(), []byte("c"))
			check.NoError(t, err)
			second <- r
		}()
		synctest.Wait()

		cancel1()
		check.ErrorIs(t, <-first, context.Canceled, "the first caller stops waiting")
		close(pd.hold)
		check.Equal(t, uint64(2), (<-second).ID(), "the shared load was not cancelled with it")
		check.Equal(t, 1, pd.count("GetRegion"))
	})
}

func TestLocateRetriesNilRegion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := newFakePD(threeRegions()...)
		pd.nilRegions = 3
		c := NewRegionCache(pd)
		defer c.Close()

		start := time.Now()
		r, err := c.Locate(context.Background(), []byte("c"))
		must.NoError(t, err)
		check.Equal(t, uint64(2), r.ID())
		check.Equal(t, 4, pd.count("GetRegion"))
		check.Equal(t, 70*time.Millisecond, time.Since(start), "10+20+40ms of backoff")
	})
}

func TestLocateGivesUpOnMissingRegion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := newFakePD(threeRegions()...)
		pd.nilRegions = 1 << 30
		c := NewRegionCache(pd)
		defer c.Close()

		_, err := c.Locate(context.Background(), []byte("c"))
		must.ErrorIs(t, err, ErrRegionNotFound)
		check.Equal(t, maxLoadAttempts, pd.count("GetRegion"))

		// A caller's deadline ends its wait earlier.
		pd.resetCounts()
		ctx, cancel := context.WithTimeout(context.Background(), 25*time.Millisecond)
		defer cancel()
		_, err = c.Locate(ctx, []byte("x"))
		must.ErrorIs(t, err, context.DeadlineExceeded)
		// Let the detached load finish before the bubble ends.
		synctest.Wait()
	})
}

func TestLocateEndKey(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name       string
		key        string
		want       uint64
		getRegion  int
		getPrev    int
		batchScans int
	}{
		{name: "key inside a region", key: "c", want: 2, getRegion: 1},
		{name: "key at a region boundary", key: "d", want: 2, getRegion: 1, getPrev: 1},
		{name: "key at the first boundary", key: "b", want: 1, getRegion: 1, getPrev: 1},
		{name: "key inside the last region", key: "x", want: 3, getRegion: 1},
		{name: "empty key is the end of the key space", key: "", want: 3, batchScans: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pd := newFakePD(threeRegions()...)
			c := newTestCache(t, pd)
			r, err := c.LocateEndKey(ctx, []byte(tc.key))
			must.NoError(t, err)
			check.Equal(t, tc.want, r.ID())
			check.True(t, r.ContainsByEnd([]byte(tc.key)))
			check.Equal(t, tc.getRegion, pd.count("GetRegion"), "GetRegion calls")
			check.Equal(t, tc.getPrev, pd.count("GetPrevRegion"), "GetPrevRegion calls")
			check.Equal(t, tc.batchScans, pd.count("BatchScanRegions"), "BatchScanRegions calls")

			// Now cached: by end key and by key.
			pd.resetCounts()
			r2, err := c.LocateEndKey(ctx, []byte(tc.key))
			must.NoError(t, err)
			check.Same(t, r, r2)
			check.Zero(t, pd.count("GetRegion")+pd.count("GetPrevRegion")+pd.count("BatchScanRegions"))
		})
	}
}

func TestLocateEndKeyFromWarmCache(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD(threeRegions()...)
	c := newTestCache(t, pd)
	_, err := c.LoadRange(ctx, nil, nil, 0)
	must.NoError(t, err)
	pd.resetCounts()

	for key, want := range map[string]uint64{"a": 1, "b": 1, "c": 2, "d": 2, "e": 3, "": 3} {
		r, err := c.LocateEndKey(ctx, []byte(key))
		must.NoError(t, err)
		check.Equal(t, want, r.ID(), "key %q", key)
	}
	check.Zero(t, pd.count("GetRegion")+pd.count("GetPrevRegion")+pd.count("BatchScanRegions"))
}

func TestLocateEndKeyEmptyScansFromLastCachedRegion(t *testing.T) {
	ctx := context.Background()
	var metas []*metapb.Region
	for i := range 10 {
		start, end := fmt.Sprintf("k%d", i), fmt.Sprintf("k%d", i+1)
		if i == 0 {
			start = ""
		}
		if i == 9 {
			end = ""
		}
		metas = append(metas, region(uint64(i+1), start, end, 1, 1, 1))
	}
	pd := newFakePD(metas...)
	c := newTestCache(t, pd, WithScanPageSize(3))
	_, err := c.Locate(ctx, []byte("k5x")) // caches region 6 [k5, k6)
	must.NoError(t, err)

	r, err := c.LocateEndKey(ctx, nil)
	must.NoError(t, err)
	check.Equal(t, uint64(10), r.ID())
	// Pages from k5: regions 6-8, then 9-10.
	check.Equal(t, 2, pd.count("BatchScanRegions"))
	check.Equal(t, []byte("k5"), pd.scans[0].StartKey)
	check.Equal(t, []uint64{6, 7, 8, 9, 10}, cachedIDs(t, c))
}

func TestLocateByID(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD(threeRegions()...)
	c := newTestCache(t, pd)

	r, err := c.LocateByID(ctx, 2)
	must.NoError(t, err)
	check.Equal(t, []byte("b"), r.StartKey())
	r2, err := c.LocateByID(ctx, 2)
	must.NoError(t, err)
	check.Same(t, r, r2)
	check.Equal(t, 1, pd.count("GetRegionByID"))

	// Cached by id, so by key too.
	r3, err := c.Locate(ctx, []byte("c"))
	must.NoError(t, err)
	check.Same(t, r, r3)
	check.Zero(t, pd.count("GetRegion"))

	// An id PD does not know is final: no retries.
	_, err = c.LocateByID(ctx, 42)
	must.ErrorIs(t, err, ErrRegionNotFound)
	check.Equal(t, 2, pd.count("GetRegionByID"))
}

func TestLoadRange(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD(threeRegions()...)
	c := newTestCache(t, pd)

	rs, err := c.LoadRange(ctx, []byte("a"), []byte("e"), 0)
	must.NoError(t, err)
	check.Equal(t, []uint64{1, 2, 3}, ids(rs))
	check.Equal(t, 1, pd.count("BatchScanRegions"))
	check.Equal(t, []uint64{1, 2, 3}, cachedIDs(t, c))

	// Covered by the cache now.
	pd.resetCounts()
	for _, tc := range []struct {
		start, end string
		limit      int
		want       []uint64
	}{
		{"a", "e", 0, []uint64{1, 2, 3}},
		{"b", "d", 0, []uint64{2}},
		{"c", "", 0, []uint64{2, 3}},
		{"", "", 2, []uint64{1, 2}},
		{"c", "c", 0, nil},
	} {
		rs, err := c.LoadRange(ctx, []byte(tc.start), []byte(tc.end), tc.limit)
		must.NoError(t, err)
		check.Equal(t, tc.want, ids(rs), "[%q, %q) limit %d", tc.start, tc.end, tc.limit)
	}
	check.Zero(t, pd.count("BatchScanRegions"))

	_, err = c.LoadRange(ctx, []byte("z"), []byte("a"), 0)
	check.ErrorIs(t, err, kv.ErrInvalidArgument)
}

func TestLoadRangePartialCoverage(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD(threeRegions()...)
	c := newTestCache(t, pd)
	_, err := c.Locate(ctx, []byte("a")) // caches region 1 only
	must.NoError(t, err)

	rs, err := c.LoadRange(ctx, []byte("a"), nil, 0)
	must.NoError(t, err)
	check.Equal(t, []uint64{1, 2, 3}, ids(rs))
	must.Equal(t, 1, pd.count("BatchScanRegions"))
	check.Equal(t, []byte("b"), pd.scans[0].StartKey, "only the uncovered part is scanned")
}

func TestLoadRangePagesAndLimit(t *testing.T) {
	ctx := context.Background()
	var metas []*metapb.Region
	for i := range 7 {
		start, end := fmt.Sprintf("k%d", i), fmt.Sprintf("k%d", i+1)
		if i == 0 {
			start = ""
		}
		metas = append(metas, region(uint64(i+1), start, end, 1, 1, 1))
	}
	metas[len(metas)-1].EndKey = nil
	pd := newFakePD(metas...)
	c := newTestCache(t, pd, WithScanPageSize(2))

	rs, err := c.LoadRange(ctx, nil, []byte("k4"), 0)
	must.NoError(t, err)
	check.Equal(t, []uint64{1, 2, 3, 4}, ids(rs))
	check.Equal(t, 2, pd.count("BatchScanRegions"))

	pd.resetCounts()
	rs, err = c.LoadRange(ctx, []byte("k3"), nil, 3)
	must.NoError(t, err)
	check.Equal(t, []uint64{4, 5, 6}, ids(rs))
	must.Equal(t, 1, pd.count("BatchScanRegions"), "region 4 was cached; one page of 2 completes the limit")
	check.Equal(t, []byte("k4"), pd.scans[0].StartKey)
}

func TestLoadRangeHoleInPD(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// PD has no region for [b, d) (its leader has not reported yet).
		pd := newFakePD(region(1, "", "b", 1, 1, 1), region(3, "d", "", 1, 1, 1))
		c := NewRegionCache(pd)
		defer c.Close()

		_, err := c.LoadRange(context.Background(), nil, nil, 0)
		must.ErrorIs(t, err, ErrRegionNotFound)
		check.Equal(t, maxLoadAttempts+1, pd.count("BatchScanRegions"), "one page up to the hole, then retries at it")
		check.Equal(t, []uint64{1}, cachedIDs(t, c))
	})
}

func TestInsertReplacesOverlapsAndRefusesOlderEpochs(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD(threeRegions()...)
	c := newTestCache(t, pd)
	_, err := c.LoadRange(ctx, nil, nil, 0)
	must.NoError(t, err)

	// Region 2 [b, d) merged into region 3, which now spans [b, "").
	merged := NewRegion(region(3, "b", "", 3, 1, 1, 2, 3), nil)
	must.True(t, c.insert(merged))
	check.Equal(t, []uint64{1, 3}, cachedIDs(t, c))

	// A lagging PD follower's answers cannot roll that back: neither the
	// old region 3 (same id, older version) nor the old region 2 (overlaps a
	// region with a higher version).
	check.False(t, c.insert(NewRegion(region(3, "d", "", 1, 1, 1, 2, 3), nil)))
	check.False(t, c.insert(NewRegion(region(2, "b", "d", 1, 1, 1, 2, 3), nil)))
	check.False(t, c.insert(NewRegion(region(3, "b", "", 3, 0, 1, 2, 3), nil)), "older conf version")
	check.Equal(t, []uint64{1, 3}, cachedIDs(t, c))

	// Region 1 split: the same id keeps [, a), region 4 gets [a, b).
	must.True(t, c.insert(NewRegion(region(1, "", "a", 2, 1, 1), nil)))
	must.True(t, c.insert(NewRegion(region(4, "a", "b", 2, 1, 1), nil)))
	check.Equal(t, []uint64{1, 4, 3}, cachedIDs(t, c))

	// A newer region spanning several cached ones removes all of them.
	must.True(t, c.insert(NewRegion(region(9, "", "", 5, 1, 1), nil)))
	check.Equal(t, []uint64{9}, cachedIDs(t, c))
}

func TestIndexInvariantsUnderRandomInserts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := newTestCache(t, newFakePD())
	key := func() string { return string(rune('a' + rng.IntN(20))) }
	for i := range 2000 {
		s, e := key(), key()
		if s > e {
			s, e = e, s
		}
		if s == e || rng.IntN(10) == 0 {
			e = ""
		}
		if rng.IntN(10) == 0 {
			s = ""
		}
		c.insert(NewRegion(region(uint64(rng.IntN(30)+1), s, e, uint64(i/50), uint64(rng.IntN(3)), 1), nil))
		cachedIDs(t, c)
	}
}

func TestUpdateLeader(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD(threeRegions()...)
	c := newTestCache(t, pd)
	r, err := c.Locate(ctx, []byte("c"))
	must.NoError(t, err)
	must.Equal(t, uint64(1), r.Leader().GetStoreId())

	// A hint naming one of r's peers: r led by it, cached.
	nr := c.UpdateLeader(r, &metapb.Peer{Id: 203, StoreId: 3})
	must.NotNil(t, nr)
	check.Equal(t, uint64(3), nr.Leader().GetStoreId())
	check.Equal(t, r.Ver(), nr.Ver())
	got, err := c.Locate(ctx, []byte("c"))
	must.NoError(t, err)
	check.Same(t, nr, got)
	check.Equal(t, 1, pd.count("GetRegion"))

	// A hint about a store r has no peer on: r is stale, invalidated.
	check.Nil(t, c.UpdateLeader(nr, &metapb.Peer{Id: 299, StoreId: 9}))
	check.Nil(t, c.UpdateLeader(r, nil), "no hint at all")
	got, err = c.Locate(ctx, []byte("c"))
	must.NoError(t, err)
	check.Equal(t, 2, pd.count("GetRegion"), "reloaded from PD")
	check.Equal(t, uint64(1), got.Leader().GetStoreId())

	// An update for an old version is returned for the retry but does not
	// replace the newer cached region.
	newer := NewRegion(region(2, "b", "d", 1, 2, 1, 2), nil)
	must.True(t, c.insert(newer))
	old := c.UpdateLeader(r, &metapb.Peer{Id: 203, StoreId: 3})
	must.NotNil(t, old)
	check.Equal(t, uint64(3), old.Leader().GetStoreId())
	got, err = c.Locate(ctx, []byte("c"))
	must.NoError(t, err)
	check.Same(t, newer, got)
}

func TestOnEpochNotMatch(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD(threeRegions()...)
	c := newTestCache(t, pd)
	r, err := c.Locate(ctx, []byte("c")) // region 2 [b, d) v1
	must.NoError(t, err)

	t.Run("lagging TiKV", func(t *testing.T) {
		ahead := NewRegion(region(2, "b", "d", 5, 1, 1, 2, 3), nil)
		must.True(t, c.insert(ahead))
		retry := c.OnEpochNotMatch(ahead, 2, []*metapb.Region{region(2, "b", "d", 4, 1, 1, 2, 3)})
		check.True(t, retry)
		got, err := c.Locate(ctx, []byte("c"))
		must.NoError(t, err)
		check.Same(t, ahead, got, "cache untouched")
		c.Invalidate(ahead)
	})

	t.Run("split reported", func(t *testing.T) {
		r, err = c.Locate(ctx, []byte("c"))
		must.NoError(t, err)
		retry := c.OnEpochNotMatch(r, 2, []*metapb.Region{
			region(2, "b", "c", 2, 1, 1, 2, 3),
			region(5, "c", "d", 2, 1, 1, 2, 3),
		})
		check.False(t, retry)
		n := pd.count("GetRegion")
		for key, want := range map[string]uint64{"b": 2, "bb": 2, "c": 5, "cc": 5} {
			got, err := c.Locate(ctx, []byte(key))
			must.NoError(t, err)
			check.Equal(t, want, got.ID())
			check.Equal(t, uint64(2), got.Ver().Version)
			check.Equal(t, uint64(2), got.Leader().GetStoreId(), "led by the peer on the answering store")
		}
		check.Equal(t, n, pd.count("GetRegion"), "served from the cache")
	})

	t.Run("no current regions", func(t *testing.T) {
		r, err = c.Locate(ctx, []byte("c"))
		must.NoError(t, err)
		check.False(t, c.OnEpochNotMatch(r, 2, nil))
		c.mu.RLock()
		_, ok := c.idx.byID[r.ID()]
		c.mu.RUnlock()
		check.False(t, ok, "invalidated")
	})
}

func TestInvalidate(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD(threeRegions()...)
	c := newTestCache(t, pd)
	old, err := c.Locate(ctx, []byte("c"))
	must.NoError(t, err)
	newer := NewRegion(region(2, "b", "d", 2, 1, 1, 2, 3), nil)
	must.True(t, c.insert(newer))

	c.Invalidate(old) // stale version: no-op
	got, err := c.Locate(ctx, []byte("c"))
	must.NoError(t, err)
	check.Same(t, newer, got)

	c.Invalidate(newer.WithLeader(newer.Peers()[1])) // same version, other leader: dropped
	check.Equal(t, []uint64(nil), cachedIDs(t, c))
}

func TestRegionTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		pd := newFakePD(threeRegions()...)
		c := NewRegionCache(pd, WithCacheTTL(10*time.Second), WithCacheTTLJitter(0), WithGCInterval(time.Minute))
		defer c.Close()

		_, err := c.Locate(ctx, []byte("c"))
		must.NoError(t, err)
		for range 3 { // each access extends the life by the TTL
			time.Sleep(9 * time.Second)
			_, err = c.Locate(ctx, []byte("c"))
			must.NoError(t, err)
		}
		check.Equal(t, 1, pd.count("GetRegion"))

		time.Sleep(11 * time.Second)
		_, err = c.Locate(ctx, []byte("c"))
		must.NoError(t, err)
		check.Equal(t, 2, pd.count("GetRegion"), "expired, reloaded")

		// An unused region is dropped by the GC goroutine.
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		check.Empty(t, cachedIDs(t, c))
	})
}

func TestRegionTTLJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := newFakePD(threeRegions()...)
		c := NewRegionCache(pd, WithCacheTTL(10*time.Second), WithCacheTTLJitter(5*time.Second))
		defer c.Close()
		_, err := c.LoadRange(context.Background(), nil, nil, 0)
		must.NoError(t, err)
		now := time.Now().UnixNano()
		c.mu.RLock()
		defer c.mu.RUnlock()
		for _, e := range c.idx.sorted {
			d := time.Duration(e.deadline.Load() - now)
			check.GreaterOrEqual(t, int64(d), int64(10*time.Second))
			check.Less(t, int64(d), int64(15*time.Second))
		}
	})
}

func TestClosedCache(t *testing.T) {
	pd := newFakePD(threeRegions()...)
	c := NewRegionCache(pd)
	ctx := context.Background()
	_, err := c.Locate(ctx, []byte("a"))
	must.NoError(t, err)
	c.Close()
	c.Close()

	_, err = c.Locate(ctx, []byte("a"))
	check.NoError(t, err, "hits still work")
	_, err = c.Locate(ctx, []byte("c"))
	check.True(t, errors.Is(err, kv.ErrClosed), "misses fail: %v", err)
	_, err = c.LoadRange(ctx, []byte("a"), nil, 0)
	check.ErrorIs(t, err, kv.ErrClosed)
}

func ids(rs []*Region) []uint64 {
	var out []uint64
	for _, r := range rs {
		out = append(out, r.ID())
	}
	return out
}
