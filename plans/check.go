package plans

import (
	"bytes"
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
)

// checked runs check on every request before p: the exported plans are
// public API, and a request they cannot send must fail with a typed error,
// never reach a splitter that would index past its end.
func checked[Req, Resp any](check func(Req) error, p pipeline.Plan[Req, Resp]) pipeline.Plan[Req, Resp] {
	return func(ctx context.Context, req Req) (Resp, error) {
		if err := check(req); err != nil {
			var zero Resp
			return zero, err
		}
		return p(ctx, req)
	}
}

func checkKey(what string, k []byte) error {
	if len(k) == 0 {
		return kv.InvalidArgument("%s: empty key", what)
	}
	return nil
}

func checkKeyList(what string, keys [][]byte) error {
	for i, k := range keys {
		if len(k) == 0 {
			return kv.InvalidArgument("%s: empty key at index %d", what, i)
		}
	}
	return nil
}

// checkRange rejects an inverted range; an empty end is unbounded.
func checkRange(what string, start, end []byte) error {
	if len(end) > 0 && bytes.Compare(start, end) > 0 {
		return kv.InvalidArgument("%s: inverted range [%q, %q)", what, start, end)
	}
	return nil
}

func checkRawGet(r *kvrpcpb.RawGetRequest) error {
	if r == nil {
		return kv.InvalidArgument("RawGet: nil request")
	}
	return checkKey("RawGet", r.Key)
}

func checkRawBatchGet(r *kvrpcpb.RawBatchGetRequest) error {
	if r == nil {
		return kv.InvalidArgument("RawBatchGet: nil request")
	}
	return checkKeyList("RawBatchGet", r.Keys)
}

func checkRawPut(r *kvrpcpb.RawPutRequest) error {
	if r == nil {
		return kv.InvalidArgument("RawPut: nil request")
	}
	return checkKey("RawPut", r.Key)
}

func checkRawBatchPut(r *kvrpcpb.RawBatchPutRequest) error {
	if r == nil {
		return kv.InvalidArgument("RawBatchPut: nil request")
	}
	if len(r.Ttls) > 0 && len(r.Ttls) != len(r.Pairs) {
		return kv.InvalidArgument("RawBatchPut: %d pairs but %d ttls", len(r.Pairs), len(r.Ttls))
	}
	for i, p := range r.Pairs {
		if p == nil || len(p.Key) == 0 {
			return kv.InvalidArgument("RawBatchPut: empty key at index %d", i)
		}
	}
	return nil
}

func checkRawDelete(r *kvrpcpb.RawDeleteRequest) error {
	if r == nil {
		return kv.InvalidArgument("RawDelete: nil request")
	}
	return checkKey("RawDelete", r.Key)
}

func checkRawBatchDelete(r *kvrpcpb.RawBatchDeleteRequest) error {
	if r == nil {
		return kv.InvalidArgument("RawBatchDelete: nil request")
	}
	return checkKeyList("RawBatchDelete", r.Keys)
}

func checkRawDeleteRange(r *kvrpcpb.RawDeleteRangeRequest) error {
	if r == nil {
		return kv.InvalidArgument("RawDeleteRange: nil request")
	}
	return checkRange("RawDeleteRange", r.StartKey, r.EndKey)
}

// checkRawScan checks the range in scan order: a reverse scan's start_key
// is its upper bound (see rawScanCursor).
func checkRawScan(r *kvrpcpb.RawScanRequest) error {
	if r == nil {
		return kv.InvalidArgument("RawScan: nil request")
	}
	if r.Reverse {
		return checkRange("RawScan", r.EndKey, r.StartKey)
	}
	return checkRange("RawScan", r.StartKey, r.EndKey)
}

func checkRawGetKeyTTL(r *kvrpcpb.RawGetKeyTTLRequest) error {
	if r == nil {
		return kv.InvalidArgument("RawGetKeyTTL: nil request")
	}
	return checkKey("RawGetKeyTTL", r.Key)
}

func checkRawCAS(r *kvrpcpb.RawCASRequest) error {
	if r == nil {
		return kv.InvalidArgument("RawCompareAndSwap: nil request")
	}
	return checkKey("RawCompareAndSwap", r.Key)
}

func checkRawChecksum(r *kvrpcpb.RawChecksumRequest) error {
	if r == nil {
		return kv.InvalidArgument("RawChecksum: nil request")
	}
	if len(r.Ranges) != 1 || r.Ranges[0] == nil {
		return kv.InvalidArgument("RawChecksum: want exactly one range, got %d", len(r.Ranges))
	}
	return checkRange("RawChecksum", r.Ranges[0].StartKey, r.Ranges[0].EndKey)
}
