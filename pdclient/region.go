package pdclient

import (
	"bytes"
	"fmt"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// RegionVer identifies one version of a region: its id and epoch. Two
// RegionVers are equal only when the region has not split, merged or changed
// membership in between.
type RegionVer struct {
	ID      uint64
	ConfVer uint64
	Version uint64
}

// String formats the version as "id/confVer/version".
func (v RegionVer) String() string { return fmt.Sprintf("%d/%d/%d", v.ID, v.ConfVer, v.Version) }

// Region is an immutable snapshot of one region as the client last knew it:
// its metadata and the peer believed to lead it. Updates (a new leader, a new
// epoch) produce a new *Region; a pointer held by a request keeps describing
// what that request was routed with.
type Region struct {
	meta      *metapb.Region
	leader    *metapb.Peer
	buckets   *metapb.Buckets
	downPeers []*metapb.Peer
}

// NewRegion builds a Region from PD metadata. leader may be nil or have a
// zero id when the region has no known leader.
func NewRegion(meta *metapb.Region, leader *metapb.Peer) *Region {
	if leader != nil && leader.GetId() == 0 {
		leader = nil
	}
	return &Region{meta: meta, leader: leader}
}

// ID returns the region id.
func (r *Region) ID() uint64 { return r.meta.GetId() }

// Ver returns the region's id and epoch.
func (r *Region) Ver() RegionVer {
	ep := r.meta.GetRegionEpoch()
	return RegionVer{ID: r.meta.GetId(), ConfVer: ep.GetConfVer(), Version: ep.GetVersion()}
}

// Epoch returns the region epoch as TiKV checks it in kvrpcpb.Context.
func (r *Region) Epoch() *metapb.RegionEpoch { return r.meta.GetRegionEpoch() }

// StartKey returns the first key of the region (empty for the first region).
func (r *Region) StartKey() []byte { return r.meta.GetStartKey() }

// EndKey returns the end of the region, exclusive (empty for the last).
func (r *Region) EndKey() []byte { return r.meta.GetEndKey() }

// Meta returns the region's metadata. Callers must not modify it.
func (r *Region) Meta() *metapb.Region { return r.meta }

// Leader returns the peer believed to lead the region, or nil when unknown.
func (r *Region) Leader() *metapb.Peer { return r.leader }

// Peers returns the region's peers (voters and learners).
func (r *Region) Peers() []*metapb.Peer { return r.meta.GetPeers() }

// PeerOnStore returns the region's peer on storeID, or nil.
func (r *Region) PeerOnStore(storeID uint64) *metapb.Peer {
	for _, p := range r.meta.GetPeers() {
		if p.GetStoreId() == storeID {
			return p
		}
	}
	return nil
}

// WithLeader returns a copy of r led by leader.
func (r *Region) WithLeader(leader *metapb.Peer) *Region {
	nr := *r
	if leader != nil && leader.GetId() == 0 {
		leader = nil
	}
	nr.leader = leader
	return &nr
}

// WithBuckets returns a copy of r with the given bucket boundaries.
func (r *Region) WithBuckets(b *metapb.Buckets) *Region {
	nr := *r
	nr.buckets = b
	return &nr
}

// WithDownPeers returns a copy of r noting the peers PD reports down.
func (r *Region) WithDownPeers(peers []*metapb.Peer) *Region {
	nr := *r
	nr.downPeers = peers
	return &nr
}

// IsPeerDown reports whether PD said the peer is down (it stopped sending
// heartbeats); such peers are not chosen for reads.
func (r *Region) IsPeerDown(peerID uint64) bool {
	for _, p := range r.downPeers {
		if p.GetId() == peerID {
			return true
		}
	}
	return false
}

// HasDownPeers reports whether PD reported any peer of r down.
func (r *Region) HasDownPeers() bool { return len(r.downPeers) > 0 }

// Buckets returns the region's buckets (finer key ranges TiKV keeps
// statistics for, used to split large scans), or nil when PD sent none.
func (r *Region) Buckets() *metapb.Buckets { return r.buckets }

// BucketVersion returns the version of the region's buckets, 0 without.
func (r *Region) BucketVersion() uint64 { return r.buckets.GetVersion() }

// Contains reports whether key lies in the region.
func (r *Region) Contains(key []byte) bool {
	return bytes.Compare(key, r.meta.GetStartKey()) >= 0 &&
		(len(r.meta.GetEndKey()) == 0 || bytes.Compare(key, r.meta.GetEndKey()) < 0)
}

// ContainsByEnd reports whether the keys just below key belong to the
// region, that is Start < key <= End. An empty key means the end of the key
// space. Reverse scans locate regions this way.
func (r *Region) ContainsByEnd(key []byte) bool {
	if len(key) == 0 {
		return len(r.meta.GetEndKey()) == 0
	}
	return bytes.Compare(r.meta.GetStartKey(), key) < 0 &&
		(len(r.meta.GetEndKey()) == 0 || bytes.Compare(key, r.meta.GetEndKey()) <= 0)
}

// String formats the region for logs and errors.
func (r *Region) String() string {
	leader := uint64(0)
	if r.leader != nil {
		leader = r.leader.GetStoreId()
	}
	return fmt.Sprintf("region %s [%q, %q) leader on store %d", r.Ver(), r.StartKey(), r.EndKey(), leader)
}

// Store is the client's view of one TiKV store.
type Store struct {
	ID     uint64
	Addr   string
	State  metapb.StoreState
	Labels []*metapb.StoreLabel
}
