package twopc_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/tikvgo/tikv/txn/internal/twopc"
)

func byteKeys(ks ...string) [][]byte {
	out := make([][]byte, len(ks))
	for i, k := range ks {
		out[i] = []byte(k)
	}
	return out
}

// A transaction blocked on a latch is woken when the holder releases it,
// finds the holder committed after its start ts and fails stale holding
// nothing; restarted with a newer start ts it takes every latch.
//
// ports client-go's TestWakeUp (internal/latch/latch_test.go)
func TestLatchesWakeUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := twopc.NewLatches(256)
		ctx := context.Background()
		a, err := l.Acquire(ctx, 10, byteKeys("a", "b", "c"))
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			g   *twopc.LatchGuard
			err error
		}
		b := make(chan result, 1)
		go func() {
			g, err := l.Acquire(ctx, 20, byteKeys("d", "e", "a", "c"))
			b <- result{g, err}
		}()
		synctest.Wait()
		select {
		case r := <-b:
			t.Fatalf("B acquired (%v) while A holds a and c", r.err)
		default:
		}
		a.Release(30) // A commits after B started
		r := <-b
		var lc *twopc.LatchConflictError
		if !errors.As(r.err, &lc) || r.g != nil {
			t.Fatalf("woken B: guard %v, err %v; want a latch conflict", r.g, r.err)
		}
		if lc.StartTS != 20 || string(lc.Key) != "a" {
			t.Fatalf("conflict %+v, want start ts 20 on key a", lc)
		}
		// B released everything it held: a restart takes all four at once
		// (a blocked Acquire here would deadlock the bubble and fail).
		g, err := l.Acquire(ctx, 40, byteKeys("d", "e", "a", "c"))
		if err != nil {
			t.Fatalf("restarted B: %v", err)
		}
		g.Release(0)
	})
}

// A transaction whose first acquire comes after a commit newer than its
// start ts fails stale at once, without waiting and holding nothing.
//
// ports client-go's TestFirstAcquireFailedWithStale (internal/latch/latch_test.go)
func TestLatchesFirstAcquireStale(t *testing.T) {
	l := twopc.NewLatches(256)
	ctx := context.Background()
	keys := byteKeys("a", "b", "c")
	a, err := l.Acquire(ctx, 10, keys)
	if err != nil {
		t.Fatal(err)
	}
	const startB = 11
	a.Release(12)
	var lc *twopc.LatchConflictError
	if g, err := l.Acquire(ctx, startB, keys); !errors.As(err, &lc) || g != nil {
		t.Fatalf("B after A's commit: guard %v, err %v; want a latch conflict", g, err)
	}
	g, err := l.Acquire(ctx, 13, keys)
	if err != nil {
		t.Fatalf("newer txn after the stale one: %v", err)
	}
	g.Release(0)
}

// Many transactions over random overlapping key sets, each with a fresh
// start ts and committing at a fresh ts: a key is never held by two
// transactions at once, a stale one holds nothing, and all finish.
//
// ports client-go's TestWithConcurrency (internal/latch/scheduler_test.go)
func TestLatchesConcurrency(t *testing.T) {
	l := twopc.NewLatches(7)
	var tso atomic.Uint64
	var mu sync.Mutex
	holder := map[string]uint64{}
	var committed, stale atomic.Int64
	txns := make(chan [][]byte)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for keys := range txns {
				start := tso.Add(1)
				g, err := l.Acquire(context.Background(), start, keys)
				var lc *twopc.LatchConflictError
				if errors.As(err, &lc) {
					stale.Add(1)
					continue
				}
				if err != nil {
					t.Error(err)
					continue
				}
				mu.Lock()
				for _, k := range keys {
					if h, ok := holder[string(k)]; ok {
						t.Errorf("key %q held by txn %d and %d", k, h, start)
					}
					holder[string(k)] = start
				}
				mu.Unlock()
				commit := tso.Add(1)
				mu.Lock()
				for _, k := range keys {
					delete(holder, string(k))
				}
				mu.Unlock()
				g.Release(commit)
				committed.Add(1)
			}
		}()
	}
	r := rand.New(rand.NewPCG(7, 7))
	table := "abcdefgh"
	for range 999 {
		var keys [][]byte
		for _, chance := range []int{100, 60, 40, 20} {
			k := []byte{table[r.IntN(len(table))]}
			if r.IntN(100) < chance && !slices.ContainsFunc(keys, func(x []byte) bool { return bytes.Equal(x, k) }) {
				keys = append(keys, k)
			}
		}
		txns <- keys
	}
	close(txns)
	wg.Wait()
	if committed.Load()+stale.Load() != 999 {
		t.Fatalf("%d committed + %d stale, want 999", committed.Load(), stale.Load())
	}
	if committed.Load() == 0 {
		t.Fatal("no transaction committed")
	}
}
