package keygen

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

const samples = 200_000

// TestZipfianDistribution draws seeded samples and checks them against
// the exact zipfian law: items 0 and 1 (which Gray's algorithm gives
// exactly) within 5 standard deviations, and the whole empirical CDF
// within 0.02 of the exact CDF (the algorithm's own approximation of the
// middle ranks stays near 0.01; sampling noise is under 0.001). A uniform
// draw, or a zipfian with another theta, misses both by far.
func TestZipfianDistribution(t *testing.T) {
	for _, tc := range []struct {
		n     int64
		theta float64
	}{{10, DefaultTheta}, {1000, DefaultTheta}, {100_000, DefaultTheta}, {1000, 0.5}} {
		z, err := NewZipfian(tc.n, tc.theta)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(42, uint64(tc.n)))
		counts := make([]int, tc.n)
		for range samples {
			k := z.Next(r)
			if k < 0 || k >= tc.n {
				t.Fatalf("n=%d: Next = %d, out of range", tc.n, k)
			}
			counts[k]++
		}
		for k := range int64(2) {
			p := z.Prob(k)
			obs := float64(counts[k]) / samples
			sigma := math.Sqrt(p * (1 - p) / samples)
			if math.Abs(obs-p) > 5*sigma {
				t.Errorf("n=%d theta=%v: item %d frequency %.5f, exact %.5f (5σ = %.5f)", tc.n, tc.theta, k, obs, p, 5*sigma)
			}
		}
		var cum, exact, worst float64
		worstAt := int64(0)
		for k := range tc.n {
			cum += float64(counts[k]) / samples
			exact += z.Prob(k)
			if d := math.Abs(cum - exact); d > worst {
				worst, worstAt = d, k
			}
		}
		if worst > 0.02 {
			t.Errorf("n=%d theta=%v: empirical CDF differs from the exact zipfian CDF by %.4f at item %d (bound 0.02)", tc.n, tc.theta, worst, worstAt)
		}
	}
}

// TestZetaTailEstimate compares the Euler–Maclaurin tail Zeta uses past
// a million terms with a direct sum, from a much earlier start (where
// the estimate is less accurate) so the test stays quick.
func TestZetaTailEstimate(t *testing.T) {
	for _, theta := range []float64{DefaultTheta, 0.5} {
		const m, n = 1000, 300_000
		direct := 0.0
		for i := int64(m + 1); i <= n; i++ {
			direct += math.Pow(float64(i), -theta)
		}
		if got := zetaTail(m, n, theta); math.Abs(got-direct) > 1e-9*direct {
			t.Fatalf("theta %v: zetaTail(%d, %d) = %.12f, direct sum %.12f", theta, m, n, got, direct)
		}
	}
	// Past the switch-over: the reference is an exactly rounded sum of
	// all 4*2^20 terms (Python's math.fsum), computed outside the test.
	const n, ref = 4 * exactZetaTerms, 17.049845807964456
	if got := Zeta(n, DefaultTheta); math.Abs(got-ref) > 1e-9 {
		t.Fatalf("Zeta(%d) = %.15f, reference %.15f", n, got, ref)
	}
}

// TestScrambledZipfian: every draw is in range; the most drawn item is
// the one rank 0 hashes to, at the exact probability of the ranks that
// share it; and the hot items are spread, not the lowest numbers.
func TestScrambledZipfian(t *testing.T) {
	const n = 10_000
	s, err := NewScrambledZipfian(n, DefaultTheta)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	counts := make([]int, n)
	for range samples {
		k := s.Next(r)
		if k < 0 || k >= n {
			t.Fatalf("Next = %d, out of range", k)
		}
		counts[k]++
	}
	hot := int64(0)
	for k := range int64(n) {
		if counts[k] > counts[hot] {
			hot = k
		}
	}
	if want := s.ItemOfRank(0); hot != want {
		t.Fatalf("most drawn item %d, want rank 0's item %d", hot, want)
	}
	p := 0.0
	for k := range int64(n) {
		if s.ItemOfRank(k) == hot {
			p += s.z.Prob(k)
		}
	}
	obs := float64(counts[hot]) / samples
	if sigma := math.Sqrt(p * (1 - p) / samples); math.Abs(obs-p) > 5*sigma+0.002 {
		t.Fatalf("hot item frequency %.5f, want %.5f", obs, p)
	}
	low := 0
	for k := range int64(10) {
		if s.ItemOfRank(k) < 100 {
			low++
		}
	}
	if low > 2 {
		t.Fatalf("%d of the 10 hottest items are among the lowest 100 numbers: not scrambled", low)
	}
}

// TestBadParams: out-of-domain parameters are typed errors.
func TestBadParams(t *testing.T) {
	for _, tc := range []struct {
		n     int64
		theta float64
		param string
	}{{0, 0.99, "items"}, {-3, 0.99, "items"}, {10, 1, "theta"}, {10, 0, "theta"}, {10, math.NaN(), "theta"}} {
		_, err := NewScrambledZipfian(tc.n, tc.theta)
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Param != tc.param {
			t.Errorf("NewScrambledZipfian(%d, %v) = %v, want *ParamError for %s", tc.n, tc.theta, err, tc.param)
		}
	}
}

// TestSequenceLimit: Limit covers exactly the prefix of Done numbers,
// whatever order concurrent inserts finish in.
func TestSequenceLimit(t *testing.T) {
	s := NewSequence(100)
	if s.Limit() != 100 {
		t.Fatalf("initial Limit = %d", s.Limit())
	}
	a, b, c := s.Claim(), s.Claim(), s.Claim()
	if a != 100 || b != 101 || c != 102 {
		t.Fatalf("claims %d %d %d", a, b, c)
	}
	s.Done(c)
	s.Done(b)
	if s.Limit() != 100 {
		t.Fatalf("Limit = %d before 100 is done", s.Limit())
	}
	s.Done(a)
	if s.Limit() != 103 {
		t.Fatalf("Limit = %d, want 103", s.Limit())
	}

	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				s.Done(s.Claim())
			}
		}()
	}
	wg.Wait()
	if s.Limit() != 4103 || len(s.pending) != 0 {
		t.Fatalf("Limit = %d, pending %d; want 4103, 0", s.Limit(), len(s.pending))
	}
}
