package pdclient

import (
	"context"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// Locator routes keys to regions and regions to stores, and takes the
// pipeline's feedback when TiKV says the routing was stale. RegionCache is
// the implementation; tests may substitute their own.
//
// All methods are safe for concurrent use. Keys are the keys as sent to TiKV
// by the pipeline.
type Locator interface {
	// Locate returns the region containing key.
	Locate(ctx context.Context, key []byte) (*Region, error)
	// LocateEndKey returns the region holding the keys just below key (the
	// region r with r.StartKey < key <= r.EndKey); an empty key names the
	// last region. Reverse scans walk regions this way.
	LocateEndKey(ctx context.Context, key []byte) (*Region, error)
	// LocateByID returns the region with the given id.
	LocateByID(ctx context.Context, id uint64) (*Region, error)
	// LoadRange returns, in key order, the regions covering [start, end)
	// (end empty: to the end of the key space), at most limit of them when
	// limit > 0. Regions missing from the cache are loaded in one batch.
	LoadRange(ctx context.Context, start, end []byte, limit int) ([]*Region, error)
	// Store returns the store's current metadata (its address, chiefly).
	Store(ctx context.Context, id uint64) (*Store, error)

	// UpdateLeader records that leader leads r (TiKV's NotLeader hint). It
	// returns the updated region to route the next attempt with, or nil when
	// leader is not one of r's peers: r is then invalidated and must be
	// located again.
	UpdateLeader(r *Region, leader *metapb.Peer) *Region
	// OnEpochNotMatch takes the regions TiKV reported as current when it
	// rejected r's epoch. Regions newer than the cached ones replace every
	// region they overlap, led by their peer on storeID (the store that
	// answered, which is a leader). It reports whether r may be retried as
	// is: true only when TiKV's view is older than r (a lagging replica).
	OnEpochNotMatch(r *Region, storeID uint64, current []*metapb.Region) (retrySame bool)
	// Invalidate drops r from the cache if the cache still holds that
	// version, so the next lookup asks PD.
	Invalidate(r *Region)
	// OnStoreFailure reports that a send to storeID failed: the store's
	// address is re-resolved on next use.
	OnStoreFailure(storeID uint64)
}
