package twopc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline/backoff"
)

// Scatter of the regions a pre-split created (client-go's
// tikv/split_region.go scatterRegion and WaitScatterRegionFinish, called
// from 2pc.go preSplitRegion): the pieces of a split region start on the
// stores of the region they came from, so without a scatter the prewrite
// would still pour every lock into the same stores. PD is asked to scatter
// each new region, a failed call retried with PD backoff within
// Options.ScatterRetryBudget (shared by the regions: once it is spent the
// rest are not asked, as client-go stops at a PD timeout), then the
// commit waits until PD's operator on each is no
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
	bo := backoff.WithBudget(c.opts.ScatterRetryBudget)
	for _, id := range ids {
		err := c.scatterOne(ctx, bo, id)
		if err == nil {
			accepted = append(accepted, id)
			continue
		}
		note(err)
		var exhausted *kv.BackoffExhaustedError
		if ctx.Err() != nil || errors.As(err, &exhausted) {
			break // the budget is shared: the other regions would fail at once
		}
	}
	d.ScatteredRegions = len(accepted)
	if c.opts.ScatterWait < 0 || ctx.Err() != nil {
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

// scatterOne asks PD to scatter one region, sending the call again after
// a failure with PDRPC backoff on bo (client-go's scatterRegion retries
// every failed ScatterRegions with BoPDRPC). A region PD answers in
// failed_regions_id is a *ScatterFailedError, not retried: PD looked at
// it and refused. With a negative ScatterRetryBudget a failed call is
// not retried.
func (c *Committer) scatterOne(ctx context.Context, bo *backoff.Backoffer, id uint64) error {
	for {
		resp, err := c.pd.ScatterRegions(ctx, []uint64{id})
		if err == nil {
			if len(resp.GetFailedRegionsId()) > 0 {
				return &ScatterFailedError{RegionID: id}
			}
			return nil
		}
		err = fmt.Errorf("region %d: %w", id, err)
		if c.opts.ScatterRetryBudget < 0 || ctx.Err() != nil {
			return err
		}
		if werr := bo.Wait(ctx, backoff.PDRPC, err); werr != nil {
			return werr
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
