package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
)

// The three plans of this example, each built from the public pipeline
// stages and plans' Methods only, as an application would build its own.

// batchScan is a multi-range raw scan: RawBatchScan, which the raw client
// does not wrap, sent to every region the ranges cover. The request's
// EachLimit is a per-call limit: at most that many pairs for each range,
// however many regions the range spans. TiKV applies it per region piece
// (each region returns up to EachLimit pairs for its part of a range), so
// the merge, which sees the caller's whole request, cuts each range back
// to EachLimit and returns the ranges in the caller's order. EachLimit must
// be positive: TiKV answers no pairs at all for a limit of 0. Ranges must
// not overlap (pipeline.ByKeyRanges refuses them: TiKV would answer a key
// twice).
func batchScan(env *pipeline.Env) pipeline.Plan[*kvrpcpb.RawBatchScanRequest, [][]*kvrpcpb.KvPair] {
	split := pipeline.ByKeyRanges((*kvrpcpb.RawBatchScanRequest).GetRanges,
		func(r *kvrpcpb.RawBatchScanRequest, ranges []*kvrpcpb.KeyRange) *kvrpcpb.RawBatchScanRequest {
			piece := *r // a shallow copy: the caller's request is never modified
			piece.Ranges = ranges
			return &piece
		})
	parts := pipeline.Shard(env, split, pipeline.Retry(env, plans.RawBatchScan), pipeline.Named("BatchScan"))
	plan := pipeline.Merge(parts, limitPerRange)
	return func(ctx context.Context, req *kvrpcpb.RawBatchScanRequest) ([][]*kvrpcpb.KvPair, error) {
		if req.GetEachLimit() == 0 {
			return nil, fmt.Errorf("batch scan: EachLimit 0 would return nothing: %w", kv.ErrInvalidArgument)
		}
		return plan(ctx, req)
	}
}

// limitPerRange is batchScan's MergeFunc: the pairs of all parts, which
// come in key order, are handed to the caller's range that holds them,
// each range capped at the call's EachLimit.
func limitPerRange(_ context.Context, req *kvrpcpb.RawBatchScanRequest,
	parts []pipeline.Part[*kvrpcpb.RawBatchScanRequest, *kvrpcpb.RawBatchScanResponse]) ([][]*kvrpcpb.KvPair, error) {
	out := make([][]*kvrpcpb.KvPair, len(req.GetRanges()))
	limit := int(req.GetEachLimit())
	for _, part := range parts {
		for _, p := range part.Resp.GetKvs() {
			i := slices.IndexFunc(req.GetRanges(), func(r *kvrpcpb.KeyRange) bool { return inRange(p.GetKey(), r) })
			if i < 0 {
				return nil, fmt.Errorf("batch scan: TiKV returned key %q outside every requested range", p.GetKey())
			}
			if len(out[i]) < limit {
				out[i] = append(out[i], p)
			}
		}
	}
	return out, nil
}

func inRange(key []byte, r *kvrpcpb.KeyRange) bool {
	return bytes.Compare(key, r.GetStartKey()) >= 0 && (len(r.GetEndKey()) == 0 || bytes.Compare(key, r.GetEndKey()) < 0)
}

// storeSafeTS asks every store for its safe ts (the timestamp below which
// stale reads are safe on it) and returns each store's answer. One store
// failing does not hide the others: its result carries its error.
func storeSafeTS(env *pipeline.Env) pipeline.Plan[*kvrpcpb.StoreSafeTSRequest, []pipeline.StoreResult[*kvrpcpb.StoreSafeTSResponse]] {
	return pipeline.AllStores(env, plans.GetStoreSafeTS,
		pipeline.StoreFilter(pipeline.TiKVStores), pipeline.Named("StoreSafeTS"))
}

// minSafeTS is the cluster's safe ts: the smallest of the stores' answers,
// and an error naming the first store that did not answer.
func minSafeTS(results []pipeline.StoreResult[*kvrpcpb.StoreSafeTSResponse]) (uint64, error) {
	var ts uint64
	for i, r := range results {
		if r.Err != nil {
			return 0, fmt.Errorf("store %d: %w", r.Store.ID, r.Err)
		}
		if i == 0 || r.Resp.GetSafeTs() < ts {
			ts = r.Resp.GetSafeTs()
		}
	}
	return ts, nil
}

// splitRegions splits regions at the request's keys: SplitRegion, an
// administrative command no client wraps, sent once per region that holds
// some of the keys (only the region's leader splits it, so Retry's leader
// routing and NotLeader handling apply as for any write). The merge returns
// how many regions the splits produced.
//
// TiKV takes split keys as transactional keys and encodes them
// (memcomparable, Key::from_raw in its split_region handler) unless the
// request says is_raw_kv; the request's keys must be of the key space env
// routes (IsRawKv set with the raw environment).
func splitRegions(env *pipeline.Env) pipeline.Plan[*kvrpcpb.SplitRegionRequest, int] {
	split := pipeline.ByKeys((*kvrpcpb.SplitRegionRequest).GetSplitKeys, func(k []byte) []byte { return k },
		func(r *kvrpcpb.SplitRegionRequest, keys [][]byte) *kvrpcpb.SplitRegionRequest {
			piece := *r
			piece.SplitKeys = keys
			return &piece
		}, pipeline.Limit[[]byte]{})
	parts := pipeline.Shard(env, split, pipeline.Retry(env, plans.SplitRegion), pipeline.Named("SplitRegions"))
	return pipeline.Merge(parts, func(_ context.Context, _ *kvrpcpb.SplitRegionRequest,
		parts []pipeline.Part[*kvrpcpb.SplitRegionRequest, *kvrpcpb.SplitRegionResponse]) (int, error) {
		n := 0
		for _, p := range parts {
			n += len(p.Resp.GetRegions())
		}
		return n, nil
	})
}
