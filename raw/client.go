package raw

import (
	"bytes"
	"context"
	"time"

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
//
// Every method takes per-call options (CallOption); each method's doc says
// which. Keys must not be empty. Byte slices passed in are not retained
// after the call returns and must not be modified while it runs; slices
// returned belong to the caller.
type Client struct {
	plans *plans.Raw
	// resend is the plan set compiled with plans.ResendWrites, for
	// at-least-once writes.
	resend *plans.Raw
	cfg    clientConfig
}

// NewClient returns a RawKV client running on b's cluster connection,
// configured by opts. Building one compiles the raw plans; derive clients
// that differ only in options with Client.With instead.
func NewClient(b Backend, opts ...Option) *Client {
	env := b.EnvFor(kv.ModeRaw)
	c := &Client{plans: plans.NewRaw(env), resend: plans.NewRaw(env, plans.ResendWrites())}
	for _, o := range opts {
		o(&c.cfg)
	}
	return c
}

// With returns a client that shares c's cluster connection and compiled
// plans, with opts applied on top of c's options; c is unchanged. It is
// tikvgo's form of client-go's SetColumnFamily and SetAtomicForCAS, which
// modify a shared client in place.
func (c *Client) With(opts ...Option) *Client {
	d := *c
	for _, o := range opts {
		o(&d.cfg)
	}
	return &d
}

// Get returns the value of key, or kv.ErrNotFound (client-go returns nil,
// nil). A key stored with an empty value returns a non-nil empty slice.
//
// Options: ColumnFamily, ReplicaRead, Priority, RequestSource.
func (c *Client) Get(ctx context.Context, key []byte, opts ...CallOption) ([]byte, error) {
	ctx, cl, err := c.resolve(ctx, "Get", optsRead, opts)
	if err != nil {
		return nil, err
	}
	if len(key) == 0 {
		return nil, kv.InvalidArgument("empty key")
	}
	resp, err := c.plans.Get(ctx, &kvrpcpb.RawGetRequest{Context: cl.rctx, Key: key, Cf: cl.cf})
	if err != nil {
		return nil, err
	}
	if resp.GetNotFound() {
		return nil, kv.ErrNotFound
	}
	return nonNil(resp.GetValue()), nil
}

// BatchGet returns the values of keys in the order of keys; a missing key's
// value is nil, an empty value a non-nil empty slice. Keys are grouped by
// region and read in parallel, at most plans.RawBatchPairCount keys per
// RPC. A key may appear more than once.
//
// Options: ColumnFamily, ReplicaRead, Priority, RequestSource.
func (c *Client) BatchGet(ctx context.Context, keys [][]byte, opts ...CallOption) ([][]byte, error) {
	ctx, cl, err := c.resolve(ctx, "BatchGet", optsRead, opts)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	return c.plans.BatchGet(ctx, &kvrpcpb.RawBatchGetRequest{Context: cl.rctx, Keys: keys, Cf: cl.cf})
}

// Put stores value under key. An empty value is a value: Get returns it as
// an empty slice, not kv.ErrNotFound. In atomic mode (WithAtomicForCAS) the
// write is serialized with CompareAndSwap.
//
// Under faults a write is linearizable: it is sent again only when the
// error proves the earlier attempt never left the client; if an attempt
// may have reached TiKV the call returns kv.ErrUndetermined (the value may
// or may not be stored), never a plain failure. This holds for every raw
// write; WithAtLeastOnceWrites and AtLeastOnce trade it for client-go's
// resend.
//
// Options: ColumnFamily, TTL, Priority, RequestSource, AtLeastOnce.
func (c *Client) Put(ctx context.Context, key, value []byte, opts ...CallOption) error {
	ctx, cl, err := c.resolve(ctx, "Put", optsPut, opts)
	if err != nil {
		return err
	}
	if len(key) == 0 {
		return kv.InvalidArgument("empty key")
	}
	_, err = cl.plans.Put(ctx, &kvrpcpb.RawPutRequest{
		Context: cl.rctx, Key: key, Value: value, Cf: cl.cf, Ttl: cl.ttl, ForCas: c.cfg.atomic,
	})
	return err
}

// BatchPut stores values[i] under keys[i] for every i. The pairs are
// grouped by region and written in parallel in batches of at most
// plans.RawBatchPairCount pairs and plans.RawBatchPutSize bytes; the write
// is not atomic across batches. When batches to several regions fail in
// part, the error is a *kv.PartialWriteError that lists the keys written,
// not written and undetermined; a single-region failure is reported as Put
// reports it. When a key appears more than once, its last occurrence wins
// (only that pair is sent).
//
// Options: ColumnFamily, TTL (the same TTL for every pair; see
// BatchPutWithTTL for one per pair), Priority, RequestSource, AtLeastOnce.
func (c *Client) BatchPut(ctx context.Context, keys, values [][]byte, opts ...CallOption) error {
	ctx, cl, err := c.resolve(ctx, "BatchPut", optsPut, opts)
	if err != nil {
		return err
	}
	var ttls []uint64
	if cl.ttl != 0 {
		ttls = make([]uint64, len(keys))
		for i := range ttls {
			ttls[i] = cl.ttl
		}
	}
	return c.batchPut(ctx, cl, keys, values, ttls)
}

// BatchPutWithTTL is BatchPut with a time to live per pair: ttls[i] applies
// to keys[i] (client-go's BatchPutWithTTL). ttls must be empty (no TTL) or
// as long as keys; each is rounded up to whole seconds and zero means no
// expiry (see TTL). A duplicated key's last occurrence wins, value and TTL.
//
// Options: ColumnFamily, Priority, RequestSource, AtLeastOnce.
func (c *Client) BatchPutWithTTL(ctx context.Context, keys, values [][]byte, ttls []time.Duration, opts ...CallOption) error {
	ctx, cl, err := c.resolve(ctx, "BatchPutWithTTL", optsWrite, opts)
	if err != nil {
		return err
	}
	if len(ttls) > 0 && len(ttls) != len(keys) {
		return kv.InvalidArgument("%d keys but %d ttls", len(keys), len(ttls))
	}
	var secs []uint64
	for i, d := range ttls {
		s, err := ttlSeconds(d)
		if err != nil {
			return err
		}
		if secs == nil {
			secs = make([]uint64, len(ttls))
		}
		secs[i] = s
	}
	return c.batchPut(ctx, cl, keys, values, secs)
}

// batchPut sends keys and values, with ttls (seconds) either nil or one per
// key, keeping only the last occurrence of a duplicated key.
func (c *Client) batchPut(ctx context.Context, cl call, keys, values [][]byte, ttls []uint64) error {
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
	req := &kvrpcpb.RawBatchPutRequest{
		Context: cl.rctx, Pairs: make([]*kvrpcpb.KvPair, 0, len(last)), Cf: cl.cf, ForCas: c.cfg.atomic,
	}
	if ttls != nil {
		req.Ttls = make([]uint64, 0, len(last))
	}
	for i, k := range keys {
		if last[string(k)] != i {
			continue
		}
		req.Pairs = append(req.Pairs, &kvrpcpb.KvPair{Key: k, Value: values[i]})
		if ttls != nil {
			req.Ttls = append(req.Ttls, ttls[i])
		}
	}
	_, err := cl.plans.BatchPut(ctx, req)
	return err
}

// Delete removes key. Deleting a missing key is not an error. In atomic
// mode the delete is serialized with CompareAndSwap. Faults are reported as
// for Put.
//
// Options: ColumnFamily, Priority, RequestSource, AtLeastOnce.
func (c *Client) Delete(ctx context.Context, key []byte, opts ...CallOption) error {
	ctx, cl, err := c.resolve(ctx, "Delete", optsWrite, opts)
	if err != nil {
		return err
	}
	if len(key) == 0 {
		return kv.InvalidArgument("empty key")
	}
	_, err = cl.plans.Delete(ctx, &kvrpcpb.RawDeleteRequest{Context: cl.rctx, Key: key, Cf: cl.cf, ForCas: c.cfg.atomic})
	return err
}

// BatchDelete removes keys, grouped by region and in parallel, at most
// plans.RawBatchPairCount keys per RPC; it is not atomic across batches.
// Faults are reported as for BatchPut (*kv.PartialWriteError).
//
// Options: ColumnFamily, Priority, RequestSource, AtLeastOnce.
func (c *Client) BatchDelete(ctx context.Context, keys [][]byte, opts ...CallOption) error {
	ctx, cl, err := c.resolve(ctx, "BatchDelete", optsWrite, opts)
	if err != nil {
		return err
	}
	if err := checkKeys(keys); err != nil {
		return err
	}
	_, err = cl.plans.BatchDelete(ctx, &kvrpcpb.RawBatchDeleteRequest{Context: cl.rctx, Keys: keys, Cf: cl.cf, ForCas: c.cfg.atomic})
	return err
}

// DeleteRange removes every key in [start, end); an empty start is the
// start of the key space and an empty end its end, so DeleteRange(ctx, nil,
// nil) empties the column family. An empty range (start == end) deletes
// nothing; an inverted one is an error. Regions are cleared in parallel;
// the deletion is not atomic across regions, and it is not serialized with
// CompareAndSwap even in atomic mode (TiKV's RawDeleteRange has no for_cas).
// A failure in some regions is a *kv.PartialWriteError listing the ranges
// (per region) deleted, not deleted and undetermined.
//
// Options: ColumnFamily, Priority, RequestSource, AtLeastOnce.
func (c *Client) DeleteRange(ctx context.Context, start, end []byte, opts ...CallOption) error {
	ctx, cl, err := c.resolve(ctx, "DeleteRange", optsWrite, opts)
	if err != nil {
		return err
	}
	if len(end) > 0 {
		switch bytes.Compare(start, end) {
		case 0:
			return nil
		case 1:
			return kv.InvalidArgument("inverted range [%q, %q)", start, end)
		}
	}
	_, err = cl.plans.DeleteRange(ctx, &kvrpcpb.RawDeleteRangeRequest{Context: cl.rctx, StartKey: start, EndKey: end, Cf: cl.cf})
	return err
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
