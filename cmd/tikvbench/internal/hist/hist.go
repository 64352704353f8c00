// Package hist is a log-linear bucketed histogram of non-negative int64
// values (tikvbench records latencies in nanoseconds), in the manner of
// HdrHistogram: every power of two is split into SubBuckets equal-width
// buckets, so a bucket's width is at most 1/SubBuckets of the values it
// holds and a quantile read from it is within RelativeError of the exact
// sample quantile. Values below SubBuckets are counted exactly.
//
// A Histogram is safe for concurrent use: Record is a few atomic adds, so
// many workers can share one and a progress reporter can read quantiles
// while they write (a read taken during writes sees some of them; it is
// exact once the writers have stopped).
package hist

import (
	"math"
	"math/bits"
	"sync/atomic"
)

const (
	// subBits is log2 of SubBuckets.
	subBits = 7
	// SubBuckets is the number of equal-width buckets each power of two
	// is divided into.
	SubBuckets = 1 << subBits
	// RelativeError bounds |Quantile(q) - exact|/exact for any value at
	// least SubBuckets: the answer is its bucket's midpoint, and a bucket
	// is at most 1/SubBuckets of its lower bound wide.
	RelativeError = 1.0 / (2 * SubBuckets)
	// numBuckets covers the whole non-negative int64 range: the exact
	// buckets, then SubBuckets for each exponent 0..63-subBits.
	numBuckets = (64 - subBits) * SubBuckets
)

// Histogram counts values in log-linear buckets and tracks their exact
// count, sum, minimum and maximum. The zero value is not usable; call New.
type Histogram struct {
	counts [numBuckets]atomic.Int64
	sum    atomic.Int64
	min    atomic.Int64 // math.MaxInt64 while empty
	max    atomic.Int64
}

// New returns an empty Histogram.
func New() *Histogram {
	h := &Histogram{}
	h.min.Store(math.MaxInt64)
	return h
}

// bucketOf maps v to its bucket: v itself below SubBuckets, otherwise the
// exponent e of v's top subBits+1 bits and their value m in
// [SubBuckets, 2*SubBuckets).
func bucketOf(v int64) int {
	if v < SubBuckets {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 1 - subBits
	m := int(uint64(v) >> uint(e))
	return (e+1)*SubBuckets + (m - SubBuckets)
}

// bucketRange returns the smallest value of bucket i and its width.
func bucketRange(i int) (low, width int64) {
	if i < SubBuckets {
		return int64(i), 1
	}
	e := i/SubBuckets - 1
	m := int64(SubBuckets + i%SubBuckets)
	return m << uint(e), int64(1) << uint(e)
}

// Record adds one value; a negative value is recorded as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.sum.Add(v)
	for cur := h.min.Load(); v < cur && !h.min.CompareAndSwap(cur, v); cur = h.min.Load() {
	}
	for cur := h.max.Load(); v > cur && !h.max.CompareAndSwap(cur, v); cur = h.max.Load() {
	}
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if n := o.counts[i].Load(); n != 0 {
			h.counts[i].Add(n)
		}
	}
	h.sum.Add(o.sum.Load())
	if v := o.min.Load(); v != math.MaxInt64 {
		for cur := h.min.Load(); v < cur && !h.min.CompareAndSwap(cur, v); cur = h.min.Load() {
		}
	}
	if v := o.max.Load(); v > 0 {
		for cur := h.max.Load(); v > cur && !h.max.CompareAndSwap(cur, v); cur = h.max.Load() {
		}
	}
}

// Count returns how many values were recorded.
func (h *Histogram) Count() int64 {
	var n int64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Sum returns the exact sum of the recorded values.
func (h *Histogram) Sum() int64 { return h.sum.Load() }

// Mean returns the exact mean of the recorded values, 0 when empty.
func (h *Histogram) Mean() float64 {
	n := h.Count()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Min returns the smallest recorded value exactly, 0 when empty.
func (h *Histogram) Min() int64 {
	if v := h.min.Load(); v != math.MaxInt64 {
		return v
	}
	return 0
}

// Max returns the largest recorded value exactly, 0 when empty.
func (h *Histogram) Max() int64 { return h.max.Load() }

// Quantile returns the nearest-rank q-quantile (q in [0,1]): the value
// at rank ceil(q*count) of the sorted samples, approximated by its
// bucket's midpoint and clamped to [Min, Max], so it is within
// RelativeError of the exact sample (exact below SubBuckets). It
// returns 0 when the histogram is empty.
func (h *Histogram) Quantile(q float64) int64 {
	var counts [numBuckets]int64
	var total int64
	for i := range h.counts {
		counts[i] = h.counts[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return 0
	}
	q = math.Max(0, math.Min(1, q))
	rank := int64(math.Ceil(q * float64(total)))
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for i, n := range counts {
		seen += n
		if seen < rank {
			continue
		}
		low, width := bucketRange(i)
		v := low + (width-1)/2
		return max(h.Min(), min(v, h.Max()))
	}
	return h.Max() // unreachable: the loop reaches total ≥ rank
}
