package pdclient

import (
	"context"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// A NotLeader hint that arrives on an old copy of a region after the region
// was invalidated must not bring the region back into the cache with a
// fresh lifetime (issue #8, bug 9): the next lookup asks PD.
func TestUpdateLeaderDoesNotResurrectAnInvalidatedRegion(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD(threeRegions()...)
	c := newTestCache(t, pd)
	r, err := c.Locate(ctx, []byte("c"))
	must.NoError(t, err)
	c.Invalidate(r)

	nr := c.UpdateLeader(r, &metapb.Peer{Id: 203, StoreId: 3})
	must.NotNil(t, nr, "the hint still routes this caller's next attempt")
	check.Equal(t, uint64(3), nr.Leader().GetStoreId())

	got, err := c.Locate(ctx, []byte("c"))
	must.NoError(t, err)
	check.Equal(t, 2, pd.count("GetRegion"), "the invalidated region must be loaded again")
	check.Equal(t, uint64(1), got.Leader().GetStoreId(), "PD's view, not the old copy's hint")
}

type retiredAddrs struct {
	mu    sync.Mutex
	addrs []string
}

func (r *retiredAddrs) add(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addrs = append(r.addrs, addr)
}

func (r *retiredAddrs) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.addrs...)
}

// When PD reports a new address for a store, or TiKV answers StoreNotMatch
// from the store's address, the old address is retired so that the
// transport's connections to it are closed (issue #8, bug 8).
func TestStoreAddressRetired(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD(threeRegions()...)
	pd.setStore(&metapb.Store{Id: 1, Address: "a:1"})
	var retired retiredAddrs
	c := newTestCache(t, pd, WithAddrRetired(retired.add))

	s, err := c.Store(ctx, 1)
	must.NoError(t, err)
	check.Equal(t, "a:1", s.Addr)

	// A send failure with the address unchanged retires nothing.
	c.OnStoreFailure(1)
	_, err = c.Store(ctx, 1)
	must.NoError(t, err)
	check.Empty(t, retired.get())

	// The store moved.
	pd.setStore(&metapb.Store{Id: 1, Address: "b:1"})
	c.OnStoreFailure(1)
	s, err = c.Store(ctx, 1)
	must.NoError(t, err)
	check.Equal(t, "b:1", s.Addr)
	check.Equal(t, []string{"a:1"}, retired.get())

	// TiKV at b:1 says it is another store: b:1 is retired at once and the
	// store re-resolved on next use.
	c.OnStoreNotMatch(1)
	check.Equal(t, []string{"a:1", "b:1"}, retired.get())
	before := pd.count("GetStore")
	_, err = c.Store(ctx, 1)
	must.NoError(t, err)
	check.Equal(t, before+1, pd.count("GetStore"))
}
