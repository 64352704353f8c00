package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"iter"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline/backoff"
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
type StreamOption interface{ applyStream(*streamConfig) }

type streamConfig struct {
	pageSize int
	api      string
}

type streamOptionFunc func(*streamConfig)

func (f streamOptionFunc) applyStream(c *streamConfig) { f(c) }

// PageSize sets the number of items requested per RPC.
func PageSize(n int) StreamOption {
	return streamOptionFunc(func(c *streamConfig) {
		if n > 0 {
			c.pageSize = n
		}
	})
}

// Stream returns a paged scan: for each call it walks the regions covering
// the request's range in scan order, sends one page at a time through next,
// and yields each page as a Part. Pages stop at region boundaries, so every
// page goes to exactly one region; a page that comes back full continues
// from its last key within the same region.
//
// Nothing is sent until the sequence is ranged over, and breaking out of the
// range stops further RPCs. Stale routing (a non-fatal *kv.RegionError)
// re-locates the current position and resends, at most Env.MaxResplits
// times for one position; a failed region lookup is retried under the
// PDRPC policy. Each position (each page) has a backoff budget of its own,
// Env.BackoffBudget, as client-go gives each scanner batch: a long scan
// over many stale regions is not failed by their sum. Any other error is
// yielded once and ends the sequence.
//
// A page must move the scan forward: a full page whose last key is not
// past the position it started from (a server bug, or a pair with an empty
// key) would page forever, so it ends the sequence with an error wrapping
// kv.ErrProtocol.
//
// Each ranging of the sequence is one logical call; its pages are its
// pieces, numbered from 1.
func Stream[Req, Resp any](e *Env, c Cursor[Req, Resp], next Step[Req, Resp], opts ...StreamOption) StreamPlan[Req, Resp] {
	cfg := streamConfig{pageSize: DefaultPageSize}
	for _, o := range opts {
		o.applyStream(&cfg)
	}
	return func(ctx context.Context, req Req) iter.Seq2[Part[Req, Resp], error] {
		return func(yield func(Part[Req, Resp], error) bool) {
			var zero Part[Req, Resp]
			lower, upper, reverse, remaining := c.Bounds(req)
			st := e.newRetryState(ctx)
			st.piece = 1
			ctx, owns := beginCall(ctx, e, st, cfg.api)
			if owns {
				var last error
				// A consumer's break ends the call without an error.
				yield = observeYield(yield, &last)
				defer func() { observe.Finish(ctx, last) }()
			}
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
					if ctx.Err() != nil || isTerminal(err) {
						yield(zero, err)
						return
					}
					if werr := st.wait(ctx, backoff.PDRPC, fmt.Errorf("locate region: %w", err)); werr != nil {
						yield(zero, werr)
						return
					}
					continue
				}
				lo := clampStart(lower, r.StartKey())
				hi := clampEnd(upper, r.EndKey())
				n := cfg.pageSize
				if remaining > 0 && remaining < n {
					n = remaining
				}
				page := c.With(req, lo, hi, n)
				resp, err := next(withRetryState(ctx, st), r, page)
				if err != nil {
					if werr := resplitWait(ctx, st, err, resplits, e.maxResplits()); werr != nil {
						yield(zero, werr)
						return
					}
					resplits++
					if st.observed {
						observe.Emit(ctx, observe.Event{Kind: observe.Resplit, Piece: st.piece, Pieces: 1,
							FirstPiece: st.piece, RegionID: r.ID(), Err: err})
					}
					continue
				}
				// The position moved on: the next page is a new request,
				// with a budget, re-route count and attempt numbers of its
				// own.
				resplits = 0
				prev := st
				st = e.newRetryState(ctx)
				st.call, st.piece, st.observed = prev.call, prev.piece+1, prev.observed
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
						if len(upper) > 0 && bytes.Compare(last, upper) >= 0 || bytes.Compare(last, lo) < 0 {
							yield(zero, noProgress(r, lo, hi, last))
							return
						}
						upper = last
					} else {
						if bytes.Compare(last, lower) < 0 || len(hi) > 0 && bytes.Compare(last, hi) >= 0 {
							yield(zero, noProgress(r, lo, hi, last))
							return
						}
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

// observeYield wraps a Stream's yield to remember the error it hands the
// consumer, the call's error for its Observer.
func observeYield[T any](yield func(T, error) bool, last *error) func(T, error) bool {
	return func(v T, err error) bool {
		if err != nil {
			*last = err
		}
		return yield(v, err)
	}
}

// noProgress is the error of a page whose last key lies outside the range
// it was asked for, so the scan cannot move on from it.
func noProgress(r *pdclient.Region, lo, hi, last []byte) error {
	return fmt.Errorf("%w: region %d answered a page for [%q, %q) ending at key %q, which does not advance the scan",
		kv.ErrProtocol, r.ID(), lo, hi, last)
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
