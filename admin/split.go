package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/internal/regionsplit"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/pipeline/backoff"
)

// ScatterFailedError reports that PD refused to scatter a region: it
// answered the region in failed_regions_id.
type ScatterFailedError = regionsplit.ScatterFailedError

// DefaultScatterRetryBudget bounds the PD backoff of ScatterRegions'
// retries (client-go's scatterRegion backoffer, its 20 s splitRegionBackoff
// budget for scatters after a split).
const DefaultScatterRetryBudget = 20 * time.Second

// SplitRegions splits the regions holding keys at those keys (client-go's
// KVStore.SplitRegions; TiKV's SplitRegion, one request per region) and
// returns the ids of the regions the splits created: each split region
// keeps its id for its last piece (raftstore's right_derive_when_split),
// the others are new. A key at a region's start splits nothing, and
// repeated keys split once. With
// scatter set, PD is asked to scatter each new region (ScatterRegions);
// waiting for the scatters is WaitScatterFinish's. The Locator forgets
// the split regions, so the next requests route by the new layout.
func (c *Client) SplitRegions(ctx context.Context, keys [][]byte, scatter bool) (ids []uint64, err error) {
	if len(keys) == 0 {
		return nil, nil
	}
	ctx, finish := pipeline.BeginCall(ctx, c.env, "SplitRegions")
	defer func() { finish(err) }()
	before := make(map[uint64]*pdclient.Region)
	var split [][]byte
	for _, k := range keys {
		r, err := c.env.Locator.Locate(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("split regions: locate %q: %w", k, err)
		}
		// TiKV refuses a split key at a region's start (raftstore's
		// validate_split_region: "invalid split key"); there is nothing
		// to split there, and client-go skips such keys too.
		if kv.CmpKey(k, r.StartKey()) == 0 {
			continue
		}
		before[r.ID()] = r
		split = append(split, k)
	}
	if len(split) == 0 {
		return nil, nil
	}
	slices.SortFunc(split, kv.CmpKey)
	split = slices.CompactFunc(split, func(a, b []byte) bool { return kv.CmpKey(a, b) == 0 })
	parts, err := regionsplit.SplitPlan(c.env, "SplitRegions")(ctx, &kvrpcpb.SplitRegionRequest{SplitKeys: split, IsRawKv: c.mode == kv.ModeRaw})
	// A region that split (or may have) is dropped from the cache either
	// way; one that did not is reloaded unchanged (client-go invalidates
	// the split regions too).
	for _, r := range before {
		c.env.Locator.Invalidate(r)
	}
	if err != nil {
		return nil, fmt.Errorf("split regions: %w", err)
	}
	for _, p := range parts {
		ids = append(ids, regionsplit.NewRegionIDs(p.Resp.GetRegions())...)
	}
	if scatter {
		if err := c.ScatterRegions(ctx, ids); err != nil {
			return ids, err
		}
	}
	return ids, nil
}

// ScatterRegions asks PD to scatter each region (move its peers and
// leader across stores), one call per region as client-go does; a failed
// call is sent again with PD backoff within DefaultScatterRetryBudget,
// shared by the regions. A region PD refuses is a *ScatterFailedError;
// the others are still asked, and the first failure is returned.
func (c *Client) ScatterRegions(ctx context.Context, ids []uint64) error {
	bo := backoff.WithBudget(DefaultScatterRetryBudget)
	var first error
	for _, id := range ids {
		err := regionsplit.ScatterOne(ctx, c.pd, bo, true, id)
		if err == nil {
			continue
		}
		if first == nil {
			first = fmt.Errorf("scatter regions: %w", err)
		}
		var exhausted *kv.BackoffExhaustedError
		if ctx.Err() != nil || errors.As(err, &exhausted) {
			break // the budget is shared: the rest would fail at once
		}
	}
	return first
}

// WaitScatterFinish waits until PD's scatter of each region has ended
// (client-go's WaitScatterRegionFinish): its operator finished, gave up
// or was replaced, or there is none. It bounds the wait by ctx alone
// (client-go's default is 120 s): the caller sets a deadline. After each
// region it calls progress, when set, with how many of the regions are
// done. It returns the first region whose wait failed, with ctx's error.
func (c *Client) WaitScatterFinish(ctx context.Context, ids []uint64, progress func(done, total int)) error {
	for i, id := range ids {
		if err := regionsplit.WaitScatter(ctx, c.pd, id); err != nil {
			return fmt.Errorf("wait scatter finish: %w", err)
		}
		if progress != nil {
			progress(i+1, len(ids))
		}
	}
	return nil
}
