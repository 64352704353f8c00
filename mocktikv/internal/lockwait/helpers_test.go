package lockwait

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"
)

// lockOf is a pessimistic lock of txn ts on key, as a handler would report
// it.
func lockOf(key string, ts uint64) *kvrpcpb.LockInfo {
	return &kvrpcpb.LockInfo{
		Key:             []byte(key),
		PrimaryLock:     []byte(fmt.Sprintf("p%d", ts)),
		LockVersion:     ts,
		LockForUpdateTs: ts,
		LockTtl:         3000,
		LockType:        kvrpcpb.Op_PessimisticLock,
	}
}

// req is a legacy-mode request of txn ts waiting on key for holder's lock,
// checked for deadlocks, with the server's default timeout.
func req(key string, ts, holder uint64) Request {
	return Request{
		Key:     []byte(key),
		StartTS: ts,
		Primary: []byte(fmt.Sprintf("p%d", ts)),
		Lock:    lockOf(key, holder),
	}
}

// forceReq is req in force-lock mode.
func forceReq(key string, ts, holder uint64) Request {
	r := req(key, ts, holder)
	r.AllowLockWithConflict = true
	return r
}

// pending is a Wait running on its own goroutine.
type pending struct {
	w    *Waiter
	done chan struct{}
	res  Result
	at   time.Time // when Wait returned
}

// waitOn runs w.Wait(ctx) on a new goroutine.
func waitOn(ctx context.Context, w *Waiter) *pending {
	p := &pending{w: w, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.res = w.Wait(ctx)
		p.at = time.Now()
	}()
	return p
}

// enqueueAndWait is Enqueue followed by waitOn with a background ctx.
func enqueueAndWait(m *Manager, r Request) *pending {
	return waitOn(context.Background(), m.Enqueue(r))
}

func (p *pending) finished() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// result is the Result of a finished wait; it fails the test if the wait is
// still running.
func (p *pending) result(t *testing.T) Result {
	t.Helper()
	require.True(t, p.finished(), "wait still running")
	return p.res
}

// state is the Manager's bookkeeping, for checking that nothing is left
// behind.
func (m *Manager) state() (queues, waiters, edges int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, out := range m.det.waitFor {
		edges += len(out)
	}
	return len(m.queues), len(m.waiters), edges
}

// requireEmpty checks that no queue, waiter or wait-for edge is left.
func requireEmpty(t *testing.T, m *Manager) {
	t.Helper()
	q, w, e := m.state()
	require.Equal(t, [3]int{0, 0, 0}, [3]int{q, w, e}, "queues, waiters, edges left")
}
