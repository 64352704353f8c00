package lockwait

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWaitTimeout: wait_timeout 0 waits the wait-for-lock-timeout, a positive
// one at most that long (TiKV's normalize_deadline); the timed-out waiter
// reports the blocking lock, with duration_to_last_update_ms 0 as it was
// never updated.
func TestWaitTimeout(t *testing.T) {
	for _, tc := range []struct {
		name        string
		opts        []Option
		waitTimeout int64
		want        time.Duration
	}{
		{"0 means the default", nil, 0, time.Second},
		{"positive below the ceiling", nil, 300, 300 * time.Millisecond},
		{"positive above the ceiling is capped", nil, 5000, time.Second},
		{"configured default", []Option{WithWaitForLockTimeout(3 * time.Second)}, 0, 3 * time.Second},
		{"configured ceiling", []Option{WithWaitForLockTimeout(3 * time.Second)}, 5000, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := New(tc.opts...)
				defer m.Close()
				start := time.Now()
				r := req("k", 20, 10)
				r.WaitTimeout = tc.waitTimeout
				p := enqueueAndWait(m, r)
				time.Sleep(tc.want - time.Millisecond)
				synctest.Wait()
				require.False(t, p.finished(), "timed out early")
				time.Sleep(time.Millisecond)
				synctest.Wait()
				assert.Equal(t, Result{Outcome: LockTimeout, Lock: lockOf("k", 10)}, p.result(t))
				assert.Equal(t, start.Add(tc.want), p.at)
				requireEmpty(t, m)
			})
		})
	}
}

// TestNoWait: a negative wait_timeout answers KeyIsLocked at once, without
// queueing or deadlock detection (TiKV's cancel_no_timeout).
func TestNoWait(t *testing.T) {
	m := New()
	defer m.Close()
	// A cycle would close if this were detected: 10 waits for 20.
	m.Enqueue(req("a", 10, 20))
	r := req("b", 20, 10)
	r.WaitTimeout = -1
	w := m.Enqueue(r)
	assert.Equal(t, Result{Outcome: LockTimeout, Lock: lockOf("b", 10)}, w.Wait(context.Background()))
	assert.Len(t, m.Dump(), 1, "only the first waiter is registered")
}

// TestCancel: a waiter whose ctx ends (or whose owner calls Done) leaves its
// queue and the detector at once; nothing is left behind and the edge it had
// cannot cause a deadlock afterwards.
func TestCancel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		end     func(cancel context.CancelFunc, w *Waiter)
		timeout time.Duration // ctx deadline, if any
		wantErr error
	}{
		{"cancel", func(cancel context.CancelFunc, _ *Waiter) { cancel() }, 0, context.Canceled},
		{"deadline", func(context.CancelFunc, *Waiter) {}, 100 * time.Millisecond, context.DeadlineExceeded},
		{"done", func(_ context.CancelFunc, w *Waiter) { w.Done() }, 0, errDone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := New()
				defer m.Close()
				ctx, cancel := context.WithCancel(t.Context())
				if tc.timeout > 0 {
					ctx, cancel = context.WithTimeout(t.Context(), tc.timeout)
				}
				defer cancel()
				w := m.Enqueue(req("k2", 10, 20))
				p := waitOn(ctx, w)
				time.Sleep(100 * time.Millisecond)
				tc.end(cancel, w)
				synctest.Wait()
				res := p.result(t)
				assert.Equal(t, Outcome(Canceled), res.Outcome)
				assert.ErrorIs(t, res.Err, tc.wantErr)
				requireEmpty(t, m)

				// 20 now waits for 10: no deadlock, the 10 -> 20 edge is gone.
				p2 := enqueueAndWait(m, req("k1", 20, 10))
				synctest.Wait()
				assert.False(t, p2.finished())
				m.Released([]byte("k1"), 10, 0)
				synctest.Wait()
				assert.Equal(t, Outcome(Woken), p2.result(t).Outcome)
				assert.Equal(t, res, w.Wait(t.Context()), "a finished waiter keeps its result")
			})
		})
	}
}

// TestClose: Close ends every wait, including one a delayed sweep was going
// to wake, and stops the sweep's timer; later waits end at once.
func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New()
		p30 := enqueueAndWait(m, req("k", 30, 10))
		p40 := enqueueAndWait(m, req("k", 40, 10))
		p50 := enqueueAndWait(m, forceReq("other", 50, 10))
		synctest.Wait()
		m.Released([]byte("k"), 10, 15) // wakes 30, schedules the sweep for 40
		synctest.Wait()
		require.Equal(t, Outcome(Woken), p30.result(t).Outcome)

		m.Close()
		synctest.Wait()
		for _, p := range []*pending{p40, p50} {
			assert.Equal(t, Result{Outcome: Canceled, Err: ErrClosed}, p.result(t))
		}
		w := m.Enqueue(req("k", 60, 10))
		assert.Equal(t, Result{Outcome: Canceled, Err: ErrClosed}, w.Wait(t.Context()))
		m.Released([]byte("k"), 10, 15)
		m.Close()
		requireEmpty(t, m)
	})
}
