package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"slices"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
)

// OverlappingRangesError is ByRanges' refusal of a request whose key ranges
// overlap. Ranges are not merged behind the caller's back: each range may
// carry meaning of its own (RawBatchScan's each_limit counts per range; a
// user's range may carry a tag), and TiKV would answer an overlap twice. A
// caller who means the union merges the ranges before sending. It wraps
// kv.ErrInvalidArgument.
type OverlappingRangesError struct {
	// First is the range that starts first, Second the one that starts
	// inside it, as [start, end) bounds (an empty end: to the end of the
	// key space).
	First, Second [2][]byte
}

// Error describes the failure on one line.
func (e *OverlappingRangesError) Error() string {
	return fmt.Sprintf("pipeline: key ranges [%q, %q) and [%q, %q) overlap",
		e.First[0], e.First[1], e.Second[0], e.Second[1])
}

// Unwrap returns kv.ErrInvalidArgument: the request is refused before
// anything is sent, and retrying it cannot help.
func (e *OverlappingRangesError) Unwrap() error { return kv.ErrInvalidArgument }

// ByRanges routes a request carrying several key ranges (RawBatchScan's
// ranges, or a user's own multi-range request): every range is cut at
// region boundaries, and the pieces that fall in one region go together in
// one request for that region, built by with(req, pieces). Regions come in
// key order, and so do the pieces within one request.
//
// ranges lists the request's ranges; bounds reads a range's [start, end),
// where an empty end means to the end of the key space; clip returns a new
// range like r (keeping whatever else r carries) narrowed to [start, end).
// clip is called only for a range that crosses a region boundary: a range
// that fits in one region is passed to with as it is. with must return a
// new request and leave req unchanged; neither req's slice nor its ranges
// are modified.
//
// The ranges may come in any order: they are sorted by start key (stably).
// An empty range (start equal to a non-empty end) holds no key and is
// dropped. A range whose non-empty end is below its start is refused with
// an error wrapping kv.ErrInvalidArgument (reverse ranges are not
// supported), and ranges that overlap are refused with an
// *OverlappingRangesError; ranges that only touch ([a, b) and [b, c)) are
// fine. A request with no ranges yields no pieces.
func ByRanges[Req, R any](
	ranges func(Req) []R,
	bounds func(R) (start, end []byte),
	clip func(r R, start, end []byte) R,
	with func(req Req, pieces []R) Req,
) Splitter[Req] {
	return func(ctx context.Context, loc pdclient.Locator, req Req) iter.Seq2[Routed[Req], error] {
		return func(yield func(Routed[Req], error) bool) {
			all, err := sortRanges(ranges(req), bounds)
			if err != nil {
				yield(Routed[Req]{}, err)
				return
			}
			var (
				region *pdclient.Region
				batch  []R
			)
			flush := func() bool {
				if len(batch) == 0 {
					return true
				}
				piece := Routed[Req]{Region: region, Req: with(req, batch)}
				batch = nil
				return yield(piece, nil)
			}
			for _, r := range all {
				start, end := bounds(r)
				from := start
				for {
					if region == nil || !region.Contains(from) {
						if !flush() {
							return
						}
						reg, err := loc.Locate(ctx, from)
						if err != nil {
							yield(Routed[Req]{}, err)
							return
						}
						region = reg
					}
					to := clampEnd(end, region.EndKey())
					piece := r
					if !bytes.Equal(from, start) || !bytes.Equal(to, end) {
						piece = clip(r, from, to)
					}
					batch = append(batch, piece)
					if len(region.EndKey()) == 0 || (len(end) > 0 && bytes.Compare(region.EndKey(), end) >= 0) {
						break
					}
					from = region.EndKey()
				}
			}
			flush()
		}
	}
}

// ByKeyRanges is ByRanges for requests whose ranges are kvrpcpb.KeyRanges,
// such as RawBatchScanRequest.Ranges: a range cut at a region boundary
// becomes a new KeyRange.
func ByKeyRanges[Req any](ranges func(Req) []*kvrpcpb.KeyRange, with func(req Req, pieces []*kvrpcpb.KeyRange) Req) Splitter[Req] {
	return ByRanges(ranges,
		func(r *kvrpcpb.KeyRange) ([]byte, []byte) { return r.GetStartKey(), r.GetEndKey() },
		func(_ *kvrpcpb.KeyRange, start, end []byte) *kvrpcpb.KeyRange {
			return &kvrpcpb.KeyRange{StartKey: start, EndKey: end}
		},
		with)
}

// sortRanges returns the non-empty ranges sorted by start key, or the error
// that refuses them (a reversed range, an overlap).
func sortRanges[R any](in []R, bounds func(R) (start, end []byte)) ([]R, error) {
	out := make([]R, 0, len(in))
	for _, r := range in {
		start, end := bounds(r)
		if len(end) > 0 {
			switch c := bytes.Compare(start, end); {
			case c > 0:
				return nil, kv.InvalidArgument("key range [%q, %q) ends before it starts", start, end)
			case c == 0:
				continue
			}
		}
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(a, b R) int {
		as, _ := bounds(a)
		bs, _ := bounds(b)
		return bytes.Compare(as, bs)
	})
	for i := 1; i < len(out); i++ {
		ps, pe := bounds(out[i-1])
		s, e := bounds(out[i])
		if len(pe) == 0 || bytes.Compare(pe, s) > 0 {
			return nil, &OverlappingRangesError{First: [2][]byte{ps, pe}, Second: [2][]byte{s, e}}
		}
	}
	return out, nil
}
