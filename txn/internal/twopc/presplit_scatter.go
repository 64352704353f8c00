package twopc

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
)

// Scatter of the regions a pre-split created (client-go's
// tikv/split_region.go scatterRegion and WaitScatterRegionFinish, called
// from 2pc.go preSplitRegion): the pieces of a split region start on the
// stores of the region they came from, so without a scatter the prewrite
// would still pour every lock into the same stores. PD is asked to scatter
// each new region, then the commit waits until PD's operator on each is no
// longer a running "scatter-region", within Options.ScatterWait for all of
// them. Nothing here fails the commit: the first failure is recorded in
// CommitDetails.ScatterErr and the prewrite goes on.

// Poll intervals of the wait, client-go's BoRegionMiss backoff (2 ms
// doubling up to 500 ms).
const (
	scatterPollBase = 2 * time.Millisecond
	scatterPollMax  = 500 * time.Millisecond
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

// newRegionIDs returns the ids of the regions a split response created:
// all but the last, which TiKV's split leaves with the original region's
// id (raftstore's right_derive_when_split, on by default); client-go
// scatters the same n-1.
func newRegionIDs(regions []*metapb.Region) []uint64 {
	if len(regions) < 2 {
		return nil
	}
	ids := make([]uint64, 0, len(regions)-1)
	for _, r := range regions[:len(regions)-1] {
		ids = append(ids, r.GetId())
	}
	return ids
}

// scatter asks PD to scatter each region (one call per region, as
// client-go does) and waits for the accepted ones; see the file comment.
func (c *Committer) scatter(ctx context.Context, startTS uint64, ids []uint64, d *CommitDetails) {
	if c.pd == nil || len(ids) == 0 {
		return
	}
	note := func(err error) {
		if d.ScatterErr == nil {
			d.ScatterErr = fmt.Errorf("twopc: scatter of txn %d: %w", startTS, err)
		}
	}
	var accepted []uint64
	for _, id := range ids {
		resp, err := c.pd.ScatterRegions(ctx, []uint64{id})
		if err != nil {
			err = fmt.Errorf("region %d: %w", id, err)
		} else if len(resp.GetFailedRegionsId()) > 0 {
			err = &ScatterFailedError{RegionID: id}
		}
		if err != nil {
			note(err)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		accepted = append(accepted, id)
	}
	d.ScatteredRegions = len(accepted)
	if c.opts.ScatterWait < 0 {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, c.opts.ScatterWait)
	defer cancel()
	for _, id := range accepted {
		if err := waitScatter(wctx, c.pd, id); err != nil {
			note(err)
			return // the wait's deadline is shared: the rest would fail too
		}
	}
}

// operatorGetter is the part of pdclient.PD the wait uses.
type operatorGetter interface {
	GetOperator(ctx context.Context, regionID uint64) (*pdpb.GetOperatorResponse, error)
}

// waitScatter polls PD until its operator on the region is not a running
// scatter: finished (SUCCESS), given up (TIMEOUT, CANCEL, REPLACE), or
// another operator, or none (PD answers REGION_NOT_FOUND in the header),
// all of which client-go's WaitScatterRegionFinish takes as the end of the
// wait. A failed call is retried until ctx ends, whose error (with the
// last cause) is returned.
func waitScatter(ctx context.Context, pd operatorGetter, regionID uint64) error {
	pause := scatterPollBase
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
		pause = min(2*pause, scatterPollMax)
	}
}
