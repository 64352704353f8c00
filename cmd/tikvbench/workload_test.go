package main

import (
	"bytes"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tikvgo/tikv/cmd/tikvbench/internal/keygen"
)

func testWorkload(t *testing.T, args ...string) *workload {
	t.Helper()
	cfg, err := parseConfig(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWorkload(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestWorkloadMix: drawn operation kinds follow the proportions.
func TestWorkloadMix(t *testing.T) {
	cfg, err := parseConfig([]string{"-readprop", "2", "-updateprop", "1", "-scanprop", "1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWorkload(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	var counts [numOpKinds]int
	const n = 100_000
	for range n {
		counts[w.nextOp(r)]++
	}
	want := [numOpKinds]float64{0.5, 0.25, 0, 0.25, 0}
	for k, c := range counts {
		if got := float64(c) / n; got < want[k]-0.01 || got > want[k]+0.01 {
			t.Errorf("%s: frequency %.3f, want %.2f", opKind(k), got, want[k])
		}
	}
}

// TestNextRecordDistributions: every distribution draws only records
// that exist (below the sequence's limit, which moves with finished
// inserts), and each has its shape: uniform is flat, zipfian's hottest
// record is the one rank 0 scrambles to, latest's is the newest.
func TestNextRecordDistributions(t *testing.T) {
	const records, n = 1000, 100_000
	for _, dist := range []Distribution{Uniform, Zipfian, Latest} {
		t.Run(string(dist), func(t *testing.T) {
			w := testWorkload(t, "-distribution", string(dist), "-recordcount", "1000", "-insertprop", "0.5", "-operationcount", "1000")
			// Ten inserts claimed, the last still in flight: 1009
			// is not readable yet, so limit is 1009.
			var claimed []int64
			for range 10 {
				claimed = append(claimed, w.seq.Claim())
			}
			for _, k := range claimed[:9] {
				w.seq.Done(k)
			}
			limit := w.seq.Limit()
			if limit != records+9 {
				t.Fatalf("limit %d, want %d", limit, records+9)
			}
			r := rand.New(rand.NewPCG(5, 5))
			counts := make([]int, limit)
			for range n {
				k := w.nextRecord(r)
				if k < 0 || k >= limit {
					t.Fatalf("drew record %d outside [0, %d)", k, limit)
				}
				counts[k]++
			}
			hot := 0
			for k := range counts {
				if counts[k] > counts[hot] {
					hot = k
				}
			}
			switch dist {
			case Uniform:
				// Expected 99 per record; 5σ ≈ 50.
				lo, hi := slices.Min(counts), slices.Max(counts)
				if lo < 45 || hi > 155 {
					t.Fatalf("uniform counts range [%d, %d], want within [45, 155]", lo, hi)
				}
			case Zipfian:
				// Sized for 1000 + 2*500 expected inserts; rank 0's
				// item (fixed by the hash) is below the limit here.
				want := int(w.zipf.ItemOfRank(0))
				if want >= int(limit) {
					t.Fatalf("test setup: rank 0 scrambles to %d, above the limit; pick other sizes", want)
				}
				if hot != want || counts[hot] < n/20 {
					t.Fatalf("hottest record %d (%d draws), want rank 0's %d with at least %d", hot, counts[hot], want, n/20)
				}
			case Latest:
				if hot != int(limit-1) || counts[hot] < n/20 {
					t.Fatalf("hottest record %d (%d draws), want the newest %d", hot, counts[hot], limit-1)
				}
			}
		})
	}
}

// TestKeysAndSplits: keys sort by the record number (ordered) or its
// hash (hashed), and the embedded mock's split keys cut the loaded
// records into about equal regions in both orders.
func TestKeysAndSplits(t *testing.T) {
	for _, order := range []string{"ordered", "hashed"} {
		t.Run(order, func(t *testing.T) {
			w := testWorkload(t, "-insertorder", order, "-recordcount", "10000", "-regions", "5", "-prefix", "p/")
			if order == "ordered" && bytes.Compare(w.key(9), w.key(10)) >= 0 {
				t.Fatalf("ordered keys out of order: %q, %q", w.key(9), w.key(10))
			}
			if order == "hashed" && string(w.key(1)) != "p/user"+pad20(keygen.Hash64(1)) {
				t.Fatalf("hashed key of 1 = %q", w.key(1))
			}
			splits := w.splitKeys()
			if len(splits) != 4 || !slices.IsSortedFunc(splits, bytes.Compare) {
				t.Fatalf("splits %q: want 4, sorted", splits)
			}
			per := make([]int, len(splits)+1)
			for k := range int64(10000) {
				key := w.key(k)
				if !bytes.HasPrefix(key, []byte("p/user")) || bytes.Compare(key, w.keyUpper) >= 0 {
					t.Fatalf("key %q outside the prefix range", key)
				}
				i, _ := slices.BinarySearchFunc(splits, key, func(s, k []byte) int { return bytes.Compare(s, k) })
				if i < len(splits) && bytes.Equal(splits[i], key) {
					i++ // a split key starts the region to its right
				}
				per[i]++
			}
			for i, c := range per {
				if c < 1600 || c > 2400 {
					t.Fatalf("region %d holds %d of 10000 records (per region: %v)", i, c, per)
				}
			}
		})
	}
}

func pad20(v uint64) string {
	s := []byte("00000000000000000000")
	d := []byte{}
	for ; v > 0; v /= 10 {
		d = append([]byte{byte('0' + v%10)}, d...)
	}
	return string(s[:20-len(d)]) + string(d)
}
