package pdclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikv/pd/client/opt"

	"github.com/tikvgo/tikv/observe"
)

// ErrStoreTombstone is wrapped by Store when PD reports the store removed
// from the cluster (tombstone, or unknown to PD's store list). It is final:
// the pipeline should route to another peer and reload the region.
var ErrStoreTombstone = errors.New("pdclient: store is tombstone")

// storeEntry is one cached store. Entries are replaced under storeMu, never
// mutated, so a reader may keep one after unlocking.
type storeEntry struct {
	store     *Store
	tombstone bool
	// stale asks for a re-resolve from PD on next use (a send to the store
	// failed: it may have moved to a new address).
	stale bool
}

// Store returns the store's metadata, from the cache or else from PD. A
// store PD reports as tombstone yields an error wrapping ErrStoreTombstone.
// After OnStoreFailure the store is re-resolved from PD; if that fails with
// anything but the caller's context ending, the last known metadata is
// returned (the store may well be back at the same address) and the next
// call tries PD again. Safe for concurrent use.
func (c *RegionCache) Store(ctx context.Context, id uint64) (*Store, error) {
	c.storeMu.RLock()
	e := c.stores[id]
	fresh := e != nil && !e.stale
	c.storeMu.RUnlock()
	if fresh {
		return storeResult(e)
	}
	if _, watched := missed(ctx, nil, id); watched {
		defer func(start time.Time) {
			observe.Emit(ctx, observe.Event{Kind: observe.CacheLoad, StoreID: id, Duration: time.Since(start)})
		}(time.Now())
	}
	ne, err := shared(c, ctx, "s"+strconv.FormatUint(id, 10), func(ctx context.Context) (*storeEntry, error) {
		// A caller that missed the cache just as another's lookup finished
		// finds its answer here instead of asking PD again.
		c.storeMu.RLock()
		cur := c.stores[id]
		c.storeMu.RUnlock()
		if cur != nil && !cur.stale && cur != e {
			return cur, nil
		}
		return c.resolveStore(ctx, id)
	})
	if err != nil {
		if e != nil && !e.tombstone && ctx.Err() == nil {
			return e.store, nil
		}
		return nil, fmt.Errorf("pdclient: resolve store %d: %w", id, err)
	}
	return storeResult(ne)
}

func storeResult(e *storeEntry) (*Store, error) {
	if e.tombstone {
		return nil, fmt.Errorf("pdclient: store %d: %w", e.store.ID, ErrStoreTombstone)
	}
	return e.store, nil
}

// resolveStore reads the store from PD and caches the answer. The real PD
// client returns a nil store for one PD has physically removed.
func (c *RegionCache) resolveStore(ctx context.Context, id uint64) (*storeEntry, error) {
	s, err := retryLoad(ctx, func(retry bool) (*metapb.Store, error) {
		var opts []opt.GetStoreOption
		if retry {
			opts = append(opts, opt.WithPDLeaderHandleStoreRequestOnly())
		}
		return c.pd.GetStore(ctx, id, opts...)
	})
	if err != nil {
		return nil, err
	}
	e := &storeEntry{store: &Store{ID: id}}
	if s == nil || s.GetState() == metapb.StoreState_Tombstone || s.GetNodeState() == metapb.NodeState_Removed {
		e.tombstone = true
	} else {
		e.store = &Store{ID: id, Addr: s.GetAddress(), State: s.GetState(), Labels: s.GetLabels()}
	}
	c.storeMu.Lock()
	var retired string
	if old := c.stores[id]; old != nil && old.store.Addr != "" && old.store.Addr != e.store.Addr {
		// The store moved (or is gone): its old address is someone else's
		// now, or no one's.
		retired = old.store.Addr
	}
	c.stores[id] = e
	c.storeMu.Unlock()
	c.retireAddr(retired)
	return e, nil
}

// Stores returns every store PD lists that is not removed (tombstone), in
// store-id order, read from PD on every call: fan-outs to all stores (the
// AllStores plan) must see stores added since the cache last looked. The
// answers do not touch the store cache: Store keeps its own rules for when
// to ask PD again.
func (c *RegionCache) Stores(ctx context.Context) ([]*Store, error) {
	all, err := retryLoad(ctx, func(bool) ([]*metapb.Store, error) {
		return c.pd.GetAllStores(ctx, opt.WithExcludeTombstone())
	})
	if err != nil {
		return nil, fmt.Errorf("pdclient: list stores: %w", err)
	}
	out := make([]*Store, 0, len(all))
	for _, s := range all {
		if s.GetState() == metapb.StoreState_Tombstone || s.GetNodeState() == metapb.NodeState_Removed {
			continue
		}
		out = append(out, &Store{ID: s.GetId(), Addr: s.GetAddress(), State: s.GetState(), Labels: s.GetLabels()})
	}
	slices.SortFunc(out, func(a, b *Store) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// retireAddr tells the cache's owner that addr no longer belongs to the
// store the cache knew there (WithAddrRetired).
func (c *RegionCache) retireAddr(addr string) {
	if addr != "" && c.cfg.addrRetired != nil {
		c.cfg.addrRetired(addr)
	}
}

// OnStoreFailure marks the store to be re-resolved from PD on its next use:
// a send to it failed and its address may have changed. Unknown stores are
// ignored. Safe for concurrent use.
func (c *RegionCache) OnStoreFailure(storeID uint64) {
	c.storeMu.Lock()
	defer c.storeMu.Unlock()
	if e := c.stores[storeID]; e != nil && !e.tombstone {
		c.stores[storeID] = &storeEntry{store: e.store, stale: true}
	}
}

// OnStoreNotMatch takes TiKV's StoreNotMatch from the store at the address
// the cache has for storeID: that address now belongs to another store.
// The store is re-resolved from PD on next use, and its address is retired
// (WithAddrRetired), so connections made for it are closed rather than
// reused for a store they were not meant for. Safe for concurrent use.
func (c *RegionCache) OnStoreNotMatch(storeID uint64) {
	c.storeMu.Lock()
	var retired string
	if e := c.stores[storeID]; e != nil && !e.tombstone {
		retired = e.store.Addr
		c.stores[storeID] = &storeEntry{store: e.store, stale: true}
	}
	c.storeMu.Unlock()
	c.retireAddr(retired)
}

// StoreLabels returns the labels of a store the cache has resolved, or nil
// when it has not (selection then treats the store as not matching). Safe
// for concurrent use.
func (c *RegionCache) StoreLabels(id uint64) []*metapb.StoreLabel {
	c.storeMu.RLock()
	defer c.storeMu.RUnlock()
	if e := c.stores[id]; e != nil && !e.tombstone {
		return e.store.Labels
	}
	return nil
}
