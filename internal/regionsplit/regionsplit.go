// Package regionsplit holds what splitting regions and scattering them
// share between the transactional committer's pre-split
// (txn/internal/twopc) and the admin client (package admin): the split
// plan, the ids a split created, one scatter call with its retries, and
// the wait for PD's scatter operator (client-go's tikv/split_region.go).
package regionsplit

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/tikv/pd/client/opt"

	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/pipeline/backoff"
	"github.com/tikvgo/tikv/plans"
)

// Poll intervals of WaitScatter, client-go's BoRegionMiss backoff (2 ms
// doubling up to 500 ms).
const (
	pollBase = 2 * time.Millisecond
	pollMax  = 500 * time.Millisecond
)

// scatterOperatorDesc is the description PD gives a scatter operator
// (PD's schedule/scatter region_scatterer.go, "scatter-region").
var scatterOperatorDesc = []byte("scatter-region")

// ScatterFailedError reports that PD refused to scatter a region: it
// answered the region in failed_regions_id.
type ScatterFailedError struct {
	RegionID uint64
}

func (e *ScatterFailedError) Error() string {
	return fmt.Sprintf("PD failed to scatter region %d", e.RegionID)
}

// SplitPlan is the split plan on env: Shard (by the split keys' regions)
// -> Retry -> SplitRegion, one Part per region split. The keys are the
// keys env routes: in the transactional key space user keys, which TiKV
// memcomparable-encodes (the request leaves is_raw_kv unset; kv.rs
// split_region, Key::from_raw); in the raw key space SplitRegion must set
// IsRawKv.
func SplitPlan(env *pipeline.Env, name string) pipeline.Plan[*kvrpcpb.SplitRegionRequest, []pipeline.Part[*kvrpcpb.SplitRegionRequest, *kvrpcpb.SplitRegionResponse]] {
	split := pipeline.ByKeys((*kvrpcpb.SplitRegionRequest).GetSplitKeys, func(k []byte) []byte { return k },
		func(r *kvrpcpb.SplitRegionRequest, keys [][]byte) *kvrpcpb.SplitRegionRequest {
			piece := *r
			piece.SplitKeys = keys
			return &piece
		}, pipeline.Limit[[]byte]{})
	return pipeline.Shard(env, split, pipeline.Retry(env, plans.SplitRegion), pipeline.Named(name))
}

// NewRegionIDs returns the ids of the regions a split response created:
// all but the last, which TiKV's split leaves with the original region's
// id (raftstore's right_derive_when_split, on by default); client-go
// scatters the same n-1.
func NewRegionIDs(regions []*metapb.Region) []uint64 {
	if len(regions) < 2 {
		return nil
	}
	ids := make([]uint64, 0, len(regions)-1)
	for _, r := range regions[:len(regions)-1] {
		ids = append(ids, r.GetId())
	}
	return ids
}

// ScatterPD is the part of pdclient.PD a scatter uses.
type ScatterPD interface {
	ScatterRegions(ctx context.Context, regionIDs []uint64, opts ...opt.RegionsOption) (*pdpb.ScatterRegionResponse, error)
}

// ScatterOne asks PD to scatter one region, sending the call again after
// a failure with PDRPC backoff on bo (client-go's scatterRegion retries
// every failed ScatterRegions with BoPDRPC); with retry false a failed
// call is not sent again. A region PD answers in failed_regions_id is a
// *ScatterFailedError, not retried: PD looked at it and refused.
func ScatterOne(ctx context.Context, pd ScatterPD, bo *backoff.Backoffer, retry bool, id uint64, opts ...opt.RegionsOption) error {
	for {
		resp, err := pd.ScatterRegions(ctx, []uint64{id}, opts...)
		if err == nil {
			if len(resp.GetFailedRegionsId()) > 0 {
				return &ScatterFailedError{RegionID: id}
			}
			return nil
		}
		err = fmt.Errorf("region %d: %w", id, err)
		if !retry || ctx.Err() != nil {
			return err
		}
		if werr := bo.Wait(ctx, backoff.PDRPC, err); werr != nil {
			return werr
		}
	}
}

// OperatorGetter is the part of pdclient.PD WaitScatter uses.
type OperatorGetter interface {
	GetOperator(ctx context.Context, regionID uint64) (*pdpb.GetOperatorResponse, error)
}

// WaitScatter polls PD until its operator on the region is not a running
// scatter: finished (SUCCESS), given up (TIMEOUT, CANCEL, REPLACE), or
// another operator, or none (PD answers REGION_NOT_FOUND in the header),
// all of which client-go's WaitScatterRegionFinish takes as the end of the
// wait. A failed call is retried until ctx ends, whose error (with the
// last cause) is returned.
func WaitScatter(ctx context.Context, pd OperatorGetter, regionID uint64) error {
	pause := pollBase
	var last error
	for {
		resp, err := pd.GetOperator(ctx, regionID)
		if err == nil && resp != nil &&
			(!bytes.Equal(resp.GetDesc(), scatterOperatorDesc) || resp.GetStatus() != pdpb.OperatorStatus_RUNNING) {
			return nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("operator %s", resp.GetStatus())
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for region %d: %w (last: %v)", regionID, ctx.Err(), last)
		case <-t.C:
		}
		pause = min(2*pause, pollMax)
	}
}
