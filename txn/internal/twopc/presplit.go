package twopc

import (
	"bytes"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/internal/regionsplit"
	"github.com/tikvgo/tikv/pdclient"
)

// Pre-split of a large transaction's regions (client-go's 2pc.go
// groupMutations and preSplitRegion): a prewrite that pours a hundred
// thousand locks into one region keeps its leader busy and draws
// ServerIsBusy, so before prewriting, a region that holds at least
// PreSplitKeys of the transaction's mutations is split into pieces of
// about PreSplitSize key and value bytes each; the prewrite then routes by
// the new regions.
//
// Like client-go, the commit then has PD scatter the new regions and waits
// for it (presplit_scatter.go).

// preSplitGroup is one region of the layout the pre-split saw, with the
// split keys chosen for it.
type preSplitGroup struct {
	region *pdclient.Region
	keys   [][]byte
}

// buildPreSplit is the pre-split plan: Shard (by the split keys' regions)
// -> Retry -> SplitRegion. The keys are user keys: the request leaves
// is_raw_kv unset, so TiKV memcomparable-encodes them (kv.rs
// split_region, Key::from_raw), matching the transactional key space the
// Env routes.
func (c *Committer) buildPreSplit() {
	c.preSplitPlan = regionsplit.SplitPlan(c.env, "PreSplit")
}

// preSplit splits the regions holding too many of t's mutations and
// records what it did in d. It never fails the commit: a pre-split that
// fails is recorded in d.PreSplitErr and the prewrite goes on with the
// layout it finds (client-go logs the failure and continues).
func (c *Committer) preSplit(t *txn, d *CommitDetails) {
	if c.opts.PreSplitKeys < 0 || len(t.muts) < c.opts.PreSplitKeys {
		return
	}
	groups, err := c.preSplitGroups(t)
	if err != nil {
		d.PreSplitErr = err
		return
	}
	var keys [][]byte
	for _, g := range groups {
		keys = append(keys, g.keys...)
	}
	if len(keys) == 0 {
		return
	}
	parts, err := c.preSplitPlan(t.ctx, &kvrpcpb.SplitRegionRequest{SplitKeys: keys})
	// client-go drops the split region from its cache whatever the scatter
	// did; here also after a failed split, since a piece may have split
	// before another failed. A region that did not split is reloaded
	// unchanged; one that did is learnt from PD, so the prewrite routes by
	// the new layout instead of meeting EpochNotMatch.
	for _, g := range groups {
		c.env.Locator.Invalidate(g.region)
	}
	if err != nil {
		d.PreSplitErr = fmt.Errorf("twopc: pre-split of txn %d: %w", t.startTS, err)
		return
	}
	var created []uint64
	for _, p := range parts {
		if len(p.Resp.GetRegions()) > 1 {
			d.PreSplitRegions++
			created = append(created, newRegionIDs(p.Resp.GetRegions())...)
		}
	}
	c.scatter(t.ctx, t.startTS, created, d)
}

// preSplitGroups walks t's mutations (key order) region by region, as the
// Locator knows them, and returns the regions holding at least
// PreSplitKeys mutations with their split keys: a key each time the key
// and value bytes counted since the last split reach PreSplitSize
// (client-go's preSplitRegion). So a region with many small mutations
// whose bytes stay under PreSplitSize is not split.
func (c *Committer) preSplitGroups(t *txn) ([]preSplitGroup, error) {
	var out []preSplitGroup
	for i := 0; i < len(t.muts); {
		r, err := c.env.Locator.Locate(t.ctx, t.muts[i].Key)
		if err != nil {
			return nil, fmt.Errorf("twopc: pre-split of txn %d: locate %q: %w", t.startTS, t.muts[i].Key, err)
		}
		j := i + 1
		for j < len(t.muts) && r.Contains(t.muts[j].Key) {
			j++
		}
		if j-i >= c.opts.PreSplitKeys {
			if keys := preSplitKeys(t.muts[i:j], r.StartKey(), c.opts.PreSplitSize); len(keys) > 0 {
				out = append(out, preSplitGroup{region: r, keys: keys})
			}
		}
		i = j
	}
	return out, nil
}

// preSplitKeys picks the split keys of one region's mutations: the key at
// which the running byte count reaches size, then counting again from
// zero. A key equal to the region's start key is left out: TiKV refuses a
// split key that is not after the region's start (raftstore's
// validate_batch_split), which would fail the whole region's split.
func preSplitKeys(muts []*kvrpcpb.Mutation, regionStart []byte, size int) [][]byte {
	var keys [][]byte
	n := 0
	for _, m := range muts {
		n += len(m.Key) + len(m.Value)
		if n >= size {
			n = 0
			if !bytes.Equal(m.Key, regionStart) {
				keys = append(keys, m.Key)
			}
		}
	}
	return keys
}
