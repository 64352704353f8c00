package mocktikv

import (
	"bytes"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/transport"
)

// registerStoreHandlers adds store-level read-path commands
// (GetStoreSafeTS, ...).
func registerStoreHandlers(t handlerTable) {
	t[transport.CmdStoreSafeTS] = typed((*Cluster).storeSafeTS)
	t[transport.CmdBroadcastTxnStatus] = typed((*Cluster).broadcastTxnStatus) // txn_status_broadcast.go
}

// SetSafeTS pins the safe ts (resolved ts) of every peer of a region: a
// stale read above it is refused by followers and learners with
// DataIsNotReady, and GetStoreSafeTS reports it. By default a region's safe
// ts follows the TSO (see ResetSafeTS). A region created later by a split
// does not inherit the pin. It fails for an unknown region.
func (c *Cluster) SetSafeTS(regionID, ts uint64) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.byID[regionID] == nil {
		return fmt.Errorf("mocktikv: region %d not found", regionID)
	}
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	c.faults.safeTS[regionID] = ts
	return nil
}

// ResetSafeTS undoes SetSafeTS: the region's safe ts follows the TSO again,
// as if TiKV's resolved-ts worker had just advanced it with a timestamp
// fetched from PD (every stale read at a timestamp PD has issued is
// served).
func (c *Cluster) ResetSafeTS(regionID uint64) {
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	delete(c.faults.safeTS, regionID)
}

// safeTSLocked returns a region's safe ts: the pinned value, or else a
// fresh timestamp from the TSO, which is what TiKV's resolved-ts worker
// advances to when no lock holds it back (components/resolved_ts/src/
// advance.rs fetches a TSO from PD). Allocating one keeps the rule that a
// safe ts never exceeds a timestamp PD has issued. The caller holds c.mu.
//
// TiKV also keeps the safe ts below the start ts of every lock in the
// region; the mock does not, so a stale read above a lock's start ts meets
// the lock (KeyIsLocked) instead of DataIsNotReady.
func (c *Cluster) safeTSLocked(regionID uint64) uint64 {
	c.faults.mu.Lock()
	ts, pinned := c.faults.safeTS[regionID]
	c.faults.mu.Unlock()
	if pinned {
		return ts
	}
	return c.currentTS()
}

// currentTS allocates one timestamp from the TSO.
func (c *Cluster) currentTS() uint64 {
	physical, logical, err := c.tso.next(1)
	if err != nil {
		// next fails only for a bad count.
		panic(err)
	}
	return uint64(physical)<<logicalBits | uint64(logical)
}

// storeSafeTS is GetStoreSafeTS (src/server/service/kv.rs get_store_safe_ts,
// answered by components/raftstore/src/store/worker/check_leader.rs
// get_range_safe_ts): the smallest safe ts of this store's peers whose
// regions overlap the key range (an empty range means every region),
// skipping peers whose safe ts is 0 (uninitialised); 0 when no peer counts.
// The request has no Context, so there are no region or cluster-id checks.
// The range is compared with region boundaries as sent, i.e. in stored form.
func (c *Cluster) storeSafeTS(storeID uint64, req *kvrpcpb.StoreSafeTSRequest) *kvrpcpb.StoreSafeTSResponse {
	start, end := req.GetKeyRange().GetStartKey(), req.GetKeyRange().GetEndKey()
	c.mu.RLock()
	defer c.mu.RUnlock()
	var minTS uint64
	for _, r := range c.regions {
		if peerOnStore(r.meta, storeID) == nil || !rangeOverlaps(r.meta, start, end) {
			continue
		}
		if ts := c.safeTSLocked(r.meta.Id); ts != 0 && (minTS == 0 || ts < minTS) {
			minTS = ts
		}
	}
	return &kvrpcpb.StoreSafeTSResponse{SafeTs: minTS}
}

// rangeOverlaps reports whether [start, end) (an empty end is unbounded)
// overlaps region r.
func rangeOverlaps(r *metapb.Region, start, end []byte) bool {
	return (len(end) == 0 || bytes.Compare(r.StartKey, end) < 0) &&
		(len(r.EndKey) == 0 || bytes.Compare(start, r.EndKey) < 0)
}
