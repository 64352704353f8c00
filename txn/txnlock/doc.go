// Package txnlock resolves the locks other transactions left in a
// reader's or writer's way: client-go's txnkv/txnlock LockResolver, built
// on tikvgo's plans and pipeline.
//
// A Resolver finds out what became of a lock's transaction by asking its
// primary key (KvCheckTxnStatus), or, for an async-commit transaction
// whose primary has expired, its secondaries (KvCheckSecondaryLocks); it
// then commits or rolls back the locks it was given (KvResolveLock, or
// KvPessimisticRollback for pessimistic locks, which are never committed)
// and reports the locks still alive so the caller can wait. Settled
// transactions are remembered in a bounded cache, so the next lock of the
// same transaction is resolved without asking its primary again; and
// concurrent callers that need the same answer share one request.
//
// A Resolver implements pipeline.LockResolver, so a plan hands it the
// locks its requests meet (pipeline.ResolveLocks). The Resolver itself
// resolves as a writer; With gives views with other Options, as client-go's
// callers pass ResolveLocksOptions:
//
//   - snapshot reads: r.With(Options{ForRead: true}), with a seeThrough
//     that puts ResolveResult.Resolved and Committed into the request's
//     Context.resolved_locks and committed_locks;
//   - prewrite: r.With(Options{PessimisticRegion: true}), caller ts the
//     transaction's start ts;
//   - pessimistic lock: r.With(Options{PessimisticRegion: true}) with a
//     caller ts of 0 (client-go's pessimistic.go), so the status check
//     never pushes the lock's min commit ts for a writer.
//
// The Resolver's own sub-requests run inside the caller's piece of a plan
// (they share its backoff budget, as client-go threads one Backoffer
// through), except WithBackgroundReadCleanup's background cleanups, which
// run on the Resolver's own context until Close.
package txnlock
