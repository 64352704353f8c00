// Package gc runs TiKV's garbage collection from a client, without TiDB
// (client-go's KVStore.GC), on PD's GC states API.
//
// One GC round (Run) does, in PD's order (pd pkg/gc/gc_state_manager.go):
//
//  1. advance the txn safe point toward the expected safe point
//     (AdvanceTxnSafePoint); GC barriers may hold it back, and the round
//     then works with the safe point PD granted. From here on no
//     transaction may read or commit below it: readers get
//     kv.ErrTxnAbortedByGC (txn.SafePointCache).
//  2. settle every lock at or below the txn safe point across the
//     keyspace: a rangetask.Runner scans each region's locks (KvScanLock,
//     GCScanLockLimit at a time, continuing within the region when a page
//     is full; stale routing re-locates and scans again) and hands them to
//     txnlock.Resolver.BatchResolveLocks, which commits or rolls back each
//     transaction whatever its TTL.
//  3. advance the GC safe point to the txn safe point
//     (AdvanceGCSafePoint; never PD's deprecated UpdateGCSafePoint). TiKV
//     then removes the versions below it by itself (its compaction filter
//     and GC worker): no RPC asks it to.
//
// GC barriers (PD's successor of service safe points) are set and removed
// with SetBarrier and DeleteBarrier; State reads the GC states.
package gc
