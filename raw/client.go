package raw

import (
	"bytes"
	"context"
	"iter"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
)

// Backend is what a Client runs on: the plan environments of a cluster
// connection. *tikv.Cluster implements it.
type Backend interface {
	EnvFor(mode kv.KeyMode) *pipeline.Env
}

// Client is a RawKV client. It is safe for concurrent use. It holds no
// resources of its own: closing the Backend's cluster ends it.
type Client struct {
	plans *plans.Raw
}

// NewClient returns a RawKV client running on b's cluster connection.
func NewClient(b Backend) *Client {
	return &Client{plans: plans.NewRaw(b.EnvFor(kv.ModeRaw))}
}

// Get returns the value of key, or kv.ErrNotFound. A key stored with an
// empty value returns a non-nil empty slice.
func (c *Client) Get(ctx context.Context, key []byte) ([]byte, error) {
	if len(key) == 0 {
		return nil, kv.InvalidArgument("empty key")
	}
	resp, err := c.plans.Get(ctx, &kvrpcpb.RawGetRequest{Key: key})
	if err != nil {
		return nil, err
	}
	if resp.GetNotFound() {
		return nil, kv.ErrNotFound
	}
	return nonNil(resp.GetValue()), nil
}

// BatchGet returns the values of keys in the order of keys; a missing key's
// value is nil. Keys are grouped by region and read in parallel.
func (c *Client) BatchGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	pairs, err := c.plans.BatchGet(ctx, &kvrpcpb.RawBatchGetRequest{Keys: keys})
	if err != nil {
		return nil, err
	}
	found := make(map[string][]byte, len(pairs))
	for _, p := range pairs {
		if p.GetError() != nil {
			return nil, &kv.ServerError{Cmd: "RawBatchGet", Msg: p.GetError().String()}
		}
		found[string(p.GetKey())] = nonNil(p.GetValue())
	}
	values := make([][]byte, len(keys))
	for i, k := range keys {
		values[i] = found[string(k)]
	}
	return values, nil
}

// Put stores value under key. An empty value is a value: Get returns it
// as an empty slice, not kv.ErrNotFound.
func (c *Client) Put(ctx context.Context, key, value []byte) error {
	if len(key) == 0 {
		return kv.InvalidArgument("empty key")
	}
	_, err := c.plans.Put(ctx, &kvrpcpb.RawPutRequest{Key: key, Value: value})
	return err
}

// BatchPut stores values[i] under keys[i] for every i. The pairs are
// grouped by region and written in parallel in batches of at most
// plans.RawBatchPairCount pairs and plans.RawBatchPutSize bytes; the write
// is not atomic across batches. When a key appears more than once, the last
// occurrence wins.
func (c *Client) BatchPut(ctx context.Context, keys, values [][]byte) error {
	if len(keys) != len(values) {
		return kv.InvalidArgument("%d keys but %d values", len(keys), len(values))
	}
	if err := checkKeys(keys); err != nil {
		return err
	}
	last := make(map[string]int, len(keys))
	for i, k := range keys {
		last[string(k)] = i
	}
	pairs := make([]*kvrpcpb.KvPair, 0, len(last))
	for i, k := range keys {
		if last[string(k)] == i {
			pairs = append(pairs, &kvrpcpb.KvPair{Key: k, Value: values[i]})
		}
	}
	_, err := c.plans.BatchPut(ctx, &kvrpcpb.RawBatchPutRequest{Pairs: pairs})
	return err
}

// Delete removes key. Deleting a missing key is not an error.
func (c *Client) Delete(ctx context.Context, key []byte) error {
	if len(key) == 0 {
		return kv.InvalidArgument("empty key")
	}
	_, err := c.plans.Delete(ctx, &kvrpcpb.RawDeleteRequest{Key: key})
	return err
}

// BatchDelete removes keys, grouped by region and in parallel; it is not
// atomic across regions.
func (c *Client) BatchDelete(ctx context.Context, keys [][]byte) error {
	if err := checkKeys(keys); err != nil {
		return err
	}
	_, err := c.plans.BatchDelete(ctx, &kvrpcpb.RawBatchDeleteRequest{Keys: keys})
	return err
}

// DeleteRange removes every key in [start, end); an empty end means the end
// of the key space. An empty range (start == end) deletes nothing; an
// inverted one is an error. It is not atomic across regions.
func (c *Client) DeleteRange(ctx context.Context, start, end []byte) error {
	if len(end) > 0 {
		switch bytes.Compare(start, end) {
		case 0:
			return nil
		case 1:
			return kv.InvalidArgument("inverted range [%q, %q)", start, end)
		}
	}
	_, err := c.plans.DeleteRange(ctx, &kvrpcpb.RawDeleteRangeRequest{StartKey: start, EndKey: end})
	return err
}

// Scan returns the pairs with keys in [start, end) in ascending key order,
// at most limit of them (limit <= 0: no limit); an empty end means the end
// of the key space. Pages are fetched region by region as the sequence is
// consumed; breaking out of the loop stops further requests. An error ends
// the sequence.
func (c *Client) Scan(ctx context.Context, start, end []byte, limit int) iter.Seq2[kv.KeyValue, error] {
	return c.scan(ctx, &kvrpcpb.RawScanRequest{StartKey: start, EndKey: end, Limit: scanLimit(limit)})
}

// ReverseScan returns the pairs with keys in [end, start) in descending key
// order, at most limit of them (limit <= 0: no limit). As in client-go,
// start is the exclusive upper bound and end the inclusive lower bound
// (empty: the start of the key space).
//
// start must not be empty: TiKV seeks strictly below a reverse scan's start
// key and has no way to express "the end of the key space", so client-go
// silently returns nothing there. ReverseScan reports kv.ErrInvalidArgument
// instead; pass a key above every key of interest.
func (c *Client) ReverseScan(ctx context.Context, start, end []byte, limit int) iter.Seq2[kv.KeyValue, error] {
	if len(start) == 0 {
		return func(yield func(kv.KeyValue, error) bool) {
			yield(kv.KeyValue{}, kv.InvalidArgument("reverse scan needs a non-empty start key (its exclusive upper bound)"))
		}
	}
	return c.scan(ctx, &kvrpcpb.RawScanRequest{StartKey: start, EndKey: end, Limit: scanLimit(limit), Reverse: true})
}

func (c *Client) scan(ctx context.Context, req *kvrpcpb.RawScanRequest) iter.Seq2[kv.KeyValue, error] {
	lower, upper := req.StartKey, req.EndKey
	if req.Reverse {
		lower, upper = upper, lower
	}
	if len(upper) > 0 && bytes.Compare(lower, upper) > 0 {
		return func(yield func(kv.KeyValue, error) bool) {
			yield(kv.KeyValue{}, kv.InvalidArgument("scan range [%q, %q) is inverted", lower, upper))
		}
	}
	return func(yield func(kv.KeyValue, error) bool) {
		for p, err := range c.plans.Scan(ctx, req) {
			if err != nil {
				yield(kv.KeyValue{}, err)
				return
			}
			if !yield(kv.KeyValue{Key: p.GetKey(), Value: nonNil(p.GetValue())}, nil) {
				return
			}
		}
	}
}

func scanLimit(limit int) uint32 {
	if limit <= 0 {
		return 0
	}
	return uint32(min(limit, 1<<31))
}

func checkKeys(keys [][]byte) error {
	for i, k := range keys {
		if len(k) == 0 {
			return kv.InvalidArgument("empty key at index %d", i)
		}
	}
	return nil
}

// nonNil turns the nil that gRPC decodes an empty value into back into an
// empty slice, so a found key never looks missing.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}
