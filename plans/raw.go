package plans

import (
	"context"
	"iter"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
)

// Batch and page limits of raw commands, as client-go applies them
// (rawkv.rawBatchPairCount, rawBatchPutSize, MaxRawKVScanLimit).
const (
	// RawBatchPairCount caps the keys of one raw batch RPC.
	RawBatchPairCount = 512
	// RawBatchPutSize caps the key and value bytes of one raw batch put.
	RawBatchPutSize = 16 << 10
	// RawScanMaxPage caps the pairs one RawScan RPC asks for. A scan with
	// a limit asks for min(remaining, RawScanMaxPage) pairs per RPC, as
	// client-go does with its whole remaining limit; a scan without one
	// pages pipeline.DefaultPageSize pairs at a time.
	RawScanMaxPage = 10240
)

// Raw is the compiled plan set of raw.Client: one plan per raw operation.
// Every plan leaves its request unchanged, so requests may be reused, and
// checks it first: a request the plan cannot send (nil, an empty key, Ttls
// not matching Pairs, ...) fails with kv.ErrInvalidArgument before anything
// is sent.
//
// Writes follow the fault rules of RawPut's doc: an attempt that may have
// applied is not resent (unless compiled with ResendWrites), and the call
// returns kv.ErrUndetermined. A batch write that went to several regions
// and failed in some returns a *kv.PartialWriteError naming the keys (or
// ranges) applied, not applied and undetermined.
type Raw struct {
	Get pipeline.Plan[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse]
	// BatchGet returns the value of every requested key in the order of
	// the request's keys: nil for a missing key, a non-nil empty slice for
	// an empty value. A key may appear more than once.
	BatchGet pipeline.Plan[*kvrpcpb.RawBatchGetRequest, [][]byte]
	Put      pipeline.Plan[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse]
	// BatchPut takes Ttls either empty (no TTL) or with one entry per pair;
	// each TTL travels with its pair into the per-region batches.
	BatchPut    pipeline.Plan[*kvrpcpb.RawBatchPutRequest, struct{}]
	Delete      pipeline.Plan[*kvrpcpb.RawDeleteRequest, *kvrpcpb.RawDeleteResponse]
	BatchDelete pipeline.Plan[*kvrpcpb.RawBatchDeleteRequest, struct{}]
	DeleteRange pipeline.Plan[*kvrpcpb.RawDeleteRangeRequest, struct{}]
	// Scan pages a raw scan (forward or reverse, per the request) through
	// regions; see pipeline.Stream and RawScanMaxPage.
	Scan func(ctx context.Context, req *kvrpcpb.RawScanRequest) iter.Seq2[*kvrpcpb.KvPair, error]
	// GetKeyTTL reads one key's remaining TTL.
	GetKeyTTL pipeline.Plan[*kvrpcpb.RawGetKeyTTLRequest, *kvrpcpb.RawGetKeyTTLResponse]
	// CompareAndSwap sends one CAS, never blindly again: an unknown outcome
	// is kv.ErrUndetermined (RawCompareAndSwap is not idempotent).
	CompareAndSwap pipeline.Plan[*kvrpcpb.RawCASRequest, *kvrpcpb.RawCASResponse]
	// Checksum checksums the request's single range (Ranges must hold
	// exactly one) region by region in parallel and merges the answers:
	// checksums XORed, counts and bytes summed.
	Checksum pipeline.Plan[*kvrpcpb.RawChecksumRequest, *kvrpcpb.RawChecksumResponse]
}

// RawOption tunes NewRaw.
type RawOption func(*rawConfig)

type rawConfig struct{ resendWrites bool }

// ResendWrites compiles the raw writes (Put, BatchPut, Delete, BatchDelete,
// DeleteRange) as client-go sends them: at least once. After an attempt
// whose outcome is unknown (a lost response, a broken stream, a timeout
// after the send) the write is sent again. That is not linearizable: the
// late copy can land after another client's acknowledged write to the same
// key and undo it, and a write that then fails is still reported as
// kv.ErrUndetermined. CompareAndSwap is never resent.
func ResendWrites() RawOption {
	return func(c *rawConfig) { c.resendWrites = true }
}

// resendable returns m marked idempotent when writes are to be resent.
func resendable[Req transport.Message, Resp pipeline.Response](cfg rawConfig, m pipeline.Method[Req, Resp]) pipeline.Method[Req, Resp] {
	m.Idempotent = m.Idempotent || cfg.resendWrites
	return m
}

// NewRaw compiles the raw plans on e.
func NewRaw(e *pipeline.Env, opts ...RawOption) *Raw {
	var cfg rawConfig
	for _, o := range opts {
		o(&cfg)
	}
	write := pipeline.FinishInFlight()
	scanStep := pipeline.Retry(e, RawScan)
	unbounded := pipeline.Stream(e, rawScanCursor, scanStep, pipeline.Named("RawScan"))
	limited := pipeline.Stream(e, rawScanCursor, scanStep, pipeline.PageSize(RawScanMaxPage), pipeline.Named("RawScan"))
	return &Raw{
		Get: checked(checkRawGet, pipeline.Single(pipeline.ShardByKey(e, (*kvrpcpb.RawGetRequest).GetKey,
			pipeline.Retry(e, RawGet), pipeline.Named("RawGet")))),
		BatchGet: checked(checkRawBatchGet, pipeline.Merge(pipeline.Shard(e, rawBatchGetSplit, pipeline.Retry(e, RawBatchGet), pipeline.Named("RawBatchGet")),
			valuesInRequestOrder)),
		Put: checked(checkRawPut, pipeline.Single(pipeline.ShardByKey(e, (*kvrpcpb.RawPutRequest).GetKey,
			pipeline.Retry(e, resendable(cfg, RawPut)), pipeline.Named("RawPut")))),
		BatchPut: checked(checkRawBatchPut, pipeline.Merge(partialKeys("BatchPut",
			pipeline.Shard(e, rawBatchPutSplit, pipeline.Retry(e, resendable(cfg, RawBatchPut)), write, pipeline.Named("RawBatchPut")),
			func(r *kvrpcpb.RawBatchPutRequest) [][]byte { return pairKeys(r.GetPairs()) }), pipeline.Discard)),
		Delete: checked(checkRawDelete, pipeline.Single(pipeline.ShardByKey(e, (*kvrpcpb.RawDeleteRequest).GetKey,
			pipeline.Retry(e, resendable(cfg, RawDelete)), pipeline.Named("RawDelete")))),
		BatchDelete: checked(checkRawBatchDelete, pipeline.Merge(partialKeys("BatchDelete",
			pipeline.Shard(e, rawBatchDeleteSplit, pipeline.Retry(e, resendable(cfg, RawBatchDelete)), write, pipeline.Named("RawBatchDelete")),
			(*kvrpcpb.RawBatchDeleteRequest).GetKeys), pipeline.Discard)),
		DeleteRange: checked(checkRawDeleteRange, pipeline.Merge(partialRanges("DeleteRange",
			pipeline.Shard(e, rawDeleteRangeSplit, pipeline.Retry(e, resendable(cfg, RawDeleteRange)), write, pipeline.Named("RawDeleteRange")),
			func(r *kvrpcpb.RawDeleteRangeRequest) kv.KeyRange {
				return kv.KeyRange{Start: r.GetStartKey(), End: r.GetEndKey()}
			}), pipeline.Discard)),
		Scan: func(ctx context.Context, req *kvrpcpb.RawScanRequest) iter.Seq2[*kvrpcpb.KvPair, error] {
			if err := checkRawScan(req); err != nil {
				return func(yield func(*kvrpcpb.KvPair, error) bool) { yield(nil, err) }
			}
			stream := unbounded
			if req.GetLimit() > 0 {
				stream = limited
			}
			return pipeline.Flatten(stream(ctx, req), (*kvrpcpb.RawScanResponse).GetKvs)
		},
		GetKeyTTL: checked(checkRawGetKeyTTL, pipeline.Single(pipeline.ShardByKey(e, (*kvrpcpb.RawGetKeyTTLRequest).GetKey,
			pipeline.Retry(e, RawGetKeyTTL), pipeline.Named("RawGetKeyTTL")))),
		CompareAndSwap: checked(checkRawCAS, pipeline.Single(pipeline.ShardByKey(e, (*kvrpcpb.RawCASRequest).GetKey,
			pipeline.Retry(e, RawCompareAndSwap), pipeline.Named("RawCompareAndSwap")))),
		Checksum: checked(checkRawChecksum, pipeline.Merge(pipeline.Shard(e, rawChecksumSplit, pipeline.Retry(e, RawChecksum), pipeline.Named("RawChecksum")),
			mergeChecksums)),
	}
}

// valuesInRequestOrder puts the pairs of a sharded raw batch get back in
// the order of the caller's keys: the split sorted and grouped them by
// region, and TiKV leaves missing keys out.
func valuesInRequestOrder(_ context.Context, req *kvrpcpb.RawBatchGetRequest, parts []pipeline.Part[*kvrpcpb.RawBatchGetRequest, *kvrpcpb.RawBatchGetResponse]) ([][]byte, error) {
	found := make(map[string][]byte, len(req.GetKeys()))
	for _, part := range parts {
		for _, p := range part.Resp.GetPairs() {
			v := p.GetValue()
			if v == nil {
				v = []byte{}
			}
			found[string(p.GetKey())] = v
		}
	}
	values := make([][]byte, len(req.GetKeys()))
	for i, k := range req.GetKeys() {
		values[i] = found[string(k)]
	}
	return values, nil
}

func pairKeys(pairs []*kvrpcpb.KvPair) [][]byte {
	keys := make([][]byte, len(pairs))
	for i, p := range pairs {
		keys[i] = p.GetKey()
	}
	return keys
}

func identity(b []byte) []byte { return b }

func pairKey(p *kvrpcpb.KvPair) []byte { return p.GetKey() }

func pairSize(p *kvrpcpb.KvPair) int { return len(p.GetKey()) + len(p.GetValue()) }

// rawPutItem is one pair of a batch put with its TTL, so that splitting
// keeps them together.
type rawPutItem struct {
	pair *kvrpcpb.KvPair
	ttl  uint64
}

var (
	rawBatchGetSplit = pipeline.ByKeys((*kvrpcpb.RawBatchGetRequest).GetKeys, identity,
		func(r *kvrpcpb.RawBatchGetRequest, keys [][]byte) *kvrpcpb.RawBatchGetRequest {
			c := *r
			c.Keys = keys
			return &c
		}, pipeline.Limit[[]byte]{Keys: RawBatchPairCount})

	rawBatchPutPairsSplit = pipeline.ByKeys((*kvrpcpb.RawBatchPutRequest).GetPairs, pairKey,
		func(r *kvrpcpb.RawBatchPutRequest, pairs []*kvrpcpb.KvPair) *kvrpcpb.RawBatchPutRequest {
			c := *r
			c.Pairs = pairs
			return &c
		}, pipeline.Limit[*kvrpcpb.KvPair]{Keys: RawBatchPairCount, Bytes: RawBatchPutSize, Size: pairSize})

	rawBatchPutTTLSplit = pipeline.ByKeys(
		func(r *kvrpcpb.RawBatchPutRequest) []rawPutItem {
			items := make([]rawPutItem, len(r.GetPairs()))
			for i, p := range r.GetPairs() {
				items[i] = rawPutItem{pair: p, ttl: r.GetTtls()[i]}
			}
			return items
		},
		func(it rawPutItem) []byte { return it.pair.GetKey() },
		func(r *kvrpcpb.RawBatchPutRequest, items []rawPutItem) *kvrpcpb.RawBatchPutRequest {
			c := *r
			c.Pairs, c.Ttls = make([]*kvrpcpb.KvPair, len(items)), make([]uint64, len(items))
			for i, it := range items {
				c.Pairs[i], c.Ttls[i] = it.pair, it.ttl
			}
			return &c
		}, pipeline.Limit[rawPutItem]{Keys: RawBatchPairCount, Bytes: RawBatchPutSize,
			Size: func(it rawPutItem) int { return pairSize(it.pair) }})

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

	rawChecksumSplit = pipeline.ByRange(
		func(r *kvrpcpb.RawChecksumRequest) ([]byte, []byte) {
			rng := r.GetRanges()[0]
			return rng.GetStartKey(), rng.GetEndKey()
		},
		func(r *kvrpcpb.RawChecksumRequest, start, end []byte) *kvrpcpb.RawChecksumRequest {
			c := *r
			c.Ranges = []*kvrpcpb.KeyRange{{StartKey: start, EndKey: end}}
			return &c
		})
)

// rawBatchPutSplit routes a batch put by region. The TTL-less form, the
// common one, splits the pairs as they are; with per-pair TTLs each TTL is
// carried with its pair.
func rawBatchPutSplit(ctx context.Context, loc pdclient.Locator, req *kvrpcpb.RawBatchPutRequest) iter.Seq2[pipeline.Routed[*kvrpcpb.RawBatchPutRequest], error] {
	if len(req.GetTtls()) == 0 {
		return rawBatchPutPairsSplit(ctx, loc, req)
	}
	return rawBatchPutTTLSplit(ctx, loc, req)
}

// mergeChecksums combines per-region checksums as TiKV's per-pair digests
// combine: XOR is order-independent, so regions may answer in any order.
func mergeChecksums(_ context.Context, _ *kvrpcpb.RawChecksumRequest, parts []pipeline.Part[*kvrpcpb.RawChecksumRequest, *kvrpcpb.RawChecksumResponse]) (*kvrpcpb.RawChecksumResponse, error) {
	out := &kvrpcpb.RawChecksumResponse{}
	for _, p := range parts {
		out.Checksum ^= p.Resp.GetChecksum()
		out.TotalKvs += p.Resp.GetTotalKvs()
		out.TotalBytes += p.Resp.GetTotalBytes()
	}
	return out, nil
}

// rawScanCursor pages RawScan (TiKV's raw_scan in src/storage/mod.rs).
var rawScanCursor = ScanCursor((*kvrpcpb.RawScanResponse).GetKvs,
	func(r *kvrpcpb.RawScanRequest, start, end []byte, limit uint32) *kvrpcpb.RawScanRequest {
		c := *r
		c.StartKey, c.EndKey, c.Limit = start, end, limit
		return &c
	})
