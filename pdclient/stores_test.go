package pdclient

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikv/pd/client/opt"
)

// listingPD is a fakePD whose GetAllStores fails with errs first, and
// which records whether callers asked PD to leave tombstones out.
type listingPD struct {
	*fakePD
	mu               sync.Mutex
	errs             []error
	excludeTombstone []bool
}

func (p *listingPD) GetAllStores(ctx context.Context, opts ...opt.GetStoreOption) ([]*metapb.Store, error) {
	var o opt.GetStoreOp
	for _, f := range opts {
		f(&o)
	}
	p.mu.Lock()
	p.excludeTombstone = append(p.excludeTombstone, o.ExcludeTombstone)
	var err error
	if len(p.errs) > 0 {
		err, p.errs = p.errs[0], p.errs[1:]
	}
	p.mu.Unlock()
	if err != nil {
		p.called("GetAllStores")
		return nil, err
	}
	return p.fakePD.GetAllStores(ctx, opts...)
}

func storeIDsOf(stores []*Store) []uint64 {
	var ids []uint64
	for _, s := range stores {
		ids = append(ids, s.ID)
	}
	return ids
}

// TestRegionCacheStoresListsLiveStoresInIDOrder: Stores asks PD on every
// call (with tombstones excluded), drops any tombstone or physically
// removed store PD still returns, and sorts by id; offline stores (being
// drained, still holding data) are listed.
func TestRegionCacheStoresListsLiveStoresInIDOrder(t *testing.T) {
	pd := &listingPD{fakePD: newFakePD()}
	zone := []*metapb.StoreLabel{{Key: "zone", Value: "z1"}}
	pd.setStore(&metapb.Store{Id: 5, Address: "tikv-5:20160", State: metapb.StoreState_Up, Labels: zone})
	pd.setStore(&metapb.Store{Id: 2, Address: "tikv-2:20160", State: metapb.StoreState_Tombstone})
	pd.setStore(&metapb.Store{Id: 3, Address: "tikv-3:20160", State: metapb.StoreState_Offline})
	pd.setStore(&metapb.Store{Id: 4, Address: "tikv-4:20160", State: metapb.StoreState_Up, NodeState: metapb.NodeState_Removed})
	pd.setStore(&metapb.Store{Id: 1, Address: "tikv-1:20160", State: metapb.StoreState_Up})
	c := newTestCache(t, pd)

	stores, err := c.Stores(context.Background())
	must.NoError(t, err)
	check.Equal(t, []uint64{1, 3, 5}, storeIDsOf(stores))
	check.Equal(t, &Store{ID: 5, Addr: "tikv-5:20160", State: metapb.StoreState_Up, Labels: zone}, stores[2])
	check.Equal(t, metapb.StoreState_Offline, stores[1].State)

	// A store added since is seen by the next call: nothing is cached.
	pd.setStore(&metapb.Store{Id: 6, Address: "tikv-6:20160", State: metapb.StoreState_Up})
	stores, err = c.Stores(context.Background())
	must.NoError(t, err)
	check.Equal(t, []uint64{1, 3, 5, 6}, storeIDsOf(stores))
	check.Equal(t, 2, pd.count("GetAllStores"))
	pd.mu.Lock()
	check.Equal(t, []bool{true, true}, pd.excludeTombstone, "PD asked to leave tombstones out")
	pd.mu.Unlock()
}

// TestRegionCacheStoresRetriesPDFailures: a failing PD is asked again
// after a backoff, and the answer that comes is returned.
func TestRegionCacheStoresRetriesPDFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		down := errors.New("PD unavailable")
		pd := &listingPD{fakePD: newFakePD(), errs: []error{down, down}}
		pd.setStore(&metapb.Store{Id: 1, Address: "tikv-1:20160"})
		c := newTestCache(t, pd)
		start := time.Now()
		stores, err := c.Stores(context.Background())
		must.NoError(t, err)
		check.Equal(t, []uint64{1}, storeIDsOf(stores))
		check.Equal(t, 3, pd.count("GetAllStores"))
		check.Equal(t, loadBackoff(1)+loadBackoff(2), time.Since(start), "two load backoffs")
	})
}

// TestRegionCacheStoresReturnsPDFailure: a PD that keeps failing makes
// Stores give up after its load attempts with the cause; a caller's
// context ending stops it at once with the context's error.
func TestRegionCacheStoresReturnsPDFailure(t *testing.T) {
	down := errors.New("PD unavailable")
	synctest.Test(t, func(t *testing.T) {
		pd := &listingPD{fakePD: newFakePD()}
		for range maxLoadAttempts {
			pd.errs = append(pd.errs, down)
		}
		c := newTestCache(t, pd)
		stores, err := c.Stores(context.Background())
		check.ErrorIs(t, err, down)
		check.Nil(t, stores)
		check.Equal(t, maxLoadAttempts, pd.count("GetAllStores"))
	})
	synctest.Test(t, func(t *testing.T) {
		pd := &listingPD{fakePD: newFakePD()}
		for range maxLoadAttempts {
			pd.errs = append(pd.errs, down)
		}
		c := newTestCache(t, pd)
		ctx, cancel := context.WithTimeout(context.Background(), loadBackoff(1)/2)
		defer cancel()
		_, err := c.Stores(ctx)
		check.ErrorIs(t, err, context.DeadlineExceeded)
		check.ErrorIs(t, err, down, "the last cause is kept")
		check.Equal(t, 1, pd.count("GetAllStores"))
	})
}
