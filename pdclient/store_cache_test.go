package pdclient

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"
)

func TestStoreCache(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD()
	pd.setStore(&metapb.Store{Id: 1, Address: "tikv-1:20160", State: metapb.StoreState_Up,
		Labels: []*metapb.StoreLabel{{Key: "zone", Value: "z1"}}})
	c := newTestCache(t, pd)

	s, err := c.Store(ctx, 1)
	must.NoError(t, err)
	check.Equal(t, &Store{ID: 1, Addr: "tikv-1:20160", State: metapb.StoreState_Up,
		Labels: []*metapb.StoreLabel{{Key: "zone", Value: "z1"}}}, s)
	s2, err := c.Store(ctx, 1)
	must.NoError(t, err)
	check.Same(t, s, s2)
	check.Equal(t, 1, pd.count("GetStore"))

	// The store moved; a send failure makes the cache ask PD again.
	pd.setStore(&metapb.Store{Id: 1, Address: "tikv-1b:20160", State: metapb.StoreState_Up})
	s, err = c.Store(ctx, 1)
	must.NoError(t, err)
	check.Equal(t, "tikv-1:20160", s.Addr, "still cached")
	c.OnStoreFailure(1)
	s, err = c.Store(ctx, 1)
	must.NoError(t, err)
	check.Equal(t, "tikv-1b:20160", s.Addr)
	check.Equal(t, 2, pd.count("GetStore"))
	_, err = c.Store(ctx, 1)
	must.NoError(t, err)
	check.Equal(t, 2, pd.count("GetStore"), "resolved again: cached")

	c.OnStoreFailure(99) // unknown: ignored
}

func TestStoreCacheReResolveFailureKeepsLastAddress(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD()
	pd.setStore(&metapb.Store{Id: 1, Address: "tikv-1:20160"})
	c := newTestCache(t, pd, WithLoadTimeout(50_000_000)) // 50ms: PD errors are retried until then
	_, err := c.Store(ctx, 1)
	must.NoError(t, err)

	pd.mu.Lock()
	pd.storeErr = errors.New("PD unavailable")
	pd.mu.Unlock()
	c.OnStoreFailure(1)
	s, err := c.Store(ctx, 1)
	must.NoError(t, err)
	check.Equal(t, "tikv-1:20160", s.Addr)

	pd.mu.Lock()
	pd.storeErr = nil
	pd.mu.Unlock()
	pd.setStore(&metapb.Store{Id: 1, Address: "tikv-1b:20160"})
	s, err = c.Store(ctx, 1)
	must.NoError(t, err)
	check.Equal(t, "tikv-1b:20160", s.Addr, "still marked for re-resolve after the failed attempt")

	// A store never resolved has nothing to fall back to.
	_, err = c.Store(ctx, 7)
	check.True(t, err != nil, "unknown store must fail")
}

func TestStoreTombstone(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD()
	pd.setStore(&metapb.Store{Id: 2, Address: "tikv-2:20160", State: metapb.StoreState_Tombstone})
	pd.setStore(&metapb.Store{Id: 3, Address: "tikv-3:20160", NodeState: metapb.NodeState_Removed})
	c := newTestCache(t, pd)

	for _, id := range []uint64{2, 3} {
		_, err := c.Store(ctx, id)
		check.ErrorIs(t, err, ErrStoreTombstone, "store %d", id)
		_, err = c.Store(ctx, id)
		check.ErrorIs(t, err, ErrStoreTombstone, "store %d", id)
		c.OnStoreFailure(id)
		_, err = c.Store(ctx, id)
		check.ErrorIs(t, err, ErrStoreTombstone, "store %d", id)
	}
	check.Equal(t, 2, pd.count("GetStore"), "tombstones are final and cached")
}

func TestStoreCacheSingleflight(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD()
	pd.setStore(&metapb.Store{Id: 1, Address: "tikv-1:20160"})
	c := newTestCache(t, pd)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := c.Store(ctx, 1)
			check.NoError(t, err)
		})
	}
	wg.Wait()
	// Concurrent misses share one call, or find its answer once it is
	// cached: PD is asked once.
	check.Equal(t, 1, pd.count("GetStore"))
}
