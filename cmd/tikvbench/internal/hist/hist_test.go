package hist

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// exactQuantile is the nearest-rank quantile of sorted samples, the
// definition Quantile approximates.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

// checkAgainstSorted asserts every reported statistic of h against the
// exact statistic of the samples it recorded.
func checkAgainstSorted(t *testing.T, h *Histogram, samples []int64) {
	t.Helper()
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	var sum int64
	for _, v := range sorted {
		sum += v
	}
	if got := h.Count(); got != int64(len(sorted)) {
		t.Fatalf("Count = %d, want %d", got, len(sorted))
	}
	if h.Sum() != sum || h.Min() != sorted[0] || h.Max() != sorted[len(sorted)-1] {
		t.Fatalf("Sum/Min/Max = %d/%d/%d, want %d/%d/%d", h.Sum(), h.Min(), h.Max(), sum, sorted[0], sorted[len(sorted)-1])
	}
	if want := float64(sum) / float64(len(sorted)); math.Abs(h.Mean()-want) > 1e-6*want {
		t.Fatalf("Mean = %v, want %v", h.Mean(), want)
	}
	for _, q := range []float64{0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 1} {
		want := exactQuantile(sorted, q)
		got := h.Quantile(q)
		if diff := math.Abs(float64(got - want)); diff > RelativeError*float64(want) {
			t.Errorf("Quantile(%v) = %d, exact %d: off by %.4f%%, bound %.4f%%",
				q, got, want, 100*diff/float64(want), 100*RelativeError)
		}
	}
}

// TestQuantilesAgainstSortedSamples checks Quantile against the exact
// nearest-rank quantiles of several latency-like distributions, including
// heavy tails spanning many powers of two.
func TestQuantilesAgainstSortedSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := map[string]func() int64{
		"uniform small (exact buckets)": func() int64 { return rng.Int64N(SubBuckets) },
		"uniform wide":                  func() int64 { return rng.Int64N(10_000_000) },
		"exponential ~200µs":            func() int64 { return int64(rng.ExpFloat64() * 200_000) },
		"lognormal heavy tail":          func() int64 { return int64(math.Exp(rng.NormFloat64()*2 + 12)) },
		"bimodal":                       func() int64 { return []int64{50_000, 40_000_000}[rng.IntN(2)] + rng.Int64N(1000) },
	}
	for name, gen := range cases {
		t.Run(name, func(t *testing.T) {
			h := New()
			samples := make([]int64, 50_000)
			for i := range samples {
				samples[i] = gen()
				h.Record(samples[i])
			}
			checkAgainstSorted(t, h, samples)
		})
	}
}

// TestBucketBoundaries checks that every value lands in the bucket whose
// range holds it and that bucket widths stay within the stated precision,
// around each power of two up to the top of int64.
func TestBucketBoundaries(t *testing.T) {
	var vals []int64
	for e := 0; e < 63; e++ {
		p := int64(1) << e
		vals = append(vals, p-1, p, p+1)
	}
	vals = append(vals, math.MaxInt64)
	for _, v := range vals {
		if v < 0 {
			continue
		}
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of [0,%d)", v, i, numBuckets)
		}
		low, width := bucketRange(i)
		if v < low || v-low >= width {
			t.Fatalf("value %d not in bucket %d = [%d, %d+%d)", v, i, low, low, width)
		}
		if v >= SubBuckets && float64(width) > float64(low)/SubBuckets {
			t.Fatalf("bucket %d width %d exceeds 1/%d of %d", i, width, SubBuckets, low)
		}
	}
}

// TestNegativeAndEmpty: an empty histogram answers zeros; a negative value
// counts as 0.
func TestNegativeAndEmpty(t *testing.T) {
	h := New()
	if h.Count() != 0 || h.Quantile(0.99) != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatalf("empty histogram: count %d p99 %d min %d max %d mean %v", h.Count(), h.Quantile(0.99), h.Min(), h.Max(), h.Mean())
	}
	h.Record(-5)
	if h.Count() != 1 || h.Max() != 0 || h.Quantile(1) != 0 {
		t.Fatalf("after Record(-5): count %d max %d", h.Count(), h.Max())
	}
}

// TestConcurrentRecordAndMerge records from several goroutines into one
// histogram and merges per-goroutine histograms into another; both must
// equal the exact statistics of all samples.
func TestConcurrentRecordAndMerge(t *testing.T) {
	const workers, per = 4, 20_000
	shared, merged := New(), New()
	parts := make([][]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			own := New()
			for range per {
				v := int64(rng.ExpFloat64() * 1e6)
				parts[w] = append(parts[w], v)
				shared.Record(v)
				own.Record(v)
			}
			merged.Merge(own)
		}()
	}
	wg.Wait()
	all := slices.Concat(parts...)
	checkAgainstSorted(t, shared, all)
	checkAgainstSorted(t, merged, all)
}
