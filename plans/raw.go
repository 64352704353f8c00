package plans

import (
	"context"
	"iter"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pipeline"
)

// Batch limits of raw commands, as client-go applies them
// (rawkv.rawBatchPairCount, rawBatchPutSize).
const (
	// RawBatchPairCount caps the keys of one raw batch RPC.
	RawBatchPairCount = 512
	// RawBatchPutSize caps the key and value bytes of one raw batch put.
	RawBatchPutSize = 16 << 10
)

// Raw is the compiled plan set of raw.Client: one plan per raw operation.
type Raw struct {
	Get         pipeline.Plan[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse]
	BatchGet    pipeline.Plan[*kvrpcpb.RawBatchGetRequest, []*kvrpcpb.KvPair]
	Put         pipeline.Plan[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse]
	BatchPut    pipeline.Plan[*kvrpcpb.RawBatchPutRequest, struct{}]
	Delete      pipeline.Plan[*kvrpcpb.RawDeleteRequest, *kvrpcpb.RawDeleteResponse]
	BatchDelete pipeline.Plan[*kvrpcpb.RawBatchDeleteRequest, struct{}]
	DeleteRange pipeline.Plan[*kvrpcpb.RawDeleteRangeRequest, struct{}]
	// Scan pages a raw scan (forward or reverse, per the request) through
	// regions; see pipeline.Stream.
	Scan func(ctx context.Context, req *kvrpcpb.RawScanRequest) iter.Seq2[*kvrpcpb.KvPair, error]
}

// NewRaw compiles the raw plans on e.
func NewRaw(e *pipeline.Env) *Raw {
	scan := pipeline.Stream(e, rawScanCursor, pipeline.Dispatch(e, RawScan))
	return &Raw{
		Get: pipeline.Single(pipeline.Shard(e, pipeline.ByKey((*kvrpcpb.RawGetRequest).GetKey), pipeline.Dispatch(e, RawGet))),
		BatchGet: pipeline.Collect(pipeline.Shard(e, rawBatchGetSplit, pipeline.Dispatch(e, RawBatchGet)),
			(*kvrpcpb.RawBatchGetResponse).GetPairs),
		Put: pipeline.Single(pipeline.Shard(e, pipeline.ByKey((*kvrpcpb.RawPutRequest).GetKey), pipeline.Dispatch(e, RawPut))),
		BatchPut: pipeline.Merge(pipeline.Shard(e, rawBatchPutSplit, pipeline.Dispatch(e, RawBatchPut)),
			pipeline.Discard),
		Delete: pipeline.Single(pipeline.Shard(e, pipeline.ByKey((*kvrpcpb.RawDeleteRequest).GetKey), pipeline.Dispatch(e, RawDelete))),
		BatchDelete: pipeline.Merge(pipeline.Shard(e, rawBatchDeleteSplit, pipeline.Dispatch(e, RawBatchDelete)),
			pipeline.Discard),
		DeleteRange: pipeline.Merge(pipeline.Shard(e, rawDeleteRangeSplit, pipeline.Dispatch(e, RawDeleteRange)),
			pipeline.Discard),
		Scan: func(ctx context.Context, req *kvrpcpb.RawScanRequest) iter.Seq2[*kvrpcpb.KvPair, error] {
			return pipeline.Flatten(scan(ctx, req), (*kvrpcpb.RawScanResponse).GetKvs)
		},
	}
}

func identity(b []byte) []byte { return b }

func pairKey(p *kvrpcpb.KvPair) []byte { return p.GetKey() }

func pairSize(p *kvrpcpb.KvPair) int { return len(p.GetKey()) + len(p.GetValue()) }

var (
	rawBatchGetSplit = pipeline.ByKeys((*kvrpcpb.RawBatchGetRequest).GetKeys, identity,
		func(r *kvrpcpb.RawBatchGetRequest, keys [][]byte) *kvrpcpb.RawBatchGetRequest {
			c := *r
			c.Keys = keys
			return &c
		}, pipeline.Limit[[]byte]{Keys: RawBatchPairCount})

	rawBatchPutSplit = pipeline.ByKeys((*kvrpcpb.RawBatchPutRequest).GetPairs, pairKey,
		func(r *kvrpcpb.RawBatchPutRequest, pairs []*kvrpcpb.KvPair) *kvrpcpb.RawBatchPutRequest {
			c := *r
			c.Pairs = pairs
			return &c
		}, pipeline.Limit[*kvrpcpb.KvPair]{Keys: RawBatchPairCount, Bytes: RawBatchPutSize, Size: pairSize})

	rawBatchDeleteSplit = pipeline.ByKeys((*kvrpcpb.RawBatchDeleteRequest).GetKeys, identity,
		func(r *kvrpcpb.RawBatchDeleteRequest, keys [][]byte) *kvrpcpb.RawBatchDeleteRequest {
			c := *r
			c.Keys = keys
			return &c
		}, pipeline.Limit[[]byte]{Keys: RawBatchPairCount})

	rawDeleteRangeSplit = pipeline.ByRange(
		func(r *kvrpcpb.RawDeleteRangeRequest) ([]byte, []byte) { return r.GetStartKey(), r.GetEndKey() },
		func(r *kvrpcpb.RawDeleteRangeRequest, start, end []byte) *kvrpcpb.RawDeleteRangeRequest {
			c := *r
			c.StartKey, c.EndKey = start, end
			return &c
		})
)

// rawScanCursor pages RawScan. TiKV reads a reverse raw scan's start_key as
// the exclusive upper bound and end_key as the inclusive lower bound
// (src/storage/mod.rs raw_scan), so the cursor swaps them for reverse scans.
var rawScanCursor = pipeline.Cursor[*kvrpcpb.RawScanRequest, *kvrpcpb.RawScanResponse]{
	Bounds: func(r *kvrpcpb.RawScanRequest) ([]byte, []byte, bool, int) {
		if r.GetReverse() {
			return r.GetEndKey(), r.GetStartKey(), true, int(r.GetLimit())
		}
		return r.GetStartKey(), r.GetEndKey(), false, int(r.GetLimit())
	},
	With: func(r *kvrpcpb.RawScanRequest, lower, upper []byte, limit int) *kvrpcpb.RawScanRequest {
		c := *r
		if c.Reverse {
			c.StartKey, c.EndKey = upper, lower
		} else {
			c.StartKey, c.EndKey = lower, upper
		}
		c.Limit = uint32(limit)
		return &c
	},
	Count: func(r *kvrpcpb.RawScanResponse) int { return len(r.GetKvs()) },
	Last: func(r *kvrpcpb.RawScanResponse) []byte {
		kvs := r.GetKvs()
		return kvs[len(kvs)-1].GetKey()
	},
}
