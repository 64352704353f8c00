package lockwait

import (
	"bytes"
	"cmp"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/deadlock"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// TiKV's defaults for the two settings the lock manager has
// (src/server/lock_manager/config.rs).
const (
	// DefaultWaitForLockTimeout is pessimistic-txn.wait-for-lock-timeout:
	// both the wait used when a request's wait_timeout is 0 and the ceiling
	// of any positive wait_timeout (waiter_manager.rs normalize_deadline),
	// and the TTL of wait-for edges in the deadlock detector.
	DefaultWaitForLockTimeout = time.Second
	// DefaultWakeUpDelay is pessimistic-txn.wake-up-delay-duration: how long
	// after a legacy wake-up on a key the other waiters queued on it then
	// are woken too.
	DefaultWakeUpDelay = 20 * time.Millisecond
)

// ErrClosed is the Err of the Result of every wait that the Manager's Close
// ended, and of waits enqueued after it.
var ErrClosed = errors.New("lockwait: manager closed")

// errDone is what Wait reports for a waiter its owner ended with Done.
var errDone = errors.New("lockwait: waiter done")

// Option configures a Manager.
type Option func(*Manager)

// WithWaitForLockTimeout sets TiKV's wait-for-lock-timeout (see
// DefaultWaitForLockTimeout); d <= 0 keeps the default.
func WithWaitForLockTimeout(d time.Duration) Option {
	return func(m *Manager) {
		if d > 0 {
			m.waitForLockTimeout = d
		}
	}
}

// WithWakeUpDelay sets TiKV's wake-up-delay-duration (see
// DefaultWakeUpDelay); d < 0 keeps the default. With 0 the other legacy
// waiters are woken as soon as the Manager's timer runs.
func WithWakeUpDelay(d time.Duration) Option {
	return func(m *Manager) {
		if d >= 0 {
			m.wakeUpDelay = d
		}
	}
}

// Manager holds the lock-wait queues of every key and the deadlock detector
// of one cluster. It is safe for concurrent use, never calls out while
// holding its mutex, and owns the timers of delayed wake-ups: Close stops
// them and ends every wait.
type Manager struct {
	waitForLockTimeout time.Duration
	wakeUpDelay        time.Duration

	mu      sync.Mutex
	closed  bool
	seq     uint64
	queues  map[string]*keyQueue
	waiters map[*Waiter]struct{} // queued or resuming
	det     *detector
	timers  sync.WaitGroup // running or pending delayed wake-ups
}

// New returns a Manager with TiKV's default settings unless opts change
// them. The caller must Close it.
func New(opts ...Option) *Manager {
	m := &Manager{
		waitForLockTimeout: DefaultWaitForLockTimeout,
		wakeUpDelay:        DefaultWakeUpDelay,
		queues:             map[string]*keyQueue{},
		waiters:            map[*Waiter]struct{}{},
	}
	for _, o := range opts {
		o(m)
	}
	m.det = newDetector(m.waitForLockTimeout)
	return m
}

// Request describes a pessimistic-lock request that met another
// transaction's lock, as Enqueue needs it.
type Request struct {
	// Key is the key the request waits on, as the client sent it (raw, with
	// its keyspace prefix under API v2). It identifies the queue and is the
	// key reported in errors and wait chains.
	Key []byte
	// StartTS is the waiting transaction's start_ts; queues are ordered by
	// it.
	StartTS uint64
	// Primary is the waiter's primary lock, echoed in the WriteConflict a
	// legacy wake-up returns.
	Primary []byte
	// Lock is the blocking lock as the handler found it. Its lock_version
	// (or, for a shared lock, that of each of its shared_lock_infos) is the
	// transaction waited for; it is returned as is when the wait times out.
	Lock *kvrpcpb.LockInfo
	// WaitTimeout is the request's wait_timeout in ms: 0 waits the
	// wait-for-lock-timeout, a positive value at most that, and a negative
	// value does not wait (TiKV's WaitTimeout::from_encoded).
	WaitTimeout int64
	// IsFirstLock is the request's is_first_lock: such a wait is never
	// checked for deadlock (TiKV's LockManager::wait_for), since the
	// transaction holds no lock another could wait for.
	IsFirstLock bool
	// AllowLockWithConflict is set for wake_up_mode = WakeUpModeForceLock: a
	// woken waiter resumes instead of returning a WriteConflict.
	AllowLockWithConflict bool
	// Shared marks a request for a shared pessimistic lock: consecutive
	// shared waiters at the head of a queue are woken together.
	Shared bool
	// ResourceGroupTag is the request context's resource_group_tag, carried
	// in the wait chain.
	ResourceGroupTag []byte
}

// Enqueue registers req as waiting for req.Lock on req.Key and returns its
// Waiter, which the caller must Wait on (or end with Done).
//
// The caller must call it while still holding whatever orders its lock
// table, so that the lock cannot be released before the waiter is queued
// (TiKV holds the key's latch: a release that slipped in between would wake
// nobody). Enqueue does not block.
//
// The returned Waiter is already finished, without being queued, when:
// req.WaitTimeout < 0 (LockTimeout: TiKV's no-wait answers KeyIsLocked at
// once); the wait closes a cycle in the wait-for graph and req.IsFirstLock
// is false (Deadlock); or the Manager is closed (Canceled, ErrClosed).
func (m *Manager) Enqueue(req Request) *Waiter {
	req.Key = bytes.Clone(req.Key)
	req.Primary = bytes.Clone(req.Primary)
	req.ResourceGroupTag = bytes.Clone(req.ResourceGroupTag)
	w := &Waiter{
		m:     m,
		req:   req,
		hash:  KeyHash(req.Key),
		lock:  cloneLock(req.Lock),
		ready: make(chan struct{}, 1),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	w.seq = m.seq
	if m.closed {
		w.finish(Result{Outcome: Canceled, Err: ErrClosed})
		return w
	}
	if req.WaitTimeout < 0 {
		// TiKV's Waiter::cancel_no_timeout: KeyIsLocked with the lock as
		// found.
		w.finish(Result{Outcome: LockTimeout, Lock: cloneLock(w.lock)})
		return w
	}
	now := time.Now()
	w.deadline = now.Add(m.timeout(req.WaitTimeout))
	m.waiters[w] = struct{}{}
	if !req.IsFirstLock {
		if dl := m.detectLocked(now, w); dl != nil {
			m.finishLocked(w, Result{Outcome: Deadlock, Deadlock: dl})
			return w
		}
	}
	m.pushLocked(w)
	return w
}

// timeout is TiKV's WaitTimeout::into_duration_with_ceiling for a
// non-negative wait_timeout, with wait-for-lock-timeout as default and
// ceiling.
func (m *Manager) timeout(ms int64) time.Duration {
	d := time.Duration(ms) * time.Millisecond
	if ms == 0 || d > m.waitForLockTimeout {
		return m.waitForLockTimeout
	}
	return d
}

// Released reports that the lock of transaction startTS on key was removed:
// committed at commitTS, or rolled back (commitTS 0). The caller calls it
// after the removal, for every lock a command removes. It wakes the head of
// key's queue, the waiter with the smallest start_ts (TiKV's
// LockWaitQueues::pop_for_waking_up), and with it the shared waiters right
// behind a shared head:
//   - a legacy waiter finishes with Woken and a WriteConflict(PessimisticRetry)
//     naming this release, even for a rollback (TiKV's scheduler
//     wake_up_legacy_pessimistic_locks); the waiters that were queued at
//     that moment are woken the same way after the wake-up delay, which
//     every later legacy wake-up on the key extends;
//   - a force-lock waiter gets Resume, and nothing else is scheduled.
func (m *Manager) Released(key []byte, startTS, commitTS uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.queues[string(key)]
	if q == nil || m.closed {
		return
	}
	q.conflictStartTS, q.conflictCommitTS = startTS, commitTS
	legacy := false
	for _, w := range q.popHead() {
		if w.req.AllowLockWithConflict {
			m.resumeLocked(w)
			continue
		}
		legacy = true
		q.wakeIndex++
		m.finishLocked(w, w.wokenResult(startTS, commitTS))
	}
	if legacy && len(q.entries) > 0 {
		m.delayWakeUpLocked(q)
	}
	m.dropIfEmptyLocked(q)
}

// LockAcquired reports that lock (its Key set) was written on a key where
// no lock was, so waiters on it now wait for lock's transaction (TiKV's
// LockWaitQueues::update_lock_wait, fed by the locks a command newly
// writes). Every waiter on the key takes lock as the one it reports on
// timeout, restarting its duration_to_last_update_ms; a force-lock waiter
// that is checked for deadlocks (not is_first_lock) whose blocker changed
// has its wait-for edges moved to the new holder and is re-checked, and
// fails with Deadlock if that closes a cycle (waiter_manager.rs
// handle_update_wait_for).
func (m *Manager) LockAcquired(lock *kvrpcpb.LockInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.queues[string(lock.GetKey())]
	if q == nil {
		return
	}
	now := time.Now()
	var dead []*Waiter
	for _, w := range q.entries {
		changed := !slices.Equal(holders(w.lock), holders(lock)) || lock.GetLockType() == kvrpcpb.Op_SharedLock
		w.lock = cloneLock(lock)
		w.lastUpdate = now
		if !changed || w.req.IsFirstLock || !w.req.AllowLockWithConflict {
			continue
		}
		m.dropEdgesLocked(w)
		if dl := m.detectLocked(now, w); dl != nil {
			w.result = Result{Outcome: Deadlock, Deadlock: dl}
			dead = append(dead, w)
		}
	}
	for _, w := range dead {
		m.finishLocked(w, w.result)
	}
}

// CleanUpTxn removes every wait-for edge leaving transaction startTS from
// the deadlock detector (TiKV's DeadlockRequestType::CleanUp). Waiters are
// not touched. Edges also leave when their waiter finishes and expire after
// the wait-for-lock-timeout, so calling it is optional: use it when a
// transaction ends (committed or rolled back) to drop its edges at once.
func (m *Manager) CleanUpTxn(startTS uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.det.cleanUp(startTS)
}

// Dump lists every waiter (queued, or resumed and not yet done) as TiKV's
// GetLockWaitInfo reports it (waiter_manager.rs to_wait_for_entries): txn,
// wait_for_txn, key, key_hash and resource_group_tag; sorted by txn, then
// key, for stable output.
func (m *Manager) Dump() []*deadlock.WaitForEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*deadlock.WaitForEntry, 0, len(m.waiters))
	for w := range m.waiters {
		var lockTS uint64
		if h := holders(w.lock); len(h) > 0 {
			lockTS = h[0]
		}
		out = append(out, w.entry(lockTS))
	}
	slices.SortFunc(out, func(a, b *deadlock.WaitForEntry) int {
		return cmp.Or(cmp.Compare(a.Txn, b.Txn), bytes.Compare(a.Key, b.Key), cmp.Compare(a.WaitForTxn, b.WaitForTxn))
	})
	return out
}

// Close ends every wait with Canceled and ErrClosed, stops the delayed
// wake-up timers and waits for any that is running. Later Enqueues return
// finished waiters; Released and LockAcquired become no-ops. Close is
// idempotent.
func (m *Manager) Close() {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		for w := range m.waiters {
			m.finishLocked(w, Result{Outcome: Canceled, Err: ErrClosed})
		}
	}
	m.mu.Unlock()
	m.timers.Wait()
}

// detectLocked checks w's wait for each transaction holding w.lock and
// registers the edges; TiKV's detector runs one check per holder (a shared
// lock has several) and fails the waiter on the first cycle, removing the
// edges already registered for it (waiter_manager.rs handle_deadlock).
func (m *Manager) detectLocked(now time.Time, w *Waiter) *kvrpcpb.Deadlock {
	for _, lockTS := range holders(w.lock) {
		if lockTS == w.req.StartTS {
			continue
		}
		dl := m.det.detect(now, w.req.StartTS, lockTS, w.hash, w.req.Key, w.req.ResourceGroupTag)
		if dl == nil {
			w.edges = append(w.edges, lockTS)
			continue
		}
		m.dropEdgesLocked(w)
		// kvrpcpb.Deadlock as TiKV's extract_key_error builds it: the lock
		// waited for, the key being locked, the hash of the key the
		// current txn holds on the cycle, and the chain with the waiter's
		// own edge last (deadlock.rs handle_detect_locally). deadlock_key
		// is left unset, as TiKV leaves it.
		return &kvrpcpb.Deadlock{
			LockTs:          lockTS,
			LockKey:         bytes.Clone(w.req.Key),
			DeadlockKeyHash: dl.keyHash,
			WaitChain:       append(dl.chain, w.entry(lockTS)),
		}
	}
	return nil
}

// dropEdgesLocked removes the wait-for edges registered for w (TiKV's
// clean_up_wait_for when a waiter leaves).
func (m *Manager) dropEdgesLocked(w *Waiter) {
	for _, lockTS := range w.edges {
		m.det.cleanUpWaitFor(w.req.StartTS, lockTS, w.hash)
	}
	w.edges = nil
}

// pushLocked puts w in its key's queue. A waiter keeps the legacy wake-up
// index of its first push when it is requeued (TiKV's push_lock_wait).
func (m *Manager) pushLocked(w *Waiter) {
	key := string(w.req.Key)
	q := m.queues[key]
	if q == nil {
		q = &keyQueue{key: key}
		m.queues[key] = q
	}
	if !w.indexed {
		w.legacyIndex, w.indexed = q.wakeIndex, true
	}
	q.insert(w)
	w.q = q
	w.state = queued
}

// resumeLocked hands a popped force-lock waiter back to its request. It
// stays registered (deadline, wait-for edges) until Requeue or Done, as a
// resumed TiKV request stays in the waiter manager until it finishes.
func (m *Manager) resumeLocked(w *Waiter) {
	w.state = resuming
	w.signal()
}

// finishLocked ends w with res unless it has ended already: it leaves its
// queue and the detector.
func (m *Manager) finishLocked(w *Waiter, res Result) {
	if w.state == done {
		return
	}
	if q := w.q; q != nil {
		q.remove(w)
		m.dropIfEmptyLocked(q)
	}
	m.dropEdgesLocked(w)
	delete(m.waiters, w)
	w.finish(res)
}

// holders lists the start ts of the transactions holding lock: the lock's
// own, or for a shared lock each shared holder's (txn_types LockInfoExt
// iter_locks).
func holders(lock *kvrpcpb.LockInfo) []uint64 {
	if lock == nil {
		return nil
	}
	if lock.LockType != kvrpcpb.Op_SharedLock {
		return []uint64{lock.LockVersion}
	}
	ts := make([]uint64, 0, len(lock.SharedLockInfos))
	for _, l := range lock.SharedLockInfos {
		ts = append(ts, l.GetLockVersion())
	}
	return ts
}

func cloneLock(l *kvrpcpb.LockInfo) *kvrpcpb.LockInfo {
	if l == nil {
		return nil
	}
	return proto.Clone(l).(*kvrpcpb.LockInfo)
}
