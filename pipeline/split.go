package pipeline

import (
	"bytes"
	"context"
	"iter"
	"slices"

	"github.com/tikvgo/tikv/pdclient"
)

// ByKey routes a single-key request to the region holding key(req).
func ByKey[Req any](key func(Req) []byte) Splitter[Req] {
	return func(ctx context.Context, loc pdclient.Locator, req Req) iter.Seq2[Routed[Req], error] {
		return func(yield func(Routed[Req], error) bool) {
			r, err := loc.Locate(ctx, key(req))
			if err != nil {
				yield(Routed[Req]{}, err)
				return
			}
			yield(Routed[Req]{Region: r, Req: req}, nil)
		}
	}
}

// Limit caps one piece of a batched request. A piece is closed when adding
// an item would exceed Keys items or Bytes bytes (Size measures an item);
// zero fields impose no cap. A single item larger than Bytes still goes, in
// a piece of its own.
type Limit[K any] struct {
	Keys  int
	Bytes int
	Size  func(K) int
}

// ByKeys routes a batched request by region: it groups items(req) by the
// region of key(item), cuts each group into pieces within lim, and builds
// each piece with with(req, items). Items are grouped in key order; within
// a piece they keep that order. with must return a new request and leave req
// unchanged.
func ByKeys[Req, K any](items func(Req) []K, key func(K) []byte, with func(Req, []K) Req, lim Limit[K]) Splitter[Req] {
	return func(ctx context.Context, loc pdclient.Locator, req Req) iter.Seq2[Routed[Req], error] {
		return func(yield func(Routed[Req], error) bool) {
			all := slices.Clone(items(req))
			slices.SortStableFunc(all, func(a, b K) int { return bytes.Compare(key(a), key(b)) })
			var (
				region *pdclient.Region
				batch  []K
				size   int
			)
			flush := func() bool {
				if len(batch) == 0 {
					return true
				}
				piece := Routed[Req]{Region: region, Req: with(req, batch)}
				batch, size = nil, 0
				return yield(piece, nil)
			}
			for _, it := range all {
				k := key(it)
				if region == nil || !region.Contains(k) {
					if !flush() {
						return
					}
					r, err := loc.Locate(ctx, k)
					if err != nil {
						yield(Routed[Req]{}, err)
						return
					}
					region = r
				}
				itemSize := 0
				if lim.Size != nil {
					itemSize = lim.Size(it)
				}
				full := (lim.Keys > 0 && len(batch) >= lim.Keys) ||
					(lim.Bytes > 0 && len(batch) > 0 && size+itemSize > lim.Bytes)
				if full && !flush() {
					return
				}
				batch = append(batch, it)
				size += itemSize
			}
			flush()
		}
	}
}

// ByRange routes a range request: it yields one piece per region
// overlapping [start, end) (end empty: to the end of the key space), built
// by with(req, pieceStart, pieceEnd) with the range clamped to the region.
func ByRange[Req any](bounds func(Req) (start, end []byte), with func(req Req, start, end []byte) Req) Splitter[Req] {
	return func(ctx context.Context, loc pdclient.Locator, req Req) iter.Seq2[Routed[Req], error] {
		return func(yield func(Routed[Req], error) bool) {
			start, end := bounds(req)
			for {
				r, err := loc.Locate(ctx, start)
				if err != nil {
					yield(Routed[Req]{}, err)
					return
				}
				pieceEnd := clampEnd(end, r.EndKey())
				if !yield(Routed[Req]{Region: r, Req: with(req, start, pieceEnd)}, nil) {
					return
				}
				if len(r.EndKey()) == 0 || (len(end) > 0 && bytes.Compare(r.EndKey(), end) >= 0) {
					return
				}
				start = r.EndKey()
			}
		}
	}
}

// clampEnd returns the smaller of two exclusive range ends, where an empty
// end means unbounded.
func clampEnd(a, b []byte) []byte {
	switch {
	case len(a) == 0:
		return b
	case len(b) == 0:
		return a
	}
	if bytes.Compare(a, b) <= 0 {
		return a
	}
	return b
}

// clampStart returns the larger of two inclusive range starts.
func clampStart(a, b []byte) []byte {
	if bytes.Compare(a, b) >= 0 {
		return a
	}
	return b
}
