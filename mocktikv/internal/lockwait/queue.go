package lockwait

import (
	"cmp"
	"slices"
	"time"
)

// keyQueue is one key's lock-wait queue (TiKV's KeyLockWaitState in
// src/storage/lock_manager/lock_waiting_queue.rs). It exists while it has
// entries; its fields are guarded by the Manager's mutex.
type keyQueue struct {
	key string
	// entries are ordered by start_ts, smallest first: TiKV's queue is a
	// priority queue on start_ts, not FIFO. Equal start_ts keep arrival
	// order.
	entries []*Waiter
	// wakeIndex counts legacy wake-ups on the key. A waiter records it
	// when first queued; a delayed wake-up only wakes waiters that were
	// queued before the latest legacy wake-up (legacyIndex < wakeIndex), so
	// later arrivals are not sent back to retry for nothing.
	wakeIndex uint64
	// conflictStartTS and conflictCommitTS describe the latest release on
	// the key; the delayed wake-up reports them.
	conflictStartTS, conflictCommitTS uint64
	// delayed is the pending delayed wake-up, if any.
	delayed *delayedWakeUp
}

// delayedWakeUp is a scheduled sweep of a key's queue (TiKV's
// delayed_notify_all). Later legacy wake-ups push its deadline back instead
// of scheduling another.
type delayedWakeUp struct {
	deadline time.Time
	timer    *time.Timer
}

func (q *keyQueue) insert(w *Waiter) {
	i, _ := slices.BinarySearchFunc(q.entries, w, func(a, b *Waiter) int {
		return cmp.Or(cmp.Compare(a.req.StartTS, b.req.StartTS), cmp.Compare(a.seq, b.seq))
	})
	q.entries = slices.Insert(q.entries, i, w)
}

func (q *keyQueue) remove(w *Waiter) {
	if i := slices.Index(q.entries, w); i >= 0 {
		q.entries = slices.Delete(q.entries, i, i+1)
	}
	w.q = nil
}

// popHead takes the head of the queue and, when the head is a shared-lock
// request, the shared-lock requests right behind it, which can all be
// granted together (TiKV's pop_for_waking_up_impl).
func (q *keyQueue) popHead() []*Waiter {
	if len(q.entries) == 0 {
		return nil
	}
	n := 1
	if q.entries[0].req.Shared {
		for n < len(q.entries) && q.entries[n].req.Shared {
			n++
		}
	}
	popped := slices.Clone(q.entries[:n])
	q.entries = slices.Delete(q.entries, 0, n)
	for _, w := range popped {
		w.q = nil
	}
	return popped
}

// delayWakeUpLocked schedules, or pushes back, the sweep that wakes the
// waiters queued before the latest legacy wake-up, wake-up-delay after it
// (TiKV's handle_delayed_wake_up).
func (m *Manager) delayWakeUpLocked(q *keyQueue) {
	deadline := time.Now().Add(m.wakeUpDelay)
	if q.delayed != nil {
		q.delayed.deadline = deadline
		return
	}
	q.delayed = &delayedWakeUp{deadline: deadline}
	m.armLocked(q.key, q.delayed, m.wakeUpDelay)
}

// armLocked starts d's timer. The Manager's WaitGroup counts it from now
// until its function returns or Stop cancels it.
func (m *Manager) armLocked(key string, d *delayedWakeUp, after time.Duration) {
	m.timers.Add(1)
	d.timer = time.AfterFunc(after, func() {
		defer m.timers.Done()
		m.delayedWakeUp(key, d)
	})
}

// delayedWakeUp runs when d's timer fires. If the deadline was pushed back
// meanwhile it re-arms; otherwise it wakes, from the head, every legacy
// waiter queued before the latest legacy wake-up, with a WriteConflict
// naming the latest release. It stops at the first waiter queued after that
// wake-up, and at the first force-lock waiter, which it resumes instead
// (TiKV's delayed_notify_all).
func (m *Manager) delayedWakeUp(key string, d *delayedWakeUp) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.queues[key]
	if m.closed || q == nil || q.delayed != d {
		return // stale: the queue emptied (and maybe came back) meanwhile
	}
	if rest := time.Until(d.deadline); rest > 0 {
		m.armLocked(key, d, rest)
		return
	}
	q.delayed = nil
	for len(q.entries) > 0 && q.entries[0].legacyIndex < q.wakeIndex {
		w := q.entries[0]
		q.remove(w)
		if w.req.AllowLockWithConflict {
			m.resumeLocked(w)
			break
		}
		m.finishLocked(w, w.wokenResult(q.conflictStartTS, q.conflictCommitTS))
	}
	m.dropIfEmptyLocked(q)
}

// dropIfEmptyLocked forgets an empty queue, with its wake-up index and its
// pending delayed wake-up, as TiKV removes an emptied KeyLockWaitState.
func (m *Manager) dropIfEmptyLocked(q *keyQueue) {
	if len(q.entries) > 0 || m.queues[q.key] != q {
		return
	}
	delete(m.queues, q.key)
	if d := q.delayed; d != nil {
		q.delayed = nil
		if d.timer.Stop() {
			m.timers.Done()
		}
	}
}
