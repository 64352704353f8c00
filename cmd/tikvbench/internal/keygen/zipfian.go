// Package keygen chooses record numbers for tikvbench's operations: a
// uniform choice, YCSB's zipfian and scrambled zipfian distributions, the
// "latest" distribution (recent inserts are hot), and the counter that
// hands out insert numbers and tells readers which records exist.
//
// The generators hold only immutable parameters; each call takes the
// caller's *rand.Rand, so one generator serves many workers (each with its
// own source) without locking.
package keygen

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
)

// DefaultTheta is YCSB's zipfian constant: item k (0-based) is chosen
// with probability proportional to 1/(k+1)^0.99.
const DefaultTheta = 0.99

// ParamError reports a generator parameter outside its domain.
type ParamError struct {
	Param  string
	Value  float64
	Reason string
}

// Error names the parameter, the value and the reason.
func (e *ParamError) Error() string {
	return fmt.Sprintf("keygen: %s = %v: %s", e.Param, e.Value, e.Reason)
}

// Zipfian draws items 0..n-1 where item k has probability
// (k+1)^-theta / zeta(n, theta): item 0 is the most popular. It is the
// rejection-free algorithm of Gray et al., "Quickly Generating
// Billion-Record Synthetic Databases" (SIGMOD 1994), the one YCSB uses:
// items 0 and 1 get their exact probabilities, the rest an approximation
// that follows the power law closely. Safe for concurrent use.
type Zipfian struct {
	n     int64
	theta float64
	alpha float64 // 1/(1-theta)
	zetan float64 // zeta(n, theta)
	eta   float64
	half  float64 // 1 + 0.5^theta: the u*zetan bound below which item 1 is chosen
}

// NewZipfian returns a zipfian generator over n ≥ 1 items with exponent
// theta in (0, 1).
func NewZipfian(n int64, theta float64) (*Zipfian, error) {
	if n < 1 {
		return nil, &ParamError{Param: "items", Value: float64(n), Reason: "must be at least 1"}
	}
	if !(theta > 0 && theta < 1) {
		return nil, &ParamError{Param: "theta", Value: theta, Reason: "must be in (0, 1)"}
	}
	z := &Zipfian{n: n, theta: theta, alpha: 1 / (1 - theta), zetan: Zeta(n, theta), half: 1 + math.Pow(0.5, theta)}
	z.eta = (1 - math.Pow(2/float64(n), 1-theta)) / (1 - Zeta(2, theta)/z.zetan)
	return z, nil
}

// Items returns the number of items the generator draws from.
func (z *Zipfian) Items() int64 { return z.n }

// Prob returns the exact zipfian probability of item k (0-based), the
// distribution Next approximates.
func (z *Zipfian) Prob(k int64) float64 {
	return math.Pow(float64(k+1), -z.theta) / z.zetan
}

// Next draws an item in [0, Items()).
func (z *Zipfian) Next(r *rand.Rand) int64 {
	u := r.Float64()
	uz := u * z.zetan
	if uz < 1 {
		return 0
	}
	if uz < z.half {
		return min(1, z.n-1)
	}
	k := int64(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return max(0, min(k, z.n-1))
}

// exactZetaTerms is how many terms Zeta sums one by one before it
// estimates the rest.
const exactZetaTerms = 1 << 20

// Zeta returns the generalized harmonic number sum_{i=1..n} i^-theta. Up
// to about a million terms it is summed directly; beyond, the tail is the
// Euler–Maclaurin estimate (integral plus end corrections), accurate to
// far better than the generator needs, so a billion-item keyspace costs
// no more than a million-item one.
func Zeta(n int64, theta float64) float64 {
	m := min(n, exactZetaTerms)
	sum := 0.0
	for i := int64(1); i <= m; i++ {
		sum += math.Pow(float64(i), -theta)
	}
	if n == m {
		return sum
	}
	return sum + zetaTail(m, n, theta)
}

// zetaTail estimates sum_{i=m+1..n} i^-theta by Euler–Maclaurin: the
// integral from m to n plus the end corrections (f(n) - f(m))/2 and
// (f'(n) - f'(m))/12; the next term is of order m^(-theta-3).
func zetaTail(m, n int64, theta float64) float64 {
	f := func(x float64) float64 { return math.Pow(x, -theta) }
	df := func(x float64) float64 { return -theta * math.Pow(x, -theta-1) }
	a, b := float64(m), float64(n)
	integral := (math.Pow(b, 1-theta) - math.Pow(a, 1-theta)) / (1 - theta)
	return integral + (f(b)-f(a))/2 + (df(b)-df(a))/12
}

// ScrambledZipfian draws items 0..n-1 with zipfian popularity, but the
// popular items are spread over the keyspace instead of being the lowest
// numbers: the zipfian rank is hashed (FNV-1a) onto an item, as YCSB's
// ScrambledZipfianGenerator does. Ranks that hash to the same item pool
// their probability. Safe for concurrent use.
type ScrambledZipfian struct{ z *Zipfian }

// NewScrambledZipfian returns a scrambled zipfian generator over n ≥ 1
// items with exponent theta in (0, 1).
func NewScrambledZipfian(n int64, theta float64) (*ScrambledZipfian, error) {
	z, err := NewZipfian(n, theta)
	if err != nil {
		return nil, err
	}
	return &ScrambledZipfian{z: z}, nil
}

// Items returns the number of items the generator draws from.
func (s *ScrambledZipfian) Items() int64 { return s.z.n }

// ItemOfRank returns the item the zipfian rank k is scrambled onto.
func (s *ScrambledZipfian) ItemOfRank(k int64) int64 {
	return int64(Hash64(uint64(k)) % uint64(s.z.n))
}

// Next draws an item in [0, Items()).
func (s *ScrambledZipfian) Next(r *rand.Rand) int64 { return s.ItemOfRank(s.z.Next(r)) }

// Hash64 is FNV-1a over v's eight little-endian bytes: tikvbench scrambles
// zipfian ranks and, for hashed insert order, record numbers with it.
func Hash64(v uint64) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	h := fnv.New64a()
	h.Write(b[:])
	return h.Sum64()
}
