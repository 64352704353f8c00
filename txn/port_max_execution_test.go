package txn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/txn"
)

// TestPortPessimisticLockMaxExecutionTime ports client-go's
// TestPessimisticLockMaxExecutionTime (integration_tests/lock_test.go):
// with T1 holding k1, T2's LockKeys of k1
//   - with a max execution deadline already passed fails at once with a
//     *kv.QueryInterruptedError (kv.MaxExecTimeExceededSignal), sending
//     nothing;
//   - with an 800 ms wait but 200 ms of execution time left fails after
//     about 200 ms with that error, not a lock-wait timeout;
//   - with a 150 ms wait and 600 ms left fails with a lock-wait timeout;
//   - with no deadline and no wait fails at once as no-wait;
//
// and once T1 rolls back, a lock with time left succeeds. Both transports.
func TestPortPessimisticLockMaxExecutionTime(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		t1 := p.beginPessimistic()
		mustLock(t, t1, nil, "k1")
		interrupted := func(err error) bool {
			var qi *kv.QueryInterruptedError
			return errors.As(err, &qi) && qi.Signal == kv.MaxExecTimeExceededSignal && errors.Is(err, kv.ErrQueryInterrupted)
		}

		t2 := p.beginPessimistic()
		sent := len(p.log.lockRequests())
		err := t2.LockKeys(context.Background(), &txn.LockCtx{Wait: 800 * time.Millisecond,
			MaxExecutionDeadline: time.Now().Add(-100 * time.Millisecond)}, []byte("k1"))
		if !interrupted(err) {
			t.Fatalf("lock past the deadline = %v, want a max-execution-time QueryInterruptedError", err)
		}
		if n := len(p.log.lockRequests()); n != sent {
			t.Fatalf("a lock past its deadline sent %d requests", n-sent)
		}

		start := time.Now()
		err = t2.LockKeys(context.Background(), &txn.LockCtx{Wait: 800 * time.Millisecond,
			MaxExecutionDeadline: start.Add(200 * time.Millisecond)}, []byte("k1"))
		if d := time.Since(start); !interrupted(err) || d < 200*time.Millisecond || d >= 800*time.Millisecond {
			t.Fatalf("lock with 200 ms left and an 800 ms wait = %v after %v, want interrupted in [200ms, 800ms)", err, d)
		}

		start = time.Now()
		err = t2.LockKeys(context.Background(), &txn.LockCtx{Wait: 150 * time.Millisecond,
			MaxExecutionDeadline: start.Add(600 * time.Millisecond)}, []byte("k1"))
		if d := time.Since(start); !isWaitTimeout(err) || d < 150*time.Millisecond || d >= 600*time.Millisecond {
			t.Fatalf("lock with a 150 ms wait and 600 ms left = %v after %v, want a lock-wait timeout in [150ms, 600ms)", err, d)
		}

		if err := t2.LockKeys(context.Background(), &txn.LockCtx{Wait: txn.LockNoWait}, []byte("k1")); !isNoWait(err) || interrupted(err) {
			t.Fatalf("no-wait lock without a deadline = %v, want no-wait", err)
		}

		if err := t1.Rollback(); err != nil {
			t.Fatal(err)
		}
		p.waitLocks("k1", 0)
		if err := t2.LockKeys(context.Background(), &txn.LockCtx{Wait: time.Second,
			MaxExecutionDeadline: time.Now().Add(5 * time.Second)}, []byte("k1")); err != nil {
			t.Fatalf("lock of a free key with time left = %v", err)
		}
		end(t, t2, false)
	})
}
