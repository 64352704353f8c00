package lockwait

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func conflict(waiter, releaser, commit uint64) *kvrpcpb.WriteConflict {
	return &kvrpcpb.WriteConflict{
		StartTs:          waiter,
		ConflictTs:       releaser,
		ConflictCommitTs: commit,
		Key:              []byte("k"),
		Primary:          req("k", waiter, 0).Primary,
		Reason:           kvrpcpb.WriteConflict_PessimisticRetry,
	}
}

// TestLegacyWakeUpOrder: a release wakes the smallest start_ts at once with a
// WriteConflict; after the wake-up delay the sweep wakes, from the head, the
// waiters queued before that wake-up, with the same conflict. A waiter that
// arrived after the wake-up is not swept, and if its start_ts puts it at the
// head it stops the sweep altogether, as TiKV's delayed_notify_all does.
func TestLegacyWakeUpOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lateTS uint64
		swept  []uint64
		left   []uint64
	}{
		{"late arrival behind the others", 60, []uint64{40, 50}, []uint64{60}},
		{"late arrival at the head stops the sweep", 20, nil, []uint64{20, 40, 50}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := New()
				defer m.Close()
				p := map[uint64]*pending{}
				for _, ts := range []uint64{50, 30, 40} {
					p[ts] = enqueueAndWait(m, req("k", ts, 10))
				}
				time.Sleep(100 * time.Millisecond)
				synctest.Wait()
				for ts, w := range p {
					require.False(t, w.finished(), "txn %d woke before any release", ts)
				}

				wake := time.Now()
				m.Released([]byte("k"), 10, 15)
				synctest.Wait()
				assert.Equal(t, Result{Outcome: Woken, Conflict: conflict(30, 10, 15)}, p[30].result(t))
				assert.Equal(t, wake, p[30].at, "the head is woken at once")
				assert.False(t, p[40].finished())
				assert.False(t, p[50].finished())

				p[tc.lateTS] = enqueueAndWait(m, req("k", tc.lateTS, 10))
				time.Sleep(DefaultWakeUpDelay - time.Millisecond)
				synctest.Wait()
				assert.False(t, p[40].finished(), "not before the delay")
				time.Sleep(time.Millisecond)
				synctest.Wait()
				for _, ts := range tc.swept {
					assert.Equal(t, Result{Outcome: Woken, Conflict: conflict(ts, 10, 15)}, p[ts].result(t))
					assert.Equal(t, wake.Add(DefaultWakeUpDelay), p[ts].at)
				}
				for _, ts := range tc.left {
					assert.False(t, p[ts].finished(), "txn %d", ts)
				}

				// The next release wakes the smallest of those left.
				m.Released([]byte("k"), 11, 16)
				synctest.Wait()
				assert.Equal(t, Result{Outcome: Woken, Conflict: conflict(tc.left[0], 11, 16)}, p[tc.left[0]].result(t))
				time.Sleep(DefaultWakeUpDelay)
				synctest.Wait()
				for _, ts := range tc.left {
					assert.Equal(t, Outcome(Woken), p[ts].result(t).Outcome, "txn %d", ts)
				}
				requireEmpty(t, m)
			})
		})
	}
}

// TestLegacyWakeUpDelayExtended: each further legacy wake-up on the key
// pushes the delayed sweep back, and the sweep reports the latest release.
func TestLegacyWakeUpDelayExtended(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New()
		defer m.Close()
		p := map[uint64]*pending{}
		for _, ts := range []uint64{30, 40, 50} {
			p[ts] = enqueueAndWait(m, req("k", ts, 10))
		}
		synctest.Wait()
		m.Released([]byte("k"), 10, 15)
		time.Sleep(10 * time.Millisecond)
		second := time.Now()
		m.Released([]byte("k"), 12, 0) // a rollback: conflict_commit_ts 0
		synctest.Wait()
		assert.Equal(t, Result{Outcome: Woken, Conflict: conflict(40, 12, 0)}, p[40].result(t))

		time.Sleep(DefaultWakeUpDelay - time.Millisecond)
		synctest.Wait()
		assert.False(t, p[50].finished(), "the first sweep's deadline was pushed back")
		time.Sleep(time.Millisecond)
		synctest.Wait()
		assert.Equal(t, Result{Outcome: Woken, Conflict: conflict(50, 12, 0)}, p[50].result(t))
		assert.Equal(t, second.Add(DefaultWakeUpDelay), p[50].at)
		requireEmpty(t, m)
	})
}

// TestForceLockWakeUpOrder: in force-lock mode each release resumes only the
// smallest start_ts; no delayed sweep; the others keep waiting for the lock
// their predecessor takes, and time out reporting it.
func TestForceLockWakeUpOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New()
		defer m.Close()
		start := time.Now()
		p := map[uint64]*pending{}
		for _, ts := range []uint64{50, 40, 30} {
			p[ts] = enqueueAndWait(m, forceReq("k", ts, 10))
		}
		synctest.Wait()

		m.Released([]byte("k"), 10, 15)
		time.Sleep(100 * time.Millisecond)
		assert.Equal(t, Result{Outcome: Resume}, p[30].result(t))
		assert.False(t, p[40].finished(), "no delayed wake-up in force-lock mode")
		// 30 re-executes and takes the lock.
		p[30].w.Done()
		m.LockAcquired(lockOf("k", 30))

		m.Released([]byte("k"), 30, 35)
		synctest.Wait()
		assert.Equal(t, Result{Outcome: Resume}, p[40].result(t))
		assert.False(t, p[50].finished())
		p[40].w.Done()
		updated := time.Now()
		m.LockAcquired(lockOf("k", 40))

		synctest.Wait()
		time.Sleep(time.Until(start.Add(DefaultWaitForLockTimeout)))
		synctest.Wait()
		want := lockOf("k", 40)
		want.DurationToLastUpdateMs = uint64(start.Add(DefaultWaitForLockTimeout).Sub(updated).Milliseconds())
		assert.Equal(t, Result{Outcome: LockTimeout, Lock: want}, p[50].result(t))
		requireEmpty(t, m)
	})
}

// TestMixedModeSweep: the delayed sweep after a legacy wake-up stops at the
// first force-lock waiter, which it resumes; waiters behind it stay.
func TestMixedModeSweep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New()
		defer m.Close()
		p := map[uint64]*pending{
			30: enqueueAndWait(m, req("k", 30, 10)),
			40: enqueueAndWait(m, forceReq("k", 40, 10)),
			50: enqueueAndWait(m, req("k", 50, 10)),
		}
		synctest.Wait()
		m.Released([]byte("k"), 10, 15)
		time.Sleep(DefaultWakeUpDelay)
		synctest.Wait()
		assert.Equal(t, Outcome(Woken), p[30].result(t).Outcome)
		assert.Equal(t, Result{Outcome: Resume}, p[40].result(t))
		assert.False(t, p[50].finished())
		p[40].w.Done()

		m.Released([]byte("k"), 40, 45)
		synctest.Wait()
		assert.Equal(t, Result{Outcome: Woken, Conflict: conflict(50, 40, 45)}, p[50].result(t))
		requireEmpty(t, m)
	})
}

// TestSharedWaitersWokenTogether: a shared-lock request at the head is woken
// with the shared requests right behind it, not past an exclusive one.
func TestSharedWaitersWokenTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New()
		defer m.Close()
		p := map[uint64]*pending{}
		for _, c := range []struct {
			ts     uint64
			shared bool
		}{{20, true}, {30, true}, {40, false}, {50, true}} {
			r := forceReq("k", c.ts, 10)
			r.Shared = c.shared
			p[c.ts] = enqueueAndWait(m, r)
		}
		synctest.Wait()
		m.Released([]byte("k"), 10, 15)
		synctest.Wait()
		assert.Equal(t, Outcome(Resume), p[20].result(t).Outcome)
		assert.Equal(t, Outcome(Resume), p[30].result(t).Outcome)
		assert.False(t, p[40].finished())
		assert.False(t, p[50].finished())
		for _, w := range p {
			w.w.Done()
		}
		synctest.Wait()
		requireEmpty(t, m)
	})
}

// TestRequeueKeepsDeadline: a resumed force-lock waiter that meets a new lock
// waits again until its original deadline and reports the new lock.
func TestRequeueKeepsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New()
		defer m.Close()
		start := time.Now()
		r := forceReq("k", 30, 10)
		r.WaitTimeout = 500
		w := m.Enqueue(r)
		p := waitOn(t.Context(), w)
		time.Sleep(200 * time.Millisecond)
		m.Released([]byte("k"), 10, 15)
		synctest.Wait()
		require.Equal(t, Outcome(Resume), p.result(t).Outcome)

		w.Requeue(lockOf("k", 99)) // another txn took the key first
		p = waitOn(t.Context(), w)
		time.Sleep(time.Second)
		synctest.Wait()
		want := lockOf("k", 99)
		want.DurationToLastUpdateMs = 300
		assert.Equal(t, Result{Outcome: LockTimeout, Lock: want}, p.result(t))
		assert.Equal(t, start.Add(500*time.Millisecond), p.at)
		requireEmpty(t, m)
	})
}
