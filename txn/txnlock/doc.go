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
// concurrent callers that need the same transaction's status share one
// request.
//
// A Resolver implements pipeline.LockResolver, so a plan hands it the
// locks its requests meet (pipeline.ResolveLocks); With returns a view with
// read-path or writer options.
package txnlock
