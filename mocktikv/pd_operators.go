package mocktikv

import (
	"bytes"
	"context"
	"slices"
	"sync"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
)

// pdMiscState is PD state outside the region layout: the operators PD ran
// (only scatters are recorded) and the min resolved ts stores report. Its
// mutex is never held with c.mu.
type pdMiscState struct {
	mu            sync.Mutex
	scattered     map[uint64]bool   // region id -> a finished scatter operator
	minResolvedTS map[uint64]uint64 // store id -> min resolved ts
	// minResolvedHook, when set, answers the min-resolved-ts API instead
	// (InjectMinResolvedTS, pd_min_resolved_ts.go).
	minResolvedHook MinResolvedTSHook
}

func newPDMiscState() *pdMiscState {
	return &pdMiscState{scattered: map[uint64]bool{}, minResolvedTS: map[uint64]uint64{}}
}

// pdSplitRegions is PD's RegionSplitter.SplitRegions with the split done at
// once: keys (stored form) are grouped by the region containing them; a key
// that already starts its region is skipped, and so is a region without a
// leader (PD can only ask a leader to split); each region is split at its
// keys (raftstore's batch split). The ids returned are those of the
// regions that now start at one of the keys, in key order. The percentage
// counts the keys that start a region this call created: a key that was
// already a boundary counts as unprocessed, as in PD, which retries such
// keys until retry_limit and then gives up on them.
func (c *Cluster) pdSplitRegions(keys [][]byte) (percentage int, regionIDs []uint64) {
	if len(keys) == 0 {
		return 0, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	groups := map[uint64][][]byte{}
	var order []uint64
	for _, k := range keys {
		r := c.regionByKeyLocked(k)
		if r == nil || r.leaderStore == 0 || bytes.Equal(r.meta.StartKey, k) {
			continue
		}
		if _, ok := groups[r.meta.Id]; !ok {
			order = append(order, r.meta.Id)
		}
		groups[r.meta.Id] = append(groups[r.meta.Id], k)
	}
	var created []*regionState
	for _, id := range order {
		ks := slices.Clone(groups[id])
		slices.SortFunc(ks, bytes.Compare)
		ks = slices.CompactFunc(ks, bytes.Equal)
		regions := c.splitLocked(c.regionIndexLocked(c.byID[id].meta.StartKey), ks)
		created = append(created, regions[1:]...) // each starts at a key
	}
	slices.SortFunc(created, func(a, b *regionState) int { return bytes.Compare(a.meta.StartKey, b.meta.StartKey) })
	unprocessed := 0
	for _, k := range keys {
		if !slices.ContainsFunc(created, func(r *regionState) bool { return bytes.Equal(r.meta.StartKey, k) }) {
			unprocessed++
		}
	}
	for _, r := range created {
		regionIDs = append(regionIDs, r.meta.Id)
	}
	return 100 - unprocessed*100/len(keys), regionIDs
}

// scatter records a finished scatter operator for each known region and
// returns the ids it does not know. The mock has nowhere better to put
// peers, so scattering moves nothing.
func (c *Cluster) scatter(ids []uint64) (failed []uint64) {
	c.mu.RLock()
	var known []uint64
	for _, id := range ids {
		if c.byID[id] != nil {
			known = append(known, id)
		} else {
			failed = append(failed, id)
		}
	}
	c.mu.RUnlock()
	m := c.pdMisc
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range known {
		m.scattered[id] = true
	}
	return failed
}

// SplitRegions splits at the request's keys (stored form), see
// pdSplitRegions.
func (s *pdService) SplitRegions(ctx context.Context, req *pdpb.SplitRegionsRequest) (*pdpb.SplitRegionsResponse, error) {
	var resp *pdpb.SplitRegionsResponse
	err := s.serveUnary(ctx, "SplitRegions", req.GetHeader(), func() {
		pct, ids := s.c.pdSplitRegions(req.GetSplitKeys())
		resp = &pdpb.SplitRegionsResponse{Header: s.header(), RegionsId: ids, FinishedPercentage: uint64(pct)}
	})
	return resp, err
}

// SplitAndScatterRegions splits as SplitRegions does, then scatters the
// regions the split produced.
func (s *pdService) SplitAndScatterRegions(ctx context.Context, req *pdpb.SplitAndScatterRegionsRequest) (*pdpb.SplitAndScatterRegionsResponse, error) {
	var resp *pdpb.SplitAndScatterRegionsResponse
	err := s.serveUnary(ctx, "SplitAndScatterRegions", req.GetHeader(), func() {
		pct, ids := s.c.pdSplitRegions(req.GetSplitKeys())
		scatterPct := 0
		if len(ids) > 0 {
			failed := s.c.scatter(ids)
			scatterPct = 100 - len(failed)*100/len(ids)
		}
		resp = &pdpb.SplitAndScatterRegionsResponse{
			Header:                    s.header(),
			RegionsId:                 ids,
			SplitFinishedPercentage:   uint64(pct),
			ScatterFinishedPercentage: uint64(scatterPct),
		}
	})
	return resp, err
}

// ScatterRegion scatters regions_id (or, when empty, the deprecated
// region_id), see scatterResponse.
func (s *pdService) ScatterRegion(ctx context.Context, req *pdpb.ScatterRegionRequest) (*pdpb.ScatterRegionResponse, error) {
	var resp *pdpb.ScatterRegionResponse
	err := s.serveUnary(ctx, "ScatterRegion", req.GetHeader(), func() {
		resp = s.c.scatterResponse(req.GetRegionsId(), req.GetRegionId())
	})
	return resp, err
}

// scatterResponse is PD's answer to ScatterRegion. Scattering is a no-op
// that leaves a finished "scatter-region" operator for GetOperator. With
// ids, unknown regions are reported as failed; a single unknown legacy
// region id is REGION_NOT_FOUND (with PD's unformatted message).
func (c *Cluster) scatterResponse(ids []uint64, legacyID uint64) *pdpb.ScatterRegionResponse {
	ok := &pdpb.ResponseHeader{ClusterId: c.clusterID}
	if len(ids) > 0 {
		failed := c.scatter(ids)
		return &pdpb.ScatterRegionResponse{
			Header:             ok,
			FinishedPercentage: uint64(100 - len(failed)*100/len(ids)),
			FailedRegionsId:    failed,
		}
	}
	if failed := c.scatter([]uint64{legacyID}); len(failed) > 0 {
		return &pdpb.ScatterRegionResponse{Header: &pdpb.ResponseHeader{ClusterId: c.clusterID,
			Error: &pdpb.Error{Type: pdpb.ErrorType_REGION_NOT_FOUND, Message: "region %d not found"}}}
	}
	return &pdpb.ScatterRegionResponse{Header: ok, FinishedPercentage: 100}
}

// GetOperator reports the last operator PD ran on a region, see
// operatorResponse.
func (s *pdService) GetOperator(ctx context.Context, req *pdpb.GetOperatorRequest) (*pdpb.GetOperatorResponse, error) {
	var resp *pdpb.GetOperatorResponse
	err := s.serveUnary(ctx, "GetOperator", req.GetHeader(), func() {
		resp = s.c.operatorResponse(req.GetRegionId())
	})
	return resp, err
}

// operatorResponse is PD's answer to GetOperator: a finished scatter for
// scattered regions, and REGION_NOT_FOUND "Not Found" for the others, as
// PD answers for a region with no operator record.
func (c *Cluster) operatorResponse(regionID uint64) *pdpb.GetOperatorResponse {
	m := c.pdMisc
	m.mu.Lock()
	ok := m.scattered[regionID]
	m.mu.Unlock()
	if !ok {
		return &pdpb.GetOperatorResponse{Header: &pdpb.ResponseHeader{ClusterId: c.clusterID,
			Error: &pdpb.Error{Type: pdpb.ErrorType_REGION_NOT_FOUND, Message: "Not Found"}}}
	}
	return &pdpb.GetOperatorResponse{
		Header:   &pdpb.ResponseHeader{ClusterId: c.clusterID},
		RegionId: regionID,
		Desc:     []byte("scatter-region"),
		Kind:     []byte("admin,region"),
		Status:   pdpb.OperatorStatus_SUCCESS,
	}
}

// ReportMinResolvedTS records a store's min resolved ts, as TiKV reports
// it to PD; like PD it only ever moves forward.
func (s *pdService) ReportMinResolvedTS(ctx context.Context, req *pdpb.ReportMinResolvedTsRequest) (*pdpb.ReportMinResolvedTsResponse, error) {
	var resp *pdpb.ReportMinResolvedTsResponse
	err := s.serveUnary(ctx, "ReportMinResolvedTS", req.GetHeader(), func() {
		s.c.SetMinResolvedTS(req.GetStoreId(), req.GetMinResolvedTs())
		resp = &pdpb.ReportMinResolvedTsResponse{Header: s.header()}
	})
	return resp, err
}

// SetMinResolvedTS records a store's min resolved ts as if the store had
// reported it to PD; a value below the recorded one is ignored.
func (c *Cluster) SetMinResolvedTS(storeID, ts uint64) {
	m := c.pdMisc
	m.mu.Lock()
	defer m.mu.Unlock()
	m.minResolvedTS[storeID] = max(m.minResolvedTS[storeID], ts)
}

// MinResolvedTS returns what PD's min-resolved-ts API answers (clients,
// client-go among them, read it over PD's HTTP API to learn the safe ts of
// stale reads): the min resolved ts of each listed store (every
// non-tombstone store when none is listed; 0 for a store that never
// reported) and the minimum of them, the cluster's.
func (c *Cluster) MinResolvedTS(storeIDs ...uint64) (cluster uint64, perStore map[uint64]uint64) {
	if cluster, perStore, ok := c.injectedMinResolvedTS(storeIDs); ok {
		return cluster, perStore
	}
	if len(storeIDs) == 0 {
		c.mu.RLock()
		for _, id := range c.order {
			if c.stores[id].meta.State != metapb.StoreState_Tombstone {
				storeIDs = append(storeIDs, id)
			}
		}
		c.mu.RUnlock()
	}
	m := c.pdMisc
	m.mu.Lock()
	defer m.mu.Unlock()
	perStore = make(map[uint64]uint64, len(storeIDs))
	for i, id := range storeIDs {
		ts := m.minResolvedTS[id]
		perStore[id] = ts
		if i == 0 || ts < cluster {
			cluster = ts
		}
	}
	return cluster, perStore
}
