// Package lockwait is mocktikv's lock manager: the per-key queues in which
// pessimistic-lock requests wait for other transactions' locks, their
// wake-up and timeout, and the cluster-wide deadlock detector. It follows
// TiKV's src/storage/lock_manager/lock_waiting_queue.rs (queues, wake-up),
// src/server/lock_manager/waiter_manager.rs (timeouts, cancellation) and
// src/server/lock_manager/deadlock.rs (wait-for graph, wait chains).
//
// It knows nothing about MVCC: the KvPessimisticLock handler tells it what
// it found, and turns its Results into responses. The life of a wait:
//
//  1. The handler's lock acquisition meets another transaction's lock on
//     key k. While still holding whatever serializes its lock table (so the
//     lock cannot be released in between), it calls Manager.Enqueue. A
//     request with a negative wait_timeout, or one whose wait closes a
//     deadlock, gets a Waiter that is already finished.
//  2. It releases every mutex (the cluster's mu included) and calls
//     Waiter.Wait, which blocks until the request is woken, times out, is
//     found in a deadlock, or its ctx ends.
//  3. Every command that removes a lock (commit, rollback, pessimistic
//     rollback, ResolveLock, CheckTxnStatus / CheckSecondaryLocks rolling
//     back, 1PC) calls Manager.Released for each removed lock, after the
//     removal. Every command that writes a new lock on a key calls
//     Manager.LockAcquired.
//  4. In force-lock mode (allow_lock_with_conflict) a woken request gets
//     Resume: it re-executes, then calls Waiter.Requeue if it meets a lock
//     again (same deadline) or Waiter.Done when it finishes.
//
// Results carry ready kvrpcpb values: a WriteConflict for a legacy wake-up,
// the blocking LockInfo for a timeout, a Deadlock with its wait chain.
//
// Concurrency: everything is safe for concurrent use. The Manager never
// calls out while holding its mutex, so callers may hold their own locks
// when they call it (step 1 requires it). Waiting needs no goroutine; the
// delayed wake-up of legacy waiters runs on timers the Manager owns and
// Close stops.
package lockwait
