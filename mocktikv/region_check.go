package mocktikv

import (
	"fmt"
	"strings"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maxRegionsInEpochError bounds the siblings an EpochNotMatch carries
// (raftstore's MAX_REGIONS_IN_ERROR).
const maxRegionsInEpochError = 10

// checkClusterID applies TiKV's service-level rule (src/server/service/kv.rs):
// a request whose context names another cluster fails the whole RPC with
// INVALID_ARGUMENT; zero means "not set" and passes.
func (c *Cluster) checkClusterID(ctx *kvrpcpb.Context) error {
	if id := ctx.GetClusterId(); id != 0 && id != c.clusterID {
		return status.Error(codes.InvalidArgument, "the cluster id of the request does not match the TiKV cluster")
	}
	return nil
}

// checkRegionLocked applies raftstore's request-header checks for a request
// that reached storeID, in TiKV's order, and returns the region the request
// may run against, or the region error TiKV would answer with. The caller
// holds c.mu for reading.
//
// Reads go through TiKV's local reader (components/raftstore/src/store/
// worker/read.rs), which checks the store id before looking up the region;
// writes are routed to the region's peer first and checked in
// pre_propose_raft_command, so for them an unknown region is reported before
// a wrong store.
func (c *Cluster) checkRegionLocked(storeID uint64, write bool, ctx *kvrpcpb.Context) (*regionState, *errorpb.Error) {
	reqPeer := ctx.GetPeer()

	// util::check_store_id: the peer named in the request must be on this
	// store. An unset peer (store id 0) therefore fails too.
	storeNotMatch := func() *errorpb.Error {
		if reqPeer.GetStoreId() == storeID {
			return nil
		}
		return &errorpb.Error{
			Message:       fmt.Sprintf("to store id %d, mine %d", reqPeer.GetStoreId(), storeID),
			StoreNotMatch: &errorpb.StoreNotMatch{RequestStoreId: reqPeer.GetStoreId(), ActualStoreId: storeID},
		}
	}
	if !write {
		if e := storeNotMatch(); e != nil {
			return nil, e
		}
	}

	// RegionNotFound: this store holds no peer of the region. The local
	// reader words it "is missing", the raft router "not found".
	r := c.byID[ctx.GetRegionId()]
	local := (*metapb.Peer)(nil)
	if r != nil {
		local = peerOnStore(r.meta, storeID)
	}
	if local == nil {
		msg := fmt.Sprintf("region %d not found", ctx.GetRegionId())
		if !write {
			msg = fmt.Sprintf("region %d is missing", ctx.GetRegionId())
		}
		return nil, &errorpb.Error{
			Message:        msg,
			RegionNotFound: &errorpb.RegionNotFound{RegionId: ctx.GetRegionId()},
		}
	}
	if write {
		if e := storeNotMatch(); e != nil {
			return nil, e
		}
	}

	// util::check_peer_id: the request must name this store's peer.
	if reqPeer.GetId() != local.Id {
		return nil, &errorpb.Error{
			Message:        fmt.Sprintf("mismatch peer id %d != %d", reqPeer.GetId(), local.Id),
			MismatchPeerId: &errorpb.MismatchPeerId{RequestPeerId: reqPeer.GetId(), StorePeerId: local.Id},
		}
	}

	// NotLeader: only the leader serves, except reads flagged replica_read
	// or stale_read, which any peer serves. Writes never go to followers,
	// whatever the flags say. The leader hint is omitted when there is no
	// leader. (Data is shared, so a follower's safe_ts is always current and
	// a stale read never gets DataIsNotReady here.)
	followerRead := !write && (ctx.GetReplicaRead() || ctx.GetStaleRead())
	if r.leaderStore != storeID && !followerRead {
		leader := clonePeer(r.leader())
		hint := "None"
		if leader != nil {
			hint = fmt.Sprintf("Some(id: %d store_id: %d)", leader.Id, leader.StoreId)
		}
		return nil, &errorpb.Error{
			Message:   fmt.Sprintf("peer is not leader for region %d, leader may %s", r.meta.Id, hint),
			NotLeader: &errorpb.NotLeader{RegionId: r.meta.Id, Leader: leader},
		}
	}

	// util::check_region_epoch for a normal (non-admin) request compares
	// only the version, by equality: a newer version fails as well as an
	// older one. A missing epoch is the zero epoch and so fails too.
	if got := ctx.GetRegionEpoch().GetVersion(); got != r.meta.RegionEpoch.Version {
		return nil, c.epochNotMatchLocked(r, ctx.GetRegionEpoch())
	}
	return r, nil
}

// epochNotMatchLocked builds the EpochNotMatch TiKV returns: the current
// region, then, only when the request's version is older, the regions to its
// left (with right_derive_when_split the pieces split off a region lie to its
// left), nearest first, until the version gap is accounted for or
// maxRegionsInEpochError siblings are collected (PeerFsmDelegate::
// collect_sibling_region).
func (c *Cluster) epochNotMatchLocked(r *regionState, sent *metapb.RegionEpoch) *errorpb.Error {
	cur := r.meta.RegionEpoch
	regions := []*metapb.Region{cloneRegion(r.meta)}
	maxVersion := cur.Version
	if sent.GetVersion() < maxVersion {
		need := maxVersion - sent.GetVersion()
		idx := c.regionIndexLocked(r.meta.StartKey)
		for k := 1; k <= maxRegionsInEpochError && idx-k >= 0; k++ {
			sib := c.regions[idx-k].meta
			need--
			if v := sib.RegionEpoch.Version; v >= maxVersion {
				need += v - maxVersion
				maxVersion = v
			}
			regions = append(regions, cloneRegion(sib))
			if need == 0 {
				break
			}
		}
	}
	return &errorpb.Error{
		Message: fmt.Sprintf("EpochNotMatch current epoch of region %d is %s, but you sent %s",
			r.meta.Id, epochString(cur), epochString(sent)),
		EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: regions},
	}
}

// epochString renders an epoch the way TiKV's messages print it.
func epochString(e *metapb.RegionEpoch) string {
	var parts []string
	if e.GetConfVer() != 0 {
		parts = append(parts, fmt.Sprintf("conf_ver: %d", e.GetConfVer()))
	}
	if e.GetVersion() != 0 {
		parts = append(parts, fmt.Sprintf("version: %d", e.GetVersion()))
	}
	return strings.Join(parts, " ")
}

// keyNotInRegion is raftstore's KeyNotInRegion for key and region r.
func keyNotInRegion(key []byte, r *metapb.Region) *errorpb.Error {
	return &errorpb.Error{
		Message: fmt.Sprintf("key %X is not in region key range [%X, %X) for region %d",
			key, r.StartKey, r.EndKey, r.Id),
		KeyNotInRegion: &errorpb.KeyNotInRegion{
			Key:      append([]byte{}, key...),
			RegionId: r.Id,
			StartKey: append([]byte{}, r.StartKey...),
			EndKey:   append([]byte{}, r.EndKey...),
		},
	}
}

// checkKeysInRegion is util::check_key_in_region over every key, as TiKV's
// apply step checks each key of a write batch: the first key outside
// [start, end) fails the request.
func checkKeysInRegion(keys [][]byte, r *metapb.Region) *errorpb.Error {
	for _, k := range keys {
		if !keyInRegion(k, r) {
			return keyNotInRegion(k, r)
		}
	}
	return nil
}

// keySeekable is RegionSnapshot::should_seekable: an iterator may seek to a
// key in [start, end] (inclusive end, so a reverse scan may start at the
// region's end key).
func keySeekable(key []byte, r *metapb.Region) bool {
	return string(key) >= string(r.StartKey) && (len(r.EndKey) == 0 || string(key) <= string(r.EndKey))
}
