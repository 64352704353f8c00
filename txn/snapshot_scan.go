package txn

import (
	"bytes"
	"context"
	"iter"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
)

// Iter returns the pairs with keys in [lower, upper) at the snapshot's ts,
// in ascending key order; an empty upper is the end of the key space
// (client-go's Iter(k, upperBound)).
//
// Pairs are fetched as the sequence is consumed, one region page at a
// time (WithScanBatchSize pairs, DefaultScanBatchSize by default); breaking
// out of the loop stops further RPCs. Locks met on a page are resolved
// and the page read again (client-go instead re-reads each locked key with
// a point get), and every page passes the safe-point check before its
// pairs are yielded. A page that meets a split or moved region is
// re-located and resent from where the scan stood. An error is yielded
// once and ends the sequence. With WithKeyOnly the values are nil.
// Scans do not use the point-read cache.
func (s *Snapshot) Iter(ctx context.Context, lower, upper []byte) iter.Seq2[kv.KeyValue, error] {
	if len(upper) > 0 && bytes.Compare(lower, upper) > 0 {
		return fail(kv.InvalidArgument("scan range [%q, %q) is inverted", lower, upper))
	}
	return s.scan(ctx, &kvrpcpb.ScanRequest{StartKey: lower, EndKey: upper})
}

// IterReverse returns the pairs with keys in [lower, upper) at the
// snapshot's ts in descending key order (client-go's IterReverse(k,
// lowerBound): upper is exclusive, lower inclusive and may be empty, the
// start of the key space). Paging is as for Iter.
//
// upper must not be empty: TiKV seeks strictly below a reverse scan's
// start key and cannot express "the end of the key space" (semantics
// §3.3), so client-go silently returns nothing there; IterReverse yields
// kv.ErrInvalidArgument instead, as raw.Client.ReverseScan does.
func (s *Snapshot) IterReverse(ctx context.Context, upper, lower []byte) iter.Seq2[kv.KeyValue, error] {
	if len(upper) == 0 {
		return fail(kv.InvalidArgument("reverse scan needs a non-empty upper bound"))
	}
	if bytes.Compare(lower, upper) > 0 {
		return fail(kv.InvalidArgument("scan range [%q, %q) is inverted", lower, upper))
	}
	return s.scan(ctx, &kvrpcpb.ScanRequest{StartKey: upper, EndKey: lower, Reverse: true})
}

func (s *Snapshot) scan(ctx context.Context, req *kvrpcpb.ScanRequest) iter.Seq2[kv.KeyValue, error] {
	if s.err != nil {
		return fail(s.err)
	}
	return func(yield func(kv.KeyValue, error) bool) {
		// The Context is taken when ranging starts, so that a sequence
		// ranged later carries the locks learnt by then.
		r := *req
		r.Context, r.Version, r.KeyOnly, r.SampleStep = s.locks.context(s.rctx), s.ts, s.cfg.keyOnly, s.cfg.sampleStep
		for part, err := range s.plans.scan(s.readContext(ctx), &r) {
			if err != nil {
				yield(kv.KeyValue{}, err)
				return
			}
			if err := s.checkVisibility(ctx); err != nil {
				yield(kv.KeyValue{}, err)
				return
			}
			for _, p := range part.Resp.GetPairs() {
				v := p.GetValue()
				if s.cfg.keyOnly {
					v = nil
				}
				if !yield(kv.KeyValue{Key: p.GetKey(), Value: v}, nil) {
					return
				}
			}
		}
	}
}

// fail is a sequence that yields err once.
func fail(err error) iter.Seq2[kv.KeyValue, error] {
	return func(yield func(kv.KeyValue, error) bool) { yield(kv.KeyValue{}, err) }
}
