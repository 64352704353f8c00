package mocktikv

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
)

// PD's region queries over the Cluster's layout, shared by the gRPC PD
// service and the in-process PD. They follow PD's pkg/core RegionsInfo and
// regionTree. Callers hold c.mu for reading and copy what they return.

// regionCopy is a region as PD reports it: copies of its meta and leader,
// the peers its leader reports down or pending, and, when asked for, its
// buckets.
type regionCopy struct {
	meta    *metapb.Region
	leader  *metapb.Peer
	down    []*pdpb.PeerStats
	pending []*metapb.Peer
	buckets *metapb.Buckets
}

// copyOut copies r as PD reports it at now. Buckets are included only when
// needBuckets is set: PD sends them only to requests with need_buckets.
func (r *regionState) copyOut(now time.Time, needBuckets bool) regionCopy {
	cp := regionCopy{meta: cloneRegion(r.meta), leader: clonePeer(r.leader())}
	for _, p := range r.meta.Peers {
		if since, ok := r.downPeers[p.Id]; ok {
			cp.down = append(cp.down, &pdpb.PeerStats{Peer: clonePeer(p), DownSeconds: uint64(max(now.Sub(since), 0) / time.Second)})
		}
		if slices.Contains(r.pendingPeers, p.Id) {
			cp.pending = append(cp.pending, clonePeer(p))
		}
	}
	if needBuckets && r.buckets != nil {
		cp.buckets = proto.Clone(r.buckets).(*metapb.Buckets)
	}
	return cp
}

// downPeerList returns the down peers as the router client reports them.
func (cp regionCopy) downPeerList() []*metapb.Peer {
	var out []*metapb.Peer
	for _, d := range cp.down {
		out = append(out, d.Peer)
	}
	return out
}

// prevRegionLocked is regionTree.searchPrev: the region ending where the
// region containing key starts, or nil.
func (c *Cluster) prevRegionLocked(key []byte) *regionState {
	i := c.regionIndexLocked(key)
	if i <= 0 {
		return nil
	}
	if prev := c.regions[i-1]; bytes.Equal(prev.meta.EndKey, c.regions[i].meta.StartKey) {
		return prev
	}
	return nil
}

// scanRegionsLocked is RegionsInfo.ScanRegions: the regions intersecting
// [start, end) (an empty end is unbounded), at most limit of them (all when
// limit <= 0).
func (c *Cluster) scanRegionsLocked(start, end []byte, limit int) []*regionState {
	i := c.regionIndexLocked(start)
	if i < 0 {
		i = 0
	}
	var out []*regionState
	for ; i < len(c.regions); i++ {
		r := c.regions[i]
		if len(end) > 0 && bytes.Compare(r.meta.StartKey, end) >= 0 {
			break
		}
		if limit > 0 && len(out) >= limit {
			break
		}
		out = append(out, r)
	}
	return out
}

// keyRange is one [start, end) range of a BatchScanRegions request.
type keyRange struct {
	start, end []byte
}

// errRangesOverlapped and errRangeInverted are PD's validation failures for
// BatchScanRegions (pkg/utils/grpcutil BatchScanRegions).
var (
	errRangesOverlapped = errors.New("invalid key range, ranges overlapped")
	errRangeInverted    = errors.New("invalid key range, start key > end key")
)

// batchScanRegionsLocked is PD's BatchScanRegions: ranges must be sorted and
// disjoint; the regions covering each range are listed in key order, a
// region shared by two consecutive ranges once, at most limit in total (all
// when limit <= 0).
func (c *Cluster) batchScanRegionsLocked(ranges []keyRange, limit int) ([]*regionState, error) {
	for i, r := range ranges {
		if i > 0 && bytes.Compare(r.start, ranges[i-1].end) < 0 {
			return nil, errRangesOverlapped
		}
		if len(r.end) > 0 && bytes.Compare(r.start, r.end) > 0 {
			return nil, errRangeInverted
		}
	}
	var out []*regionState
	for _, r := range ranges {
		regions := c.scanRegionsLocked(r.start, r.end, limit)
		if len(out) > 0 && len(regions) > 0 && out[len(out)-1] == regions[0] {
			regions = regions[1:]
		}
		out = append(out, regions...)
		if limit > 0 && len(out) >= limit {
			return out[:limit], nil
		}
	}
	return out, nil
}

// storeLocked returns a copy of a store's metadata or PD's error for an
// unknown id.
func (c *Cluster) storeLocked(id uint64) (*metapb.Store, error) {
	s, ok := c.stores[id]
	if !ok {
		return nil, fmt.Errorf("invalid store ID %d, not found", id)
	}
	return cloneStore(s.meta), nil
}

// allStoresLocked returns copies of every store's metadata, leaving out
// tombstones when excludeTombstone is set (GetAllStores'
// exclude_tombstone_stores).
func (c *Cluster) allStoresLocked(excludeTombstone bool) []*metapb.Store {
	out := make([]*metapb.Store, 0, len(c.order))
	for _, id := range c.order {
		s := c.stores[id].meta
		if excludeTombstone && s.State == metapb.StoreState_Tombstone {
			continue
		}
		out = append(out, cloneStore(s))
	}
	return out
}
