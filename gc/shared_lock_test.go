package gc_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/gc"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestGCSweepsSharedLocks: the lock sweep of a GC round meets a shared lock
// as its holders' locks (client-go's scanLocksInOneRegionWithRange expands
// it; BatchResolveLocks would refuse the container) and settles each below
// the safe point on its own: the holder whose transaction committed (its
// commit of the key held back) is committed, the live pessimistic holder
// is rolled back, and the holder that began after the safe point keeps
// its lock. In-process and over gRPC.
func TestGCSweepsSharedLocks(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			c := connect(t, grpc, "s")
			ctx := context.Background()
			client := txn.NewClient(c.c)
			t.Cleanup(func() {
				if err := client.Close(ctx); err != nil {
					t.Errorf("client close: %v", err)
				}
			})
			gate := mocktikv.NewGate()
			t.Cleanup(gate.Open) // runs before the client's Close: its held commit ends
			c.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Key: []byte("s"), Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Block(gate))}})

			holder := func(pk string) *txn.Txn {
				tx, err := client.Begin(ctx, txn.WithPessimistic())
				if err != nil {
					t.Fatal(err)
				}
				if err := tx.LockKeys(ctx, nil, []byte(pk)); err != nil {
					t.Fatal(err)
				}
				if err := tx.LockKeys(ctx, &txn.LockCtx{InShareMode: true}, []byte("s")); err != nil {
					t.Fatal(err)
				}
				return tx
			}
			committed := holder("pa")
			if err := committed.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			live := holder("pb")
			sp := c.now()
			later := holder("pc")
			if got := sharedHolders(t, c); len(got) != 3 {
				t.Fatalf("holders of s before GC: %v, want 3", got)
			}

			if _, err := gc.Run(ctx, c.c, sp); err != nil {
				t.Fatalf("gc: %v", err)
			}
			if got := sharedHolders(t, c); len(got) != 1 || got[0] != later.StartTS() {
				t.Fatalf("holders of s after GC: %v, want only %d (after the safe point)", got, later.StartTS())
			}
			var lockWrite bool
			for _, w := range c.mvcc("s").GetWrites() {
				if w.StartTs == committed.StartTS() && w.Type == kvrpcpb.Op_Lock {
					lockWrite = true
				}
				if w.StartTs == live.StartTS() && w.Type != kvrpcpb.Op_Rollback {
					t.Fatalf("the live holder's write on s: %v", w)
				}
			}
			if !lockWrite {
				t.Fatalf("writes of s %v: no commit of txn %d's shared lock", c.mvcc("s").GetWrites(), committed.StartTS())
			}
			if l := c.mvcc("pb").GetLock(); l != nil {
				t.Fatalf("the live holder's primary still locked: %v", l)
			}
			if err := later.Rollback(); err != nil {
				t.Fatal(err)
			}
			_ = live.Rollback()
		})
	}
}

// sharedHolders lists the start ts of the transactions holding a lock on
// "s".
func sharedHolders(t *testing.T, c *cluster) []uint64 {
	t.Helper()
	plan := pipeline.Single(pipeline.Shard(c.env(), pipeline.ByKey((*kvrpcpb.ScanLockRequest).GetStartKey),
		pipeline.Retry(c.env(), plans.KvScanLock)))
	resp, err := plan(context.Background(), &kvrpcpb.ScanLockRequest{StartKey: []byte("s"), EndKey: []byte("s\x00"), MaxVersion: math.MaxUint64})
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, li := range resp.Locks {
		for _, l := range plans.LocksFromInfo(li) {
			out = append(out, l.StartTS)
		}
	}
	return out
}
