package twopc_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// ports client-go integration_tests/2pc_test.go TestContextCancelRetryable
// (with local latches on): a transaction whose key another transaction of
// the client committed after it started fails in the latches, before any
// RPC, with a retryable write conflict.
func TestContextCancelRetryable(t *testing.T) {
	f := newFixture(t, setup{})
	latched, err := twopc.New(twopc.Config{Env: f.env, Oracle: f.oracle, Group: f.group, Latches: twopc.NewLatches(1024)})
	if err != nil {
		t.Fatal(err)
	}
	older := f.ts()
	if _, err := latched.Commit(context.Background(), twopc.Request{StartTS: f.ts(), Mutations: []twopc.Mutation{put("k", "newer")}}); err != nil {
		t.Fatal(err)
	}
	f.log.take()
	_, err = latched.Commit(context.Background(), twopc.Request{StartTS: older, Mutations: []twopc.Mutation{put("a", "1"), put("k", "older")}})
	var lc *twopc.LatchConflictError
	if !errors.As(err, &lc) || string(lc.Key) != "k" || !errors.Is(err, kv.ErrTxnRetryable) || !errors.Is(err, kv.ErrWriteConflict) {
		t.Fatalf("commit = %v, want a latch conflict on k", err)
	}
	if ev := f.log.take(); len(ev) != 0 {
		t.Fatalf("a latch conflict sent %v", names(ev))
	}
	// The latches were released: a new transaction commits.
	if _, err := latched.Commit(context.Background(), twopc.Request{StartTS: f.ts(), Mutations: []twopc.Mutation{put("a", "2"), put("k", "3")}}); err != nil {
		t.Fatalf("later commit: %v", err)
	}
	f.mustGet("k", "3")
}

// A transaction waits for the one holding its key's latch, then runs if
// the holder committed before it started, and is stale if after; a waiter
// whose context ends gives up without holding anything.
func TestLatchesWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := twopc.NewLatches(4)
		ctx := context.Background()
		holder, err := l.Acquire(ctx, 10, [][]byte{[]byte("b"), []byte("a")})
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			g   *twopc.LatchGuard
			err error
		}
		late, early := make(chan result, 1), make(chan result, 1)
		go func() { g, err := l.Acquire(ctx, 20, [][]byte{[]byte("a")}); late <- result{g, err} }()
		cctx, cancel := context.WithCancel(ctx)
		go func() { g, err := l.Acquire(cctx, 12, [][]byte{[]byte("a")}); early <- result{g, err} }()
		synctest.Wait()
		select {
		case r := <-late:
			t.Fatalf("acquired (%v) while held", r.err)
		case r := <-early:
			t.Fatalf("acquired (%v) while held", r.err)
		default:
		}
		cancel()
		if r := <-early; !errors.Is(r.err, context.Canceled) || r.g != nil {
			t.Fatalf("cancelled waiter: %v", r.err)
		}
		holder.Release(15)
		r := <-late
		if r.err != nil {
			t.Fatalf("waiter that started after the commit: %v", r.err)
		}
		r.g.Release(0)
		var lc *twopc.LatchConflictError
		if _, err := l.Acquire(ctx, 14, [][]byte{[]byte("a")}); !errors.As(err, &lc) {
			t.Fatalf("txn started before the commit at 15: %v, want a latch conflict", err)
		}
		g, err := l.Acquire(ctx, 16, [][]byte{[]byte("a"), []byte("b")})
		if err != nil {
			t.Fatalf("both keys free: %v", err)
		}
		g.Release(0)
	})
}

// Transactions over overlapping key sets never deadlock: keys are taken in
// key order.
func TestLatchesNoDeadlock(t *testing.T) {
	l := twopc.NewLatches(8)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 200 {
				keys := make([][]byte, 4)
				for i := range keys {
					keys[i] = fmt.Appendf(nil, "k%d", r.IntN(10))
				}
				g, err := l.Acquire(context.Background(), 1, keys)
				if err != nil {
					t.Error(err)
					return
				}
				g.Release(0)
			}
		}()
	}
	wg.Wait()
}
