package raw

import (
	"bytes"
	"context"
	"iter"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
)

// Scan returns the pairs with keys in [start, end) in ascending key order,
// at most limit of them (limit <= 0: no limit); an empty end means the end
// of the key space. To exclude start or include end, append a zero byte to
// it (kv.Key.Next).
//
// Pages are fetched region by region as the sequence is consumed: with a
// limit, each RPC asks for all that remains (at most plans.RawScanMaxPage
// pairs, client-go's MaxRawKVScanLimit, which client-go refuses to exceed
// while tikvgo pages past it); without one, pipeline.DefaultPageSize pairs
// at a time. Breaking out of the loop stops further requests. An error is
// yielded once and ends the sequence. Found values are never nil (an empty
// value is an empty slice) unless KeyOnly is set.
//
// Options: ColumnFamily, KeyOnly, ReplicaRead, Priority, RequestSource.
func (c *Client) Scan(ctx context.Context, start, end []byte, limit int, opts ...CallOption) iter.Seq2[kv.KeyValue, error] {
	return c.scan(ctx, "Scan", &kvrpcpb.RawScanRequest{StartKey: start, EndKey: end, Limit: scanLimit(limit)}, opts)
}

// ReverseScan returns the pairs with keys in [end, start) in descending key
// order, at most limit of them (limit <= 0: no limit). As in client-go,
// start is the exclusive upper bound and end the inclusive lower bound
// (empty: the start of the key space). To include start or exclude end,
// append a zero byte to it. Paging and options are as for Scan.
//
// start must not be empty: TiKV seeks strictly below a reverse scan's start
// key and has no way to express "the end of the key space", so client-go
// silently returns nothing there. ReverseScan reports kv.ErrInvalidArgument
// instead; pass a key above every key of interest.
func (c *Client) ReverseScan(ctx context.Context, start, end []byte, limit int, opts ...CallOption) iter.Seq2[kv.KeyValue, error] {
	if len(start) == 0 {
		return fail(kv.InvalidArgument("reverse scan needs a non-empty start key (its exclusive upper bound)"))
	}
	return c.scan(ctx, "ReverseScan", &kvrpcpb.RawScanRequest{StartKey: start, EndKey: end, Limit: scanLimit(limit), Reverse: true}, opts)
}

func (c *Client) scan(ctx context.Context, method string, req *kvrpcpb.RawScanRequest, opts []CallOption) iter.Seq2[kv.KeyValue, error] {
	ctx, cl, err := c.resolve(ctx, method, optsScan, opts)
	if err != nil {
		return fail(err)
	}
	req.Context, req.Cf, req.KeyOnly = cl.rctx, cl.cf, cl.keyOnly
	lower, upper := req.StartKey, req.EndKey
	if req.Reverse {
		lower, upper = upper, lower
	}
	if len(upper) > 0 && bytes.Compare(lower, upper) > 0 {
		return fail(kv.InvalidArgument("scan range [%q, %q) is inverted", lower, upper))
	}
	return func(yield func(kv.KeyValue, error) bool) {
		for p, err := range c.plans.Scan(ctx, req) {
			if err != nil {
				yield(kv.KeyValue{}, err)
				return
			}
			v := p.GetValue()
			if !cl.keyOnly {
				v = nonNil(v)
			}
			if !yield(kv.KeyValue{Key: p.GetKey(), Value: v}, nil) {
				return
			}
		}
	}
}

// fail is a sequence that yields err once.
func fail(err error) iter.Seq2[kv.KeyValue, error] {
	return func(yield func(kv.KeyValue, error) bool) { yield(kv.KeyValue{}, err) }
}

func scanLimit(limit int) uint32 {
	if limit <= 0 {
		return 0
	}
	return uint32(min(limit, 1<<31))
}
