package lockwait_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/mocktikv/internal/lockwait"
)

// A KvPessimisticLock handler in legacy mode: txn 20 meets txn 10's lock,
// queues while the lock table is still locked, waits without it, and is
// answered with a WriteConflict when txn 10 commits.
func Example() {
	m := lockwait.New()
	defer m.Close()

	var mu sync.Mutex // the engine's lock table mutex
	locks := map[string]*kvrpcpb.LockInfo{
		"k": {Key: []byte("k"), PrimaryLock: []byte("k"), LockVersion: 10, LockType: kvrpcpb.Op_PessimisticLock},
	}

	// The handler of txn 20.
	mu.Lock()
	w := m.Enqueue(lockwait.Request{Key: []byte("k"), StartTS: 20, Primary: []byte("p20"), Lock: locks["k"]})
	mu.Unlock()
	done := make(chan lockwait.Result)
	go func() { done <- w.Wait(context.Background()) }()

	// Txn 10 commits at 15: the lock is removed, then reported.
	mu.Lock()
	delete(locks, "k")
	mu.Unlock()
	m.Released([]byte("k"), 10, 15)

	res := <-done
	fmt.Println(res.Outcome, res.Conflict.ConflictTs, res.Conflict.ConflictCommitTs, res.Conflict.Reason)
	// Output: Woken 10 15 PessimisticRetry
}
