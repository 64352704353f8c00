package gc_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/gc"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/rangetask"
	"github.com/tikvgo/tikv/txn"
)

// TestGC is the acceptance test of a GC round (client-go's KVStore.GC;
// integration_tests/gc_test.go's lock sweep), in-process and over gRPC.
// Below the safe point it leaves an overwritten key, a deleted key, an
// undecided transaction and one whose primary committed with a secondary
// still locked; above it, a newer write and a live lock. After Run: PD's
// txn and GC safe points are the safe point; no lock at or below it is
// left (the undecided transaction rolled back, the half-committed one
// committed); the live lock above it is untouched. After TiKV's own
// collection at the GC safe point (mocktikv.RunGC: TiKV runs it, no RPC
// does), MvccGetByKey shows no version below the safe point but the one a
// reader at it sees; a reader below it gets kv.ErrTxnAbortedByGC, and
// everything committed above it reads back.
func TestGC(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			c := connect(t, grpc, "b", "c", "p")
			ctx := context.Background()
			c.write("a", "v1")
			oldTS := c.now()
			c.write("a", "v2")
			c.write("b", "gone")
			c.write("b", "")
			undecided, _ := c.lock("c", "cv", "d", "dv")
			half, keys := c.lock("p", "pv", "q", "qv")
			c.commit(half, keys[0])
			sp := c.now()
			c.write("a", "v3")
			live, _ := c.lock("x", "xv")

			var mu sync.Mutex
			var phases []gc.Phase
			var last rangetask.Stat
			res, err := gc.Run(ctx, c.c, sp, gc.WithConcurrency(2), gc.WithProgress(func(p gc.Progress) {
				mu.Lock()
				defer mu.Unlock()
				if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
					phases = append(phases, p.Phase)
				}
				last = p.Regions
			}))
			if err != nil {
				t.Fatalf("gc: %v", err)
			}
			if res.TxnSafePoint != sp || res.GCSafePoint != sp || res.Regions != (rangetask.Stat{CompletedRegions: 4}) {
				t.Fatalf("result %+v; want safe points %d and 4 regions swept", res, sp)
			}
			if c.mock.TxnSafePoint() != sp || c.mock.GCSafePoint() != sp {
				t.Fatalf("PD: txn safe point %d, GC safe point %d; want %d", c.mock.TxnSafePoint(), c.mock.GCSafePoint(), sp)
			}
			wantPhases := []gc.Phase{gc.PhaseAdvanceTxnSafePoint, gc.PhaseResolveLocks, gc.PhaseAdvanceGCSafePoint, gc.PhaseDone}
			if !slices.Equal(phases, wantPhases) || last.CompletedRegions != 4 {
				t.Fatalf("progress: phases %v, last %+v; want %v reaching 4 regions", phases, last, wantPhases)
			}

			for _, k := range []string{"c", "d", "p", "q"} {
				if l := c.mvcc(k).GetLock(); l != nil {
					t.Fatalf("%q still locked after GC: %v", k, l)
				}
			}
			if ws := c.mvcc("c").GetWrites(); len(ws) != 1 || ws[0].Type != kvrpcpb.Op_Rollback || ws[0].StartTs != undecided {
				t.Fatalf("undecided primary: writes %v, want txn %d's rollback", ws, undecided)
			}
			if l := c.mvcc("x").GetLock(); l == nil || l.StartTs != live {
				t.Fatalf("the lock above the safe point: %v, want txn %d's", l, live)
			}

			c.mock.RunGC(c.mock.GCSafePoint())
			for _, k := range []string{"a", "b", "c", "d", "p", "q"} {
				var below []*kvrpcpb.MvccWrite
				for _, w := range c.mvcc(k).GetWrites() {
					if w.CommitTs <= sp {
						below = append(below, w)
					}
				}
				if len(below) > 1 || (len(below) == 1 && below[0].Type != kvrpcpb.Op_Put) {
					t.Fatalf("%q keeps versions below the safe point: %v", k, below)
				}
			}
			if n := len(c.mvcc("c").GetWrites()) + len(c.mvcc("b").GetWrites()); n != 0 {
				t.Fatalf("rolled-back and deleted keys keep %d versions", n)
			}

			client := txn.NewClient(c.c, txn.WithSafePointCache(txn.SafePointCacheOptions{Refresh: 5 * time.Millisecond, Retry: 5 * time.Millisecond}))
			defer client.Close(ctx)
			// The cache's first read of PD may fail on a loaded machine; it
			// retries, and the check proves it has seen the safe point.
			for deadline := time.Now().Add(10 * time.Second); !errors.Is(client.CheckVisibility(ctx, oldTS), kv.ErrTxnAbortedByGC); {
				if time.Now().After(deadline) {
					t.Fatalf("the client never saw the txn safe point %d", sp)
				}
				time.Sleep(5 * time.Millisecond)
			}
			old, err := client.Begin(ctx, txn.WithStartTS(oldTS))
			if err != nil {
				t.Fatal(err)
			}
			_, err = old.Get(ctx, []byte("a"))
			var gcErr *kv.TxnAbortedByGCError
			if !errors.As(err, &gcErr) || !errors.Is(err, kv.ErrTxnAbortedByGC) || gcErr.SafePoint != sp {
				t.Fatalf("read at %d below safe point %d: %v, want a *kv.TxnAbortedByGCError", oldTS, sp, err)
			}
			now, err := client.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]string{"a": "v3", "p": "pv", "q": "qv", "b": "", "c": "", "d": ""} {
				v, err := now.Get(ctx, []byte(k))
				if want == "" {
					if !errors.Is(err, kv.ErrNotFound) {
						t.Fatalf("%q: %q, %v; want not found", k, v, err)
					}
					continue
				}
				if err != nil || string(v) != want {
					t.Fatalf("%q: %q, %v; want %q", k, v, err, want)
				}
			}
		})
	}
}
