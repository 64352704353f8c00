package lockwait

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockTable is a toy pessimistic-lock engine driving a Manager the way the
// KvPessimisticLock handler does: Enqueue under the table's mutex, Wait
// without it, Released after a lock is removed.
type lockTable struct {
	m     *Manager
	mu    sync.Mutex
	locks map[string]uint64 // key -> holder start_ts
}

// lock acquires key for txn ts, waiting as TiKV would; it returns the
// Result that made it give up, or Outcome 0 once the key is held.
func (tb *lockTable) lock(ctx context.Context, ts uint64, key string, first, force bool) Result {
	var w *Waiter
	tb.mu.Lock()
	for {
		if holder, ok := tb.locks[key]; !ok || holder == ts {
			tb.locks[key] = ts
			tb.m.LockAcquired(lockOf(key, ts))
			tb.mu.Unlock()
			if w != nil {
				w.Done()
			}
			return Result{}
		} else if w == nil {
			r := req(key, ts, holder)
			r.IsFirstLock, r.AllowLockWithConflict = first, force
			w = tb.m.Enqueue(r)
		} else {
			w.Requeue(lockOf(key, holder))
		}
		tb.mu.Unlock()
		res := w.Wait(ctx)
		switch res.Outcome {
		case Resume: // re-execute with the same waiter
		case Woken: // the request ended with WriteConflict; the client retries
			w = nil
		default:
			return res
		}
		tb.mu.Lock()
	}
}

func (tb *lockTable) release(ts, commitTS uint64, keys []string) {
	for _, k := range keys {
		tb.mu.Lock()
		delete(tb.locks, k)
		tb.mu.Unlock()
		tb.m.Released([]byte(k), ts, commitTS)
	}
}

// runContention runs txns transactions that each lock 2-3 of keys keys in
// random order (ascending if ordered), half of them in force-lock mode, hold
// them for hold, and commit, or roll back when a lock fails. It checks that
// every txn ends, that each deadlock's wait chain is a cycle through the
// failed txn, and that the Manager is empty afterwards.
//
// With random orders some deadlocks end as lock-wait timeouts rather than
// Deadlock, as they can in TiKV: a legacy waiter's wait-for edge is not
// moved when another txn takes the lock it waits on (only force-lock
// waiters are re-checked), and the delayed sweep that would send it back to
// retry stops at a waiter that re-queued after the wake-up.
func runContention(t *testing.T, m *Manager, txns, keys int, hold time.Duration, ordered bool) map[Outcome]int {
	tb := &lockTable{m: m, locks: map[string]uint64{}}
	var (
		mu       sync.Mutex
		outcomes = map[Outcome]int{}
		wg       sync.WaitGroup
	)
	for i := range txns {
		ts := uint64(100 + i)
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		order := rng.Perm(keys)[:2+rng.IntN(2)]
		if ordered {
			slices.Sort(order)
		}
		force := i%2 == 1
		wg.Go(func() {
			var held []string
			for _, k := range order {
				key := fmt.Sprintf("key%d", k)
				res := tb.lock(t.Context(), ts, key, len(held) == 0, force)
				if res.Outcome != 0 {
					if res.Outcome == Deadlock {
						c := res.Deadlock.WaitChain
						assert.Equal(t, ts, c[len(c)-1].Txn, "own edge last")
						assert.Equal(t, res.Deadlock.LockTs, c[0].Txn, "chain starts at the lock's txn")
						for j := range c {
							assert.Equal(t, c[(j+1)%len(c)].Txn, c[j].WaitForTxn, "chain is a cycle")
						}
					}
					mu.Lock()
					outcomes[res.Outcome]++
					mu.Unlock()
					tb.release(ts, 0, held)
					return
				}
				held = append(held, key)
				time.Sleep(hold)
			}
			tb.release(ts, ts+1000, held)
			mu.Lock()
			outcomes[0]++
			mu.Unlock()
		})
	}
	wg.Wait()
	total := 0
	for _, n := range outcomes {
		total += n
	}
	require.Equal(t, txns, total)
	assert.Empty(t, tb.locks)
	requireEmpty(t, m)
	return outcomes
}

// TestContentionVirtualTime runs many concurrent waiters with virtual time.
func TestContentionVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New()
		defer m.Close()
		out := runContention(t, m, 64, 6, 5*time.Millisecond, false)
		t.Logf("committed %d, deadlocks %d, timeouts %d", out[0], out[Deadlock], out[LockTimeout])
		assert.Positive(t, out[0], "some transactions commit")
	})
}

// TestContentionRealTime is the same with real timers and short settings.
func TestContentionRealTime(t *testing.T) {
	m := New(WithWaitForLockTimeout(300*time.Millisecond), WithWakeUpDelay(time.Millisecond))
	defer m.Close()
	out := runContention(t, m, 32, 5, time.Millisecond, false)
	t.Logf("committed %d, deadlocks %d, timeouts %d", out[0], out[Deadlock], out[LockTimeout])
	assert.Positive(t, out[0], "some transactions commit")
}

// TestContentionNoCycles locks keys in one global order, so no deadlock can
// form and, with short holds, no wait may time out: a lost wake-up would.
func TestContentionNoCycles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New()
		defer m.Close()
		out := runContention(t, m, 64, 6, time.Millisecond, true)
		assert.Equal(t, map[Outcome]int{0: 64}, out)
	})
}
