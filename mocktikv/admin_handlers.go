package mocktikv

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/internal/codec"
	"github.com/tikvgo/tikv/transport"
)

// registerAdminHandlers adds store- and region-level commands that are not
// data reads or writes (SplitRegion, ...).
func registerAdminHandlers(t handlerTable) {
	t[transport.CmdSplitRegion] = typed((*Cluster).splitRegion)
}

// splitRegionKeys returns a SplitRegion request's keys in stored form,
// sorted, as TiKV's kv.rs split_region prepares them: the deprecated
// split_key wins when set; transactional keys are memcomparable-encoded
// (Key::from_raw); raw keys are stored as is in API v1 and encoded in API
// v2.
func splitRegionKeys(req *kvrpcpb.SplitRegionRequest) [][]byte {
	keys := req.GetSplitKeys()
	if len(req.GetSplitKey()) > 0 {
		keys = [][]byte{req.GetSplitKey()}
	}
	encode := !req.GetIsRawKv() || req.GetContext().GetApiVersion() == kvrpcpb.APIVersion_V2
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if encode {
			out[i] = codec.EncodeBytes(nil, k)
		} else {
			out[i] = bytes.Clone(k)
		}
	}
	slices.SortFunc(out, bytes.Compare)
	return out
}

// splitRegion is TiKV's SplitRegion: the request goes to the region's
// leader as a casual message, so the store and peer ids are not checked
// (only that this store holds a peer of the region); then
// util::validate_split_region (keys present, version equal — conf_ver is
// not compared —, no empty key, each key inside the region) and, at apply,
// validate_batch_split (keys strictly ascending and after the region's
// start). The resulting regions come back in key order with their stored
// boundaries; left and right are set only for a two-way split.
func (c *Cluster) splitRegion(storeID uint64, req *kvrpcpb.SplitRegionRequest) *kvrpcpb.SplitRegionResponse {
	keys := splitRegionKeys(req)
	ctx := req.GetContext()
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.byID[ctx.GetRegionId()]
	if r == nil || peerOnStore(r.meta, storeID) == nil {
		return &kvrpcpb.SplitRegionResponse{RegionError: &errorpb.Error{
			Message:        fmt.Sprintf("region %d not found", ctx.GetRegionId()),
			RegionNotFound: &errorpb.RegionNotFound{RegionId: ctx.GetRegionId()},
		}}
	}
	local := peerOnStore(r.meta, storeID)
	// on_prepare_split_region: only the leader splits.
	if r.leaderStore != storeID {
		leader := clonePeer(r.leader())
		return &kvrpcpb.SplitRegionResponse{RegionError: &errorpb.Error{
			Message:   fmt.Sprintf("peer is not leader for region %d", r.meta.Id),
			NotLeader: &errorpb.NotLeader{RegionId: r.meta.Id, Leader: leader},
		}}
	}
	prefix := fmt.Sprintf("[region %d] %d", r.meta.Id, local.Id)
	msgErr := func(format string, args ...any) *kvrpcpb.SplitRegionResponse {
		return &kvrpcpb.SplitRegionResponse{RegionError: &errorpb.Error{Message: prefix + " " + fmt.Sprintf(format, args...)}}
	}
	if len(keys) == 0 {
		return msgErr("no split key is specified.")
	}
	// Unlike other requests, a stale split gets only the region itself in
	// current_regions.
	if got := ctx.GetRegionEpoch(); got.GetVersion() != r.meta.RegionEpoch.Version {
		return &kvrpcpb.SplitRegionResponse{RegionError: &errorpb.Error{
			Message: fmt.Sprintf("%s epoch changed %s != %s, retry later", prefix,
				epochString(r.meta.RegionEpoch), epochString(got)),
			EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: []*metapb.Region{cloneRegion(r.meta)}},
		}}
	}
	for _, k := range keys {
		if len(k) == 0 {
			return msgErr("split key should not be empty")
		}
		if !keyInRegion(k, r.meta) {
			return &kvrpcpb.SplitRegionResponse{RegionError: keyNotInRegion(k, r.meta)}
		}
	}
	last := r.meta.StartKey
	for _, k := range keys {
		if bytes.Compare(k, last) <= 0 {
			return &kvrpcpb.SplitRegionResponse{RegionError: &errorpb.Error{
				Message: fmt.Sprintf("invalid split request: split key %X is not after %X", k, last),
			}}
		}
		last = k
	}

	regions := c.splitLocked(c.regionIndexLocked(r.meta.StartKey), keys)
	resp := &kvrpcpb.SplitRegionResponse{}
	for _, nr := range regions {
		resp.Regions = append(resp.Regions, cloneRegion(nr.meta))
	}
	if len(resp.Regions) == 2 {
		resp.Left, resp.Right = cloneRegion(resp.Regions[0]), cloneRegion(resp.Regions[1])
	}
	return resp
}
