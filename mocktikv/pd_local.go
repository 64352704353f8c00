package mocktikv

import (
	"context"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/opt"

	"github.com/tikvgo/tikv/pdclient"
)

// PD returns the in-process PD: a pdclient.PD answering from the Cluster's
// model without gRPC, with the same data and semantics as the PD gRPC
// service (every result is a copy). Options are accepted and ignored (there
// are no buckets, followers or tombstones). Its Close is a no-op; it works
// without Serve and after Close. Safe for concurrent use.
func (c *Cluster) PD() pdclient.PD { return localPD{c} }

type localPD struct{ c *Cluster }

var _ pdclient.PD = localPD{}

func toRouterRegion(r *regionState) *router.Region {
	if r == nil {
		return nil
	}
	cp := r.copyOut()
	return &router.Region{Meta: cp.meta, Leader: cp.leader}
}

// GetRegion returns the region containing key.
func (p localPD) GetRegion(ctx context.Context, key []byte, _ ...opt.GetRegionOption) (*router.Region, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.c.mu.RLock()
	defer p.c.mu.RUnlock()
	return toRouterRegion(p.c.regionByKeyLocked(key)), nil
}

// GetPrevRegion returns the region before the one containing key, or nil.
func (p localPD) GetPrevRegion(ctx context.Context, key []byte, _ ...opt.GetRegionOption) (*router.Region, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.c.mu.RLock()
	defer p.c.mu.RUnlock()
	return toRouterRegion(p.c.prevRegionLocked(key)), nil
}

// GetRegionByID returns the region with the given id, or nil.
func (p localPD) GetRegionByID(ctx context.Context, regionID uint64, _ ...opt.GetRegionOption) (*router.Region, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.c.mu.RLock()
	defer p.c.mu.RUnlock()
	return toRouterRegion(p.c.byID[regionID]), nil
}

// BatchScanRegions returns the regions covering the ranges, as PD does.
func (p localPD) BatchScanRegions(ctx context.Context, keyRanges []router.KeyRange, limit int, _ ...opt.GetRegionOption) ([]*router.Region, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ranges := make([]keyRange, len(keyRanges))
	for i, r := range keyRanges {
		ranges[i] = keyRange{start: r.StartKey, end: r.EndKey}
	}
	p.c.mu.RLock()
	defer p.c.mu.RUnlock()
	regions, err := p.c.batchScanRegionsLocked(ranges, limit)
	if err != nil {
		return nil, err
	}
	out := make([]*router.Region, len(regions))
	for i, r := range regions {
		out[i] = toRouterRegion(r)
	}
	return out, nil
}

// GetStore returns one store's metadata.
func (p localPD) GetStore(ctx context.Context, storeID uint64, _ ...opt.GetStoreOption) (*metapb.Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.c.mu.RLock()
	defer p.c.mu.RUnlock()
	return p.c.storeLocked(storeID)
}

// GetAllStores returns every store's metadata.
func (p localPD) GetAllStores(ctx context.Context, _ ...opt.GetStoreOption) ([]*metapb.Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.c.mu.RLock()
	defer p.c.mu.RUnlock()
	return p.c.allStoresLocked(), nil
}

// GetTS returns a timestamp from the cluster's TSO, shared with the gRPC PD.
func (p localPD) GetTS(ctx context.Context) (physical, logical int64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	return p.c.tso.next(1)
}

// Close does nothing: the in-process PD owns no resources.
func (localPD) Close() {}
