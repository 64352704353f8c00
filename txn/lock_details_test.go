package txn_test

import (
	"context"
	"testing"
	"time"

	"github.com/tikvgo/tikv/txn"
)

// TestLockKeysDetails covers client-go's LockCtx.Stats (LockKeysDetails,
// txn-F4): a LockCtx's Details add up what its LockKeys calls cost: the
// keys locked, the lock RPCs and their time, the regions, and the time a
// call waited for another transaction's lock (TiKV holds the request) in
// both its RPC time and its total. Both transports.
func TestLockKeysDetails(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		if _, err := p.mock.SplitTxn([]byte("m")); err != nil {
			t.Fatal(err)
		}
		holder := p.beginPessimistic()
		mustLock(t, holder, nil, "z")

		tx := p.beginPessimistic()
		d := &txn.LockKeysDetails{}
		lc := &txn.LockCtx{Details: d}
		mustLock(t, tx, lc, "a", "b")
		if d.Keys != 2 || d.LockRPCs < 2 || d.Regions < 2 || d.LockRPCTime <= 0 || d.TotalTime < d.LockRPCTime {
			t.Fatalf("after locking a, b: %+v; want 2 keys, the primary's and the rest's RPCs and pieces", d)
		}
		rpcs := d.LockRPCs
		go func() {
			time.Sleep(150 * time.Millisecond)
			_ = holder.Rollback()
		}()
		if err := tx.LockKeys(context.Background(), lc, []byte("z")); err != nil {
			t.Fatal(err)
		}
		if d.Keys != 3 || d.LockRPCs <= rpcs || d.TotalTime < 150*time.Millisecond {
			t.Fatalf("after waiting for z: %+v; want 3 keys, more RPCs and the wait in the total", d)
		}
		end(t, tx, false)
	})
}
