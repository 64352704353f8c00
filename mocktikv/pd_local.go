package mocktikv

import (
	"context"
	"fmt"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/opt"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
)

// PD returns the in-process PD: a pdclient.PD answering from the Cluster's
// model without gRPC, with the same data and semantics as the PD gRPC
// service (every result is a copy): regions carry their down and pending
// peers, and their buckets when opt.WithBuckets is given; GetAllStores
// honours opt.WithExcludeTombstone. Scripted PD faults apply under the
// method names the real client's calls hit (see FailPD), and GetTS waits
// while the TSO is paused. Its Close is a no-op; it works without Serve and
// after Close. Safe for concurrent use.
func (c *Cluster) PD() pdclient.PD { return localPD{c} }

type localPD struct{ c *Cluster }

var _ pdclient.PD = localPD{}

// call runs answer as the gRPC PD would run method: it fails the call if
// ctx is done or a failure is scripted, and waits the scripted delay after
// answering.
func (p localPD) call(ctx context.Context, method string, answer func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.c.pdFaults.failure(method); err != nil {
		return err
	}
	if err := answer(); err != nil {
		return err
	}
	return p.c.pdFaults.delay(ctx, method)
}

func needBuckets(opts []opt.GetRegionOption) bool {
	op := &opt.GetRegionOp{}
	for _, o := range opts {
		o(op)
	}
	return op.NeedBuckets
}

func toRouterRegion(r *regionState, needBuckets bool) *router.Region {
	if r == nil {
		return nil
	}
	cp := r.copyOut(time.Now(), needBuckets)
	return &router.Region{
		Meta:         cp.meta,
		Leader:       cp.leader,
		DownPeers:    cp.downPeerList(),
		PendingPeers: cp.pending,
		Buckets:      cp.buckets,
	}
}

// region serves the three point lookups, which the real client sends over
// the QueryRegion stream.
func (p localPD) region(ctx context.Context, opts []opt.GetRegionOption, find func() *regionState) (*router.Region, error) {
	var out *router.Region
	err := p.call(ctx, "QueryRegion", func() error {
		p.c.mu.RLock()
		defer p.c.mu.RUnlock()
		out = toRouterRegion(find(), needBuckets(opts))
		return nil
	})
	return out, err
}

// GetRegion returns the region containing key.
func (p localPD) GetRegion(ctx context.Context, key []byte, opts ...opt.GetRegionOption) (*router.Region, error) {
	return p.region(ctx, opts, func() *regionState { return p.c.regionByKeyLocked(key) })
}

// GetPrevRegion returns the region before the one containing key, or nil.
func (p localPD) GetPrevRegion(ctx context.Context, key []byte, opts ...opt.GetRegionOption) (*router.Region, error) {
	return p.region(ctx, opts, func() *regionState { return p.c.prevRegionLocked(key) })
}

// GetRegionByID returns the region with the given id, or nil.
func (p localPD) GetRegionByID(ctx context.Context, regionID uint64, opts ...opt.GetRegionOption) (*router.Region, error) {
	return p.region(ctx, opts, func() *regionState { return p.c.byID[regionID] })
}

// BatchScanRegions returns the regions covering the ranges, as PD does.
func (p localPD) BatchScanRegions(ctx context.Context, keyRanges []router.KeyRange, limit int, opts ...opt.GetRegionOption) ([]*router.Region, error) {
	ranges := make([]keyRange, len(keyRanges))
	for i, r := range keyRanges {
		ranges[i] = keyRange{start: r.StartKey, end: r.EndKey}
	}
	var out []*router.Region
	err := p.call(ctx, "BatchScanRegions", func() error {
		p.c.mu.RLock()
		defer p.c.mu.RUnlock()
		regions, err := p.c.batchScanRegionsLocked(ranges, limit)
		if err != nil {
			return err
		}
		out = make([]*router.Region, len(regions))
		for i, r := range regions {
			out[i] = toRouterRegion(r, needBuckets(opts))
		}
		return nil
	})
	return out, err
}

// GetStore returns one store's metadata; like the real client, it returns
// a nil store for a tombstone (whose node state is Removed).
func (p localPD) GetStore(ctx context.Context, storeID uint64, _ ...opt.GetStoreOption) (*metapb.Store, error) {
	var out *metapb.Store
	err := p.call(ctx, "GetStore", func() error {
		p.c.mu.RLock()
		defer p.c.mu.RUnlock()
		s, err := p.c.storeLocked(storeID)
		if err == nil && s.NodeState != metapb.NodeState_Removed {
			out = s
		}
		return err
	})
	return out, err
}

// GetAllStores returns every store's metadata.
func (p localPD) GetAllStores(ctx context.Context, opts ...opt.GetStoreOption) ([]*metapb.Store, error) {
	op := &opt.GetStoreOp{}
	for _, o := range opts {
		o(op)
	}
	var out []*metapb.Store
	err := p.call(ctx, "GetAllStores", func() error {
		p.c.mu.RLock()
		defer p.c.mu.RUnlock()
		out = p.c.allStoresLocked(op.ExcludeTombstone)
		return nil
	})
	return out, err
}

// GetTS returns a timestamp from the cluster's TSO, shared with the gRPC PD.
// It waits while the TSO is paused, giving up when ctx ends.
func (p localPD) GetTS(ctx context.Context) (physical, logical int64, err error) {
	if err := p.c.tso.wait(ctx); err != nil {
		return 0, 0, err
	}
	err = p.call(ctx, "Tso", func() error {
		physical, logical, err = p.c.tso.next(1)
		return err
	})
	return physical, logical, err
}

// Close does nothing: the in-process PD owns no resources.
func (localPD) Close() {}

// LoadKeyspace returns a keyspace's metadata by name, as pd.Client's
// KeyspaceClient does; an unknown name is an error wrapping
// kv.ErrKeyspaceNotFound, as the client's gRPC path reports PD's
// ENTRY_NOT_FOUND (pdclient/keyspace_load.go), so both fail alike.
func (p localPD) LoadKeyspace(ctx context.Context, name string) (*keyspacepb.KeyspaceMeta, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := p.c.keyspaces.byName(name)
	if m == nil {
		return nil, fmt.Errorf("%w: PD: %s", kv.ErrKeyspaceNotFound, errKeyspaceNotFound)
	}
	return proto.Clone(m).(*keyspacepb.KeyspaceMeta), nil
}
