package admin

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
)

// StoresFailedError reports the stores an all-stores command failed on;
// it unwraps to each store's error.
type StoresFailedError struct {
	Op string
	// Failed maps each failed store's id to its error.
	Failed map[uint64]error
	// Total is how many stores the command was sent to.
	Total int
	// first is the failed store with the smallest id, named in Error.
	first uint64
}

// Error describes the failure on one line.
func (e *StoresFailedError) Error() string {
	return fmt.Sprintf("%s: %d of %d stores failed; store %d: %v", e.Op, len(e.Failed), e.Total, e.first, e.Failed[e.first])
}

// Unwrap returns the stores' errors.
func (e *StoresFailedError) Unwrap() []error {
	out := make([]error, 0, len(e.Failed))
	for _, err := range e.Failed {
		out = append(out, err)
	}
	return out
}

// UnsafeDestroyRange deletes every version of every key in [start, end)
// on every store, bypassing Raft and MVCC (client-go's
// KVStore.UnsafeDestroyRange; TiKV's gc_worker unsafe_destroy_range).
// TiKV requires both bounds: an empty one fails on every store. It is
// for ranges no one reads or writes any more (a dropped table after the
// GC safe point passed its drop), usually announced first with
// txn.Client.DeleteRange's notify-only form.
//
// The request goes to each store once (it is keyed by no timestamp, so it
// is not resent after an attempt that may have applied); a store that
// fails or is unreachable is reported in a *StoresFailedError, and the
// call may simply be repeated.
func (c *Client) UnsafeDestroyRange(ctx context.Context, start, end []byte) error {
	plan := pipeline.AllStores(c.env, plans.UnsafeDestroyRange, pipeline.StoreFilter(pipeline.TiKVStores),
		pipeline.Named("UnsafeDestroyRange"))
	results, err := plan(ctx, &kvrpcpb.UnsafeDestroyRangeRequest{StartKey: start, EndKey: end})
	if err != nil {
		return fmt.Errorf("unsafe destroy range: %w", err)
	}
	failed := &StoresFailedError{Op: "unsafe destroy range", Failed: map[uint64]error{}, Total: len(results)}
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		if len(failed.Failed) == 0 {
			failed.first = r.Store.ID // results are in store-id order
		}
		failed.Failed[r.Store.ID] = r.Err
	}
	if len(failed.Failed) > 0 {
		return failed
	}
	if len(results) == 0 {
		return fmt.Errorf("unsafe destroy range: no TiKV store: %w", kv.ErrProtocol)
	}
	return nil
}
