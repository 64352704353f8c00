package pipeline

import (
	"bytes"
	"context"
	"iter"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
)

// Cursor describes how to page a range command (a scan) through regions.
// Bounds are in key order whatever the direction: lower is inclusive, upper
// exclusive, an empty upper is the end of the key space.
type Cursor[Req, Resp any] struct {
	// Bounds returns the request's range, its direction and its overall
	// item limit (0: no limit).
	Bounds func(req Req) (lower, upper []byte, reverse bool, limit int)
	// With builds the request for one page: the range within one region
	// and the most items the page may return. It must not modify req.
	With func(req Req, lower, upper []byte, limit int) Req
	// Count returns the number of items a page returned.
	Count func(resp Resp) int
	// Last returns the key of the page's last item (its greatest in a
	// forward scan, its smallest in a reverse one).
	Last func(resp Resp) []byte
}

// DefaultPageSize is how many items Stream asks for per RPC when the
// request sets no smaller limit (client-go's scan batch size).
const DefaultPageSize = 256

// StreamOption tunes Stream.
type StreamOption func(*streamConfig)

type streamConfig struct{ pageSize int }

// PageSize sets the number of items requested per RPC.
func PageSize(n int) StreamOption {
	return func(c *streamConfig) {
		if n > 0 {
			c.pageSize = n
		}
	}
}

// Stream returns a paged scan: for each call it walks the regions covering
// the request's range in scan order, sends one page at a time through next,
// and yields each page as a Part. Pages stop at region boundaries, so every
// page goes to exactly one region; a page that comes back full continues
// from its last key within the same region.
//
// Nothing is sent until the sequence is ranged over, and breaking out of the
// range stops further RPCs. Stale routing (a non-fatal *kv.RegionError)
// re-locates the current position and resends, within Env.MaxResplits; any
// other error is yielded once and ends the sequence.
func Stream[Req, Resp any](e *Env, c Cursor[Req, Resp], next Step[Req, Resp], opts ...StreamOption) func(ctx context.Context, req Req) iter.Seq2[Part[Req, Resp], error] {
	cfg := streamConfig{pageSize: DefaultPageSize}
	for _, o := range opts {
		o(&cfg)
	}
	return func(ctx context.Context, req Req) iter.Seq2[Part[Req, Resp], error] {
		return func(yield func(Part[Req, Resp], error) bool) {
			var zero Part[Req, Resp]
			lower, upper, reverse, remaining := c.Bounds(req)
			bo := e.newBackoffer()
			resplits := 0
			for {
				if len(upper) > 0 && bytes.Compare(lower, upper) >= 0 {
					return
				}
				var (
					r   *pdclient.Region
					err error
				)
				if reverse {
					r, err = e.Locator.LocateEndKey(ctx, upper)
				} else {
					r, err = e.Locator.Locate(ctx, lower)
				}
				if err != nil {
					yield(zero, err)
					return
				}
				lo := clampStart(lower, r.StartKey())
				hi := clampEnd(upper, r.EndKey())
				n := cfg.pageSize
				if remaining > 0 && remaining < n {
					n = remaining
				}
				page := c.With(req, lo, hi, n)
				resp, err := next(ctx, r, page)
				if err != nil {
					if werr := resplitWait(ctx, bo, err, resplits, e.maxResplits()); werr != nil {
						yield(zero, werr)
						return
					}
					resplits++
					continue
				}
				if !yield(Part[Req, Resp]{Region: r, Req: page, Resp: resp}, nil) {
					return
				}
				got := c.Count(resp)
				if remaining > 0 {
					remaining -= got
					if remaining <= 0 {
						return
					}
				}
				if got >= n {
					// A full page: the region may hold more.
					last := c.Last(resp)
					if reverse {
						upper = last
					} else {
						lower = kv.Key(last).Next()
					}
					continue
				}
				// The region is exhausted in this direction: move on.
				if reverse {
					if len(r.StartKey()) == 0 || bytes.Compare(r.StartKey(), lower) <= 0 {
						return
					}
					upper = r.StartKey()
				} else {
					if len(r.EndKey()) == 0 || (len(upper) > 0 && bytes.Compare(r.EndKey(), upper) >= 0) {
						return
					}
					lower = r.EndKey()
				}
			}
		}
	}
}

// Flatten turns a sequence of Parts into a sequence of their items.
func Flatten[Req, Resp, T any](seq iter.Seq2[Part[Req, Resp], error], items func(Resp) []T) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for part, err := range seq {
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items(part.Resp) {
				if !yield(it, nil) {
					return
				}
			}
		}
	}
}
