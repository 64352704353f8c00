package txn_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/txn"
)

// TestPortDeadlockReportWaitChain ports client-go
// integration_tests/lock_test.go TestDeadlockReportWaitChain (scenario
// S26), over gRPC, and is issue #12's deadlock acceptance: transactions
// each hold their own key, then wait for one another's in a cycle
// (1->0->1, then 2->0->1->3->2). Exactly one of them fails with a
// *kv.DeadlockError (kv.ErrTxnRetryable) whose wait chain lists the
// cycle's edges: waiter, holder, key and the waiter's resource-group tag;
// once the victim rolls back, every other waiter gets its key (client-go's
// waiters end with a write conflict instead: LockKeys locks again at a
// fresh for-update ts where client-go leaves that to TiDB).
func TestPortDeadlockReportWaitChain(t *testing.T) {
	p := newPortCluster(t, true, nil)
	t.Run("1->0->1", func(t *testing.T) { runDeadlockCycle(t, p, "a", []int{0, 1}) })
	t.Run("2->0->1->3->2", func(t *testing.T) { runDeadlockCycle(t, p, "b", []int{2, 0, 1, 3}) })
}

func deadlockKey(run string, i int) []byte { return fmt.Appendf(nil, "deadlock_%s_%02d", run, i) }

// runDeadlockCycle makes txn cycle[k] wait for txn cycle[k+1]'s key, the
// last for the first's, in that order.
func runDeadlockCycle(t *testing.T, p *portCluster, run string, cycle []int) {
	n := len(cycle)
	txns := make([]*txn.Txn, n)
	for i := range txns {
		txns[i] = p.beginPessimistic()
		mustLock(t, txns[i], &txn.LockCtx{ResourceGroupTag: fmt.Appendf(nil, "tag-init%d", i)}, string(deadlockKey(run, i)))
	}
	type result struct {
		i   int
		err error
	}
	results := make(chan result, n)
	for k, i := range cycle {
		j := cycle[(k+1)%n]
		go func() {
			lc := &txn.LockCtx{Wait: 10 * time.Second, ResourceGroupTag: fmt.Appendf(nil, "tag-%d-%d", i, j)}
			results <- result{i, txns[i].LockKeys(context.Background(), lc, deadlockKey(run, j))}
		}()
		if k < n-1 {
			// Order the waits as client-go does (it sleeps 100 ms): the
			// cycle's last edge closes it. The assertions below hold
			// whichever request the detector fails.
			for !t2Sent(p, txns[i].StartTS()) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	first := <-results
	var dl *kv.DeadlockError
	if !errors.As(first.err, &dl) || !errors.Is(first.err, kv.ErrTxnRetryable) {
		t.Fatalf("txn %d: first answer %v, want a *kv.DeadlockError", first.i, first.err)
	}
	// The detector's deadlock_key_hash is that of a key the victim
	// holds, never one of this call's: not retryable alone.
	if dl.IsRetryable {
		t.Fatalf("deadlock reported retryable: hash %x of a key this call did not lock", dl.DeadlockKeyHash)
	}
	if len(dl.WaitChain) != n {
		t.Fatalf("wait chain has %d entries, want %d: %v", len(dl.WaitChain), n, dl.WaitChain)
	}
	next := map[int]int{}
	for k, i := range cycle {
		next[i] = cycle[(k+1)%n]
	}
	byTS := map[uint64]int{}
	for i, tx := range txns {
		byTS[tx.StartTS()] = i
	}
	for _, e := range dl.WaitChain {
		i, j := byTS[e.Txn], byTS[e.WaitForTxn]
		if next[i] != j || string(e.Key) != string(deadlockKey(run, j)) || string(e.ResourceGroupTag) != fmt.Sprintf("tag-%d-%d", i, j) {
			t.Fatalf("wait chain entry txn %d -> %d key %q tag %q is not an edge of the cycle", i, j, e.Key, e.ResourceGroupTag)
		}
	}
	if last := dl.WaitChain[n-1]; byTS[last.Txn] != first.i {
		t.Fatalf("the chain's last edge is txn %d's, want the victim %d's", byTS[last.Txn], first.i)
	}
	// The victim rolls back; each waiter then gets its key, and rolls back
	// in turn, releasing the next.
	if err := txns[first.i].Rollback(); err != nil {
		t.Fatal(err)
	}
	for range n - 1 {
		r := <-results
		if r.err != nil {
			t.Fatalf("txn %d: %v, want its key once the victim rolled back", r.i, r.err)
		}
		if err := txns[r.i].Rollback(); err != nil {
			t.Fatal(err)
		}
	}
}
