package main

import (
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/tikvgo/tikv/cmd/tikvbench/internal/keygen"
	"github.com/tikvgo/tikv/kv"
)

// opKind is one kind of workload operation.
type opKind int

const (
	opRead opKind = iota
	opUpdate
	opInsert
	opScan
	opReadModifyWrite
	numOpKinds
)

// opNames are the summary's row names, YCSB's.
var opNames = [numOpKinds]string{"READ", "UPDATE", "INSERT", "SCAN", "READ_MODIFY_WRITE"}

// String is the kind's summary row name.
func (k opKind) String() string { return opNames[k] }

// Row names of the transaction-level rows (txn mode) and the load phase.
const (
	rowTxn    = "TXN"    // a whole transaction, begin to commit
	rowCommit = "COMMIT" // the commit alone
	rowLoad   = "LOAD"   // one load-phase write of up to -loadbatch records
)

// workload turns a Config into operation choices and keys. Safe for
// concurrent use: every random choice takes the worker's *rand.Rand.
type workload struct {
	cfg      *Config
	cum      [numOpKinds]float64 // cumulative normalized proportions
	seq      *keygen.Sequence    // insert numbers; Limit = records that exist
	zipf     *keygen.ScrambledZipfian
	latest   *keygen.Zipfian
	keyUpper []byte // end of the keyspace the run touches
}

func newWorkload(cfg *Config) (*workload, error) {
	w := &workload{cfg: cfg, seq: keygen.NewSequence(cfg.RecordCount)}
	p := cfg.Proportions
	total, acc := p.sum(), 0.0
	for i, v := range []float64{p.Read, p.Update, p.Insert, p.Scan, p.ReadModifyWrite} {
		acc += v / total
		w.cum[i] = acc
	}
	w.cum[numOpKinds-1] = 1 // no rounding gap at the top
	var err error
	switch cfg.Distribution {
	case Zipfian:
		// Like YCSB, size the zipfian for the records the run's inserts
		// are expected to add (twice the expectation), so new records
		// can become hot; draws of records not yet inserted are redrawn.
		// A run bounded only by -duration cannot know, and keeps its
		// hot set among the loaded records.
		items := cfg.RecordCount
		if cfg.OpCount > 0 {
			items += int64(2 * float64(cfg.OpCount) * p.Insert / total)
		}
		w.zipf, err = keygen.NewScrambledZipfian(items, cfg.Theta)
	case Latest:
		w.latest, err = keygen.NewZipfian(cfg.RecordCount, cfg.Theta)
	}
	if err != nil {
		return nil, err
	}
	w.keyUpper = kv.Key(cfg.Prefix).PrefixNext()
	return w, nil
}

// nextOp draws an operation kind by the proportions.
func (w *workload) nextOp(r *rand.Rand) opKind {
	u := r.Float64()
	for k := range numOpKinds {
		if u < w.cum[k] {
			return k
		}
	}
	return numOpKinds - 1
}

// nextRecord draws an existing record number by the distribution.
func (w *workload) nextRecord(r *rand.Rand) int64 {
	limit := w.seq.Limit()
	switch w.cfg.Distribution {
	case Zipfian:
		for {
			if k := w.zipf.Next(r); k < limit {
				return k
			}
		}
	case Latest:
		// limit ≥ RecordCount = the generator's items, so this is ≥ 0.
		return limit - 1 - w.latest.Next(r)
	}
	return r.Int64N(limit)
}

// key is record k's key: the prefix, "user", and the record number (or,
// with hashed insert order, its FNV hash, which spreads consecutive
// inserts over the keyspace) as 20 zero-padded digits so keys sort by
// that number.
func (w *workload) key(k int64) []byte {
	n := uint64(k)
	if w.cfg.HashedKeys {
		n = keygen.Hash64(n)
	}
	b := make([]byte, 0, len(w.cfg.Prefix)+24)
	b = append(b, w.cfg.Prefix...)
	b = append(b, "user"...)
	s := strconv.FormatUint(n, 10)
	for range 20 - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// splitKeys are the embedded mocktikv's region boundaries: regions-1 keys
// that cut the records into about equal parts.
func (w *workload) splitKeys() [][]byte {
	var keys [][]byte
	n := w.cfg.Regions
	for i := 1; i < n; i++ {
		if w.cfg.HashedKeys {
			// Hashed numbers are uniform over uint64: cut that range.
			b := append([]byte(w.cfg.Prefix), "user"...)
			s := strconv.FormatUint(uint64(i)*(math.MaxUint64/uint64(n)), 10)
			for range 20 - len(s) {
				b = append(b, '0')
			}
			keys = append(keys, append(b, s...))
			continue
		}
		k := w.cfg.RecordCount * int64(i) / int64(n)
		if k > 0 {
			keys = append(keys, w.key(k))
		}
	}
	return keys
}

// scanLength draws a scan's record count, uniform in [1, ScanLength].
func (w *workload) scanLength(r *rand.Rand) int { return 1 + r.IntN(w.cfg.ScanLength) }

// value returns a fresh random value (fresh because a transaction's
// buffer may keep it until commit).
func (w *workload) value(r *rand.Rand) []byte {
	v := make([]byte, w.cfg.ValueSize)
	for i := 0; i < len(v); i += 8 {
		x := r.Uint64()
		for j := i; j < len(v) && j < i+8; j++ {
			v[j] = byte(x)
			x >>= 8
		}
	}
	return v
}
