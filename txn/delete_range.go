package txn

import (
	"bytes"
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
)

// DeleteRangeOption tunes one DeleteRange call.
type DeleteRangeOption func(*deleteRangeConfig)

type deleteRangeConfig struct {
	concurrency int
	notifyOnly  bool
}

// WithDeleteRangeConcurrency bounds how many regions DeleteRange deletes
// from at once (client-go's concurrency argument of KVStore.DeleteRange).
// Zero or less keeps the cluster's plan concurrency.
func WithDeleteRangeConcurrency(n int) DeleteRangeOption {
	return func(c *deleteRangeConfig) { c.concurrency = n }
}

// WithDeleteRangeNotifyOnly sends every region the request with
// notify_only set: TiKV replicates it through Raft but deletes nothing,
// announcing an UnsafeDestroyRange of the range to come (TiKV's
// Storage::delete_range; client-go's NewNotifyDeleteRangeTask).
func WithDeleteRangeNotifyOnly() DeleteRangeOption {
	return func(c *deleteRangeConfig) { c.notifyOnly = true }
}

// unboundedDeleteEnd returns what stands for "to the end of the key
// space" in the last region's request. TiKV encodes both bounds of a KvDeleteRange with
// Key::from_raw (service/kv.rs future_delete_range), so an empty end is
// not unbounded there: it becomes the encoded empty key, which sorts
// before every start, and raftstore's apply rejects the command
// ("invalid delete range command", apply.rs handle_delete_range). No
// finite key bounds every key, but TiKV refuses to write any key longer
// than storage.max-key-size (8 KiB by default, storage/config.rs; the
// check_key_size of prewrite), so 8 KiB of 0xff sorts after every key a
// transaction can have written with the default configuration.
func unboundedDeleteEnd() []byte { return bytes.Repeat([]byte{0xff}, 8<<10) }

// deleteRangeMethod is plans.KvDeleteRange sent again after an attempt
// whose outcome is unknown. plans marks KvDeleteRange not idempotent in
// general: it is keyed by no timestamp, so a late copy deletes whatever
// was written into the range in between. DeleteRange's contract (the
// range receives no writes while it runs, as client-go's KVStore.DeleteRange
// demands) removes that hazard: TiKV's delete_range is one engine range
// delete per column family (Storage::delete_range, Modify::DeleteRange),
// and applying it again to a range it already emptied deletes nothing.
// Reporting kv.ErrUndetermined instead would only make every caller send
// the same range again; client-go's region request sender resends it too.
func deleteRangeMethod() pipeline.Method[*kvrpcpb.DeleteRangeRequest, *kvrpcpb.DeleteRangeResponse] {
	m := plans.KvDeleteRange
	m.Idempotent = true
	return m
}

// deleteRangeSplit cuts a KvDeleteRange at region boundaries; the last
// region's piece of an unbounded range gets unboundedDeleteEnd.
var deleteRangeSplit = pipeline.ByRange(
	func(r *kvrpcpb.DeleteRangeRequest) ([]byte, []byte) { return r.GetStartKey(), r.GetEndKey() },
	func(r *kvrpcpb.DeleteRangeRequest, start, end []byte) *kvrpcpb.DeleteRangeRequest {
		c := *r
		c.StartKey, c.EndKey = start, end
		if len(end) == 0 {
			c.EndKey = unboundedDeleteEnd()
		}
		return &c
	})

// DeleteRange physically deletes every version of every key in [start,
// end), locks included, region by region (client-go's KVStore.DeleteRange):
// an empty start is the start of the key space and an empty end its end.
// It returns how many region requests succeeded, which is the number of
// regions the range covers unless regions split or merge meanwhile (each
// piece re-split after stale routing counts once per region it ends up
// in). An empty range (start == end) deletes nothing and returns 0; an
// inverted one fails with kv.ErrInvalidArgument before anything is sent.
//
// It bypasses MVCC: snapshots older than the call lose the versions too,
// and nothing may write into the range while it runs (a write racing with
// it may or may not survive, and the deletion of a region may be sent
// more than once; see deleteRangeMethod). Nor may the range hold the
// primary key of a transaction whose other keys are still being
// committed: with the primary's lock and commit record gone, its
// secondaries outside the range are rolled back by the next reader. It
// is meant for ranges no one uses any more, such as a dropped table's.
//
// On failure it returns 0 and the first region's error; regions already
// done stay deleted, so the call may simply be repeated.
func (c *Client) DeleteRange(ctx context.Context, start, end []byte, opts ...DeleteRangeOption) (int, error) {
	if c.closed.Load() {
		return 0, kv.ErrClosed
	}
	var cfg deleteRangeConfig
	for _, o := range opts {
		o(&cfg)
	}
	if len(end) > 0 {
		switch bytes.Compare(start, end) {
		case 1:
			return 0, kv.InvalidArgument("DeleteRange: inverted range [%q, %q)", start, end)
		case 0:
			return 0, nil
		}
	}
	env := c.env
	if cfg.concurrency > 0 && cfg.concurrency != env.Concurrency {
		// A copy, never the shared Env, which must not change once plans
		// are built on it; Locator and Sender are shared by reference.
		e := *env
		e.Concurrency = cfg.concurrency
		env = &e
	}
	plan := pipeline.Merge(pipeline.Shard(env, deleteRangeSplit, pipeline.Retry(env, deleteRangeMethod()),
		pipeline.Named("DeleteRange")), countRegions)
	return plan(ctx, &kvrpcpb.DeleteRangeRequest{StartKey: start, EndKey: end, NotifyOnly: cfg.notifyOnly})
}

// countRegions is the merge of DeleteRange: one part per region request
// that succeeded.
func countRegions(_ context.Context, _ *kvrpcpb.DeleteRangeRequest,
	parts []pipeline.Part[*kvrpcpb.DeleteRangeRequest, *kvrpcpb.DeleteRangeResponse]) (int, error) {
	return len(parts), nil
}
