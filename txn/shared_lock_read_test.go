package txn_test

import (
	"context"
	"iter"
	"slices"
	"testing"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
)

// TestSharedLockDoesNotBlockReads: snapshot reads (Get, BatchGet, Iter,
// IterReverse) at a ts above live shared locks read the committed values
// at once, without resolving anything: TiKV's readers skip a SharedLocks
// (check_ts_conflict_si), whether its holders still hold pessimistic
// sub-locks or one prewrote its sub-lock (Op_SharedLock, its commit held
// back here). A pessimistic transaction's own Get of a key it locked in
// share mode reads it too. In-process and over gRPC.
func TestSharedLockDoesNotBlockReads(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		p.commit("a", "va", "b", "vb", "c", "vc")
		for _, k := range []string{"b", "c"} { // "b" alone: its commit is held, not the primary's
			if _, err := p.mock.SplitTxn([]byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		gate := mocktikv.NewGate()
		defer gate.Open()
		p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Key: []byte("b"), Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Block(gate))}})

		// "a" holds a pessimistic shared sub-lock; "b" a prewritten one of
		// a transaction whose primary committed.
		holder := p.beginWithPrimary("pk1")
		mustLock(t, holder, shareMode(), "a", "c")
		prewritten := p.beginWithPrimary("pk2")
		mustLock(t, prewritten, shareMode(), "b")
		end(t, prewritten, true)
		if n := len(p.locksOn("b", ^uint64(0))); n != 1 {
			t.Fatalf("b holds %d locks, want the prewritten shared lock", n)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.log.reset()
		snap := p.client.Snapshot(p.now())
		for _, k := range []string{"a", "b", "c"} {
			if v, err := snap.Get(ctx, []byte(k)); err != nil || string(v) != "v"+k {
				t.Fatalf("Get %q = %q, %v", k, v, err)
			}
		}
		vs, err := snap.BatchGet(ctx, bkeys("a", "b", "c"))
		if err != nil || len(vs) != 3 || string(vs[0]) != "va" || string(vs[1]) != "vb" || string(vs[2]) != "vc" {
			t.Fatalf("BatchGet = %q, %v", vs, err)
		}
		for name, seq := range map[string]iter.Seq2[string, error]{
			"Iter":        keysOf(snap.Iter(ctx, []byte("a"), []byte("d"))),
			"IterReverse": keysOf(snap.IterReverse(ctx, []byte("d"), []byte("a"))),
		} {
			var got []string
			for k, err := range seq {
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, []string{"a", "b", "c"}) {
				t.Fatalf("%s = %v", name, got)
			}
		}
		for _, cmd := range p.log.take() {
			switch cmd {
			case transport.CmdCheckTxnStatus, transport.CmdResolveLock, transport.CmdPessimisticRollback, transport.CmdCheckSecondaryLocks:
				t.Fatalf("a read over shared locks sent %v", cmd)
			}
		}
		if v, err := holder.Get(ctx, []byte("a")); err != nil || string(v) != "va" {
			t.Fatalf("the holder's own Get of a = %q, %v", v, err)
		}
		end(t, holder, false)
	})
}

// keysOf turns a scan into its keys.
func keysOf(seq iter.Seq2[kv.KeyValue, error]) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for p, err := range seq {
			if !yield(string(p.Key), err) {
				return
			}
		}
	}
}
