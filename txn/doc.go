// Package txn is tikvgo's transactional (Percolator) client: consistent
// reads at a start timestamp and, on top of them, transactions that buffer
// their writes and commit them in two phases.
//
// A Snapshot is a read-only view of the transactional key space at one
// timestamp (client-go's txnsnapshot.KVSnapshot). Its reads are plans built
// from package pipeline: each is split by region (Shard, or Stream for a
// scan), passes the locks it meets to a pipeline.LockResolver
// (pipeline.ResolveLocks with pipeline.ForReads) and is retried per region
// (pipeline.Retry) with the commands of package plans:
//
//	Get:      Shard(ByKey)  → ResolveLocks → Retry(plans.KvGet)
//	BatchGet: Shard(ByKeys) → ResolveLocks → Retry(plans.KvBatchGet)
//	Iter:     Stream        → ResolveLocks → Retry(plans.KvScan)
//
// The order is fixed: lock resolution sits above the per-region retry so
// that a resend after a resolved lock gets the same replica selection and
// region-error handling as the first try, and below the split so that only
// the region that met the lock is read again.
//
// What a read learns about locks is kept by the snapshot: the transactions
// whose locks it may skip (TiKV's Context.resolved_locks) and those whose
// locked values it may read (Context.committed_locks) travel with every
// later read of the same snapshot, so TiKV need not be asked about them
// again.
//
// Values in the transactional key space are never empty: client-go refuses
// to write one, and its membuffer stores a delete as an empty value. A
// snapshot's point reads therefore read a stored empty value as "not
// found", as client-go's snapshot does; scans return pairs as TiKV does.
package txn
