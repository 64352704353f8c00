package membuf

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// benchKeys returns n TiDB-row-shaped keys (prefix + 8-byte handle):
// ascending handles, or the same handles in a fixed random order.
func benchKeys(n int, random bool) [][]byte {
	keys := make([][]byte, n)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if random {
		rng := rand.New(rand.NewPCG(1, 1))
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	for i, h := range order {
		k := make([]byte, 0, 19)
		k = append(k, "t\x80\x00\x00\x00\x00\x00\x00\x2a_r"...)
		keys[i] = binary.BigEndian.AppendUint64(k, uint64(h)*7919)
	}
	return keys
}

var benchValue = []byte("0123456789abcdef")

type benchCase struct {
	name   string
	kind   indexKind
	n      int
	random bool
}

func benchCases() []benchCase {
	var cs []benchCase
	for _, k := range indexKinds[:2] {
		for _, n := range []int{10_000, 1_000_000} {
			for _, random := range []bool{false, true} {
				order := "seq"
				if random {
					order = "rand"
				}
				cs = append(cs, benchCase{fmt.Sprintf("%s/%s/%dk", k.name, order, n/1000), k.kind, n, random})
			}
		}
	}
	return cs
}

// perKey reports ns, bytes and allocations per key of the measured loop.
func perKey(b *testing.B, keys int, before *runtime.MemStats) {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	total := float64(b.N) * float64(keys)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/key")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/total, "B/key")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/key")
}

// retained measures the live heap held by *buf (everything: arenas, entry
// and undo tables, index nodes) by dropping it between two collections.
func retained(buf **Buffer) uint64 {
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	runtime.KeepAlive(*buf)
	*buf = nil
	runtime.GC()
	runtime.ReadMemStats(&without)
	if with.HeapAlloc < without.HeapAlloc {
		return 0
	}
	return with.HeapAlloc - without.HeapAlloc
}

func fillBench(kind indexKind, keys [][]byte) *Buffer {
	buf := New(withIndex(kind))
	for _, k := range keys {
		if err := buf.Set(k, benchValue); err != nil {
			panic(err)
		}
	}
	return buf
}

// BenchmarkSet fills a fresh buffer with n keys per op.
func BenchmarkSet(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			keys := benchKeys(c.n, c.random)
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			var buf *Buffer
			for b.Loop() {
				buf = fillBench(c.kind, keys)
			}
			perKey(b, c.n, &before)
			b.ReportMetric(float64(retained(&buf))/float64(c.n), "heap-B/key")
		})
	}
}

// BenchmarkGet looks up every key of a filled buffer per op (in the keys'
// own order: sequential or random).
func BenchmarkGet(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			keys := benchKeys(c.n, c.random)
			buf := fillBench(c.kind, keys)
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				for _, k := range keys {
					if _, kind := buf.Get(k); kind != KindPut {
						b.Fatal("missing key")
					}
				}
			}
			perKey(b, c.n, &before)
		})
	}
}

// BenchmarkIterate walks a filled buffer forward per op.
func BenchmarkIterate(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			keys := benchKeys(c.n, c.random)
			buf := fillBench(c.kind, keys)
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				n := 0
				for it := buf.Iter(nil, nil); it.Valid(); it.Next() {
					n++
				}
				if n != c.n {
					b.Fatal("short iteration")
				}
			}
			perKey(b, c.n, &before)
		})
	}
}
