package pdclient

import (
	"context"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/tikv/pd/client/clients/gc"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/opt"
)

// PD is the part of github.com/tikv/pd/client.Client that tikvgo uses. The
// real client satisfies it, and so does mocktikv's in-process cluster.
//
// Keys passed to and returned by PD are the keys as stored in TiKV (raw keys
// in RawKV mode, memcomparable-encoded keys in transactional mode); the
// RegionCache translates.
type PD interface {
	// GetRegion returns the region containing key. A nil region with a nil
	// error means PD does not know one yet; callers retry.
	GetRegion(ctx context.Context, key []byte, opts ...opt.GetRegionOption) (*router.Region, error)
	// GetPrevRegion returns the region before the one containing key.
	GetPrevRegion(ctx context.Context, key []byte, opts ...opt.GetRegionOption) (*router.Region, error)
	// GetRegionByID returns the region with the given id.
	GetRegionByID(ctx context.Context, regionID uint64, opts ...opt.GetRegionOption) (*router.Region, error)
	// BatchScanRegions returns, in key order, the regions covering the key
	// ranges, at most limit of them (all when limit <= 0).
	BatchScanRegions(ctx context.Context, keyRanges []router.KeyRange, limit int, opts ...opt.GetRegionOption) ([]*router.Region, error)
	// GetStore returns one store's metadata.
	GetStore(ctx context.Context, storeID uint64, opts ...opt.GetStoreOption) (*metapb.Store, error)
	// GetAllStores returns every store's metadata.
	GetAllStores(ctx context.Context, opts ...opt.GetStoreOption) ([]*metapb.Store, error)
	// GetTS returns a fresh timestamp from the TSO as its physical
	// (milliseconds since the Unix epoch) and logical parts.
	GetTS(ctx context.Context) (physical, logical int64, err error)
	// GetGCStatesClient returns the client of PD's GC states (txn safe
	// point, GC safe point, GC barriers) that keyspaceID is under;
	// NullKeyspaceID names the unified states (see GCStateKeyspace).
	GetGCStatesClient(keyspaceID uint32) gc.GCStatesClient
	// ScatterRegions asks PD to scatter the regions (move their peers
	// and leaders across stores); the response lists the regions PD could
	// not scatter, and a header error comes back as a Go error. The
	// transactional committer scatters the regions it pre-splits
	// (txn/internal/twopc/presplit_scatter.go).
	ScatterRegions(ctx context.Context, regionIDs []uint64, opts ...opt.RegionsOption) (*pdpb.ScatterRegionResponse, error)
	// GetOperator returns the last operator PD ran or runs on a region;
	// a region without one is answered with a REGION_NOT_FOUND header
	// error in the response, not a Go error.
	GetOperator(ctx context.Context, regionID uint64) (*pdpb.GetOperatorResponse, error)
	// Close releases the client's connections and goroutines.
	Close()
}
