package mocktikv

import (
	"fmt"
	"strings"

	"github.com/pingcap/kvproto/pkg/coprocessor"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// maxRegionsInEpochError bounds the siblings an EpochNotMatch carries
// (raftstore's MAX_REGIONS_IN_ERROR).
const maxRegionsInEpochError = 10

// errClusterIDMismatch is TiKV's answer to a request whose context names
// another cluster (src/server/service/kv.rs): INVALID_ARGUMENT for a unary
// call, and the end of a BatchCommands stream.
var errClusterIDMismatch = status.Error(codes.InvalidArgument, "the cluster id of the request does not match the TiKV cluster")

// checkClusterID applies TiKV's service-level rule (src/server/service/kv.rs):
// a request whose context names another cluster fails the whole RPC with
// INVALID_ARGUMENT; zero means "not set" and passes.
func (c *Cluster) checkClusterID(ctx *kvrpcpb.Context) error {
	if id := ctx.GetClusterId(); id != 0 && id != c.clusterID {
		return errClusterIDMismatch
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
	// or stale_read, which any peer serves, followers and learners alike
	// (read.rs: the ReadIndexReplicaRead and StaleRead policies do not look
	// at the peer's role). Writes never go to followers, whatever the flags
	// say. The leader hint is omitted when there is no leader. A stale read
	// above the peer's safe ts is refused later, in checkEnvelope.
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

// raftEntryMaxSize is raftstore's raft-entry-max-size default, 8 MiB
// (components/raftstore/src/store/config.rs).
const raftEntryMaxSize = 8 << 20

// checkEnvelope applies the region-level rules that need more than the
// request's Context, after checkRegionLocked has passed and before the
// command runs; nil means the command may run. (When checkRegionLocked
// fails, the handler reports that failure itself.)
//
//   - RaftEntryTooLarge: a write is proposed to raft as one entry, and
//     Peer::propose_normal (components/raftstore/src/store/peer.rs) refuses
//     an entry larger than raft-entry-max-size, after the header checks and
//     before anything is applied. The mock measures the encoded request,
//     which is close to the size of the raft command TiKV builds from it. It
//     checks this before the command runs, so a too-large write that TiKV
//     would reject for another reason first (a prewrite's write conflict)
//     gets RaftEntryTooLarge here.
//   - DataIsNotReady: a stale read (Context.stale_read) at read ts T is
//     served by a peer only if its safe ts >= T
//     (ReadDelegate::check_stale_read_safe in
//     components/raftstore/src/store/worker/read.rs). A leader that fails
//     the check falls back to a normal leader read, which succeeds while it
//     holds its lease (the mock's leaders always do); a follower or learner
//     answers DataIsNotReady with its peer id and safe ts. Requests without
//     a read ts (raw reads) carry ts 0 and always pass.
func (c *Cluster) checkEnvelope(storeID uint64, cmd transport.Cmd, req transport.Message) *errorpb.Error {
	rctx := cmd.Context(req)
	write := cmd.IsWrite()
	var size, readTS uint64
	switch {
	case write:
		if size = uint64(messageSize(req)); size <= raftEntryMaxSize {
			return nil
		}
	case rctx.GetStaleRead():
		if readTS = staleReadTS(req); readTS == 0 {
			return nil
		}
	default:
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, rerr := c.checkRegionLocked(storeID, write, rctx)
	if rerr != nil {
		return nil
	}
	if write {
		return &errorpb.Error{
			Message:           fmt.Sprintf("raft entry is too large, region %d, entry size %d", r.meta.Id, size),
			RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{RegionId: r.meta.Id, EntrySize: size},
		}
	}
	if r.leaderStore == storeID {
		return nil
	}
	safeTS := c.safeTSLocked(r.meta.Id)
	if safeTS >= readTS {
		return nil
	}
	peerID := peerOnStore(r.meta, storeID).GetId()
	return &errorpb.Error{
		Message:        fmt.Sprintf("peer %d is not ready, safe_ts %d, region %d", peerID, safeTS, r.meta.Id),
		DataIsNotReady: &errorpb.DataIsNotReady{RegionId: r.meta.Id, PeerId: peerID, SafeTs: safeTS},
	}
}

// messageSize is the encoded size of a kvproto message.
func messageSize(m transport.Message) int {
	if s, ok := m.(interface{ Size() int }); ok {
		return s.Size()
	}
	return 0
}

// staleReadTS is the timestamp a read reads at (TiKV's SnapContext
// start_ts, which raftkv encodes in the raft header's flag data for stale
// reads); 0 for reads that have none.
func staleReadTS(req transport.Message) uint64 {
	switch r := req.(type) {
	case *kvrpcpb.GetRequest:
		return r.Version
	case *kvrpcpb.BatchGetRequest:
		return r.Version
	case *kvrpcpb.ScanRequest:
		return r.Version
	case *kvrpcpb.BufferBatchGetRequest:
		return r.Version
	case *coprocessor.Request:
		return r.StartTs
	}
	return 0
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
