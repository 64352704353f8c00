package pipelinetest

import (
	"fmt"
	"reflect"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/transport"
)

// maxSiblings bounds the regions an EpochNotMatch carries besides the
// current one (TiKV's MAX_REGIONS_IN_ERROR).
const maxSiblings = 10

// RegionErrorResponse builds the answer TiKV gives when it rejects a
// request with a region error: an empty response of cmd's type
// (cmd.NewResponse()) whose RegionError field is e. It panics for a
// command whose response has no such field.
func RegionErrorResponse(cmd transport.Cmd, e *errorpb.Error) *transport.Response {
	msg := cmd.NewResponse()
	f := reflect.ValueOf(msg).Elem().FieldByName("RegionError")
	if !f.IsValid() || f.Type() != reflect.TypeOf(e) {
		panic(fmt.Sprintf("pipelinetest: %s responses carry no region error", cmd))
	}
	f.Set(reflect.ValueOf(e))
	return &transport.Response{Msg: msg}
}

// checkRegion applies TiKV's region and peer checks to an attempt, in
// TiKV's order (raftstore's fsm/peer.rs pre_propose_raft_command and the
// local reader's validate_request in worker/read.rs): StoreNotMatch,
// RegionNotFound, MismatchPeerId, NotLeader, EpochNotMatch. It returns the
// true region the attempt may be served by, or TiKV's region error.
// Commands without a kvrpcpb.Context, and attempts addressed to no region
// (region id 0), are store-level: nothing is checked.
func (c *Cluster) checkRegion(req *transport.Request) (*pdclient.Region, *errorpb.Error) {
	if !req.Cmd.HasContext() {
		return nil, nil
	}
	rctx := req.Cmd.Context(req.Msg)
	if rctx.GetRegionId() == 0 {
		return nil, nil
	}
	store := req.Target.StoreID
	if p := rctx.GetPeer(); p != nil && p.GetStoreId() != store {
		return nil, &errorpb.Error{Message: "store not match", StoreNotMatch: &errorpb.StoreNotMatch{RequestStoreId: p.GetStoreId(), ActualStoreId: store}}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	i := -1
	for j, r := range c.regions {
		if r.ID() == rctx.GetRegionId() {
			i = j
		}
	}
	if i < 0 || c.regions[i].PeerOnStore(store) == nil {
		return nil, &errorpb.Error{Message: fmt.Sprintf("region %d is missing", rctx.GetRegionId()), RegionNotFound: &errorpb.RegionNotFound{RegionId: rctx.GetRegionId()}}
	}
	region := c.regions[i]
	local := region.PeerOnStore(store)
	if p := rctx.GetPeer(); p != nil && p.GetId() != local.GetId() {
		return nil, &errorpb.Error{Message: "mismatch peer id", MismatchPeerId: &errorpb.MismatchPeerId{RequestPeerId: p.GetId(), StorePeerId: local.GetId()}}
	}
	// Followers serve reads that ask for a replica or stale read; writes
	// only ever go to the leader, whatever the flags say.
	replicaRead := !req.Cmd.IsWrite() && (rctx.GetReplicaRead() || rctx.GetStaleRead())
	if local.GetId() != region.Leader().GetId() && !replicaRead {
		return nil, &errorpb.Error{Message: "not leader", NotLeader: &errorpb.NotLeader{RegionId: region.ID(), Leader: region.Leader()}}
	}
	// Normal requests have their epoch's version compared, by equality,
	// never its conf_ver (TiKV's check_req_region_epoch).
	if got, want := rctx.GetRegionEpoch().GetVersion(), region.Epoch().GetVersion(); got != want {
		current := []*metapb.Region{region.Meta()}
		if got < want {
			current = append(current, c.siblingsLocked(i, got)...)
		}
		return nil, &errorpb.Error{Message: "epoch not match", EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: current}}
	}
	return region, nil
}

// siblingsLocked returns the regions after region i that TiKV names in an
// EpochNotMatch answering a request at version requested, as raftstore's
// collect_sibling_region (fsm/peer.rs) does with right_derive_when_split
// off, which is how Split derives regions: the regions split off a region
// lie to its right, so one for each version the request missed, counting
// on while a sibling is newer still, at most maxSiblings.
func (c *Cluster) siblingsLocked(i int, requested uint64) []*metapb.Region {
	maxVersion := c.regions[i].Epoch().GetVersion()
	left := maxVersion - requested
	var out []*metapb.Region
	for j := i + 1; j < len(c.regions) && len(out) < maxSiblings; j++ {
		r := c.regions[j]
		left--
		if v := r.Epoch().GetVersion(); v >= maxVersion {
			left += v - maxVersion
			maxVersion = v
		}
		out = append(out, r.Meta())
		if left == 0 {
			break
		}
	}
	return out
}
