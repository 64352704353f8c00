package twopc

import (
	"context"
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/internal/regionsplit"
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

// ScatterFailedError reports that PD refused to scatter a region: it
// answered the region in failed_regions_id.
type ScatterFailedError = regionsplit.ScatterFailedError

// newRegionIDs returns the ids of the regions a split response created
// (regionsplit.NewRegionIDs).
func newRegionIDs(regions []*metapb.Region) []uint64 { return regionsplit.NewRegionIDs(regions) }

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

// scatterOne asks PD to scatter one region (regionsplit.ScatterOne);
// with a negative ScatterRetryBudget a failed call is not retried.
func (c *Committer) scatterOne(ctx context.Context, bo *backoff.Backoffer, id uint64) error {
	return regionsplit.ScatterOne(ctx, c.pd, bo, c.opts.ScatterRetryBudget >= 0, id)
}

// waitScatter waits for PD's scatter of the region to end
// (regionsplit.WaitScatter).
func waitScatter(ctx context.Context, pd regionsplit.OperatorGetter, regionID uint64) error {
	return regionsplit.WaitScatter(ctx, pd, regionID)
}
