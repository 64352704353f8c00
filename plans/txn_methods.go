package plans

import (
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
)

// Transactional (Percolator) command descriptors, for plans users build
// from package pipeline; the transactional client builds on them.
//
// Reads are Read and Idempotent. Most writes are Idempotent too, unlike
// the raw writes: each is keyed by its transaction's start ts, and TiKV
// makes a second copy of the same request harmless, by finding its own
// earlier work (its lock, its commit or rollback record) and answering
// as the first copy would have, so a copy resent after an attempt whose
// outcome is unknown cannot undo another transaction's work. The
// exception is KvDeleteRange, which is keyed by nothing. Even for an
// idempotent write, pipeline.Retry reports kv.ErrUndetermined when the
// last attempt's outcome is unknown: resending is safe, not knowing the
// result is still not success. Each descriptor cites the TiKV rule that
// makes it so (tikv-server-semantics.md has the detail).
var (
	// KvGet is a snapshot point read (Read, Idempotent). A read at ts
	// raises the region's max ts (TiKV's update_max_ts), which only ever
	// grows, so a repeat changes nothing more.
	KvGet = pipeline.Method[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse]{
		Cmd: transport.CmdGet, Err: KeyErr[*kvrpcpb.GetResponse](), Idempotent: true, Read: true,
	}
	// KvScan is a snapshot range read (Read, Idempotent). A locked key is
	// a keyless pair with its lock; Err reports every such lock in one
	// *kv.LockedError, with the response.
	KvScan = pipeline.Method[*kvrpcpb.ScanRequest, *kvrpcpb.ScanResponse]{
		Cmd: transport.CmdScan, Err: PairKeyErrs((*kvrpcpb.ScanResponse).GetPairs), Idempotent: true, Read: true,
	}
	// KvBatchGet is a snapshot multi-key read (Read, Idempotent), with
	// locked keys reported as KvScan's are.
	KvBatchGet = pipeline.Method[*kvrpcpb.BatchGetRequest, *kvrpcpb.BatchGetResponse]{
		Cmd: transport.CmdBatchGet, Err: PairKeyErrs((*kvrpcpb.BatchGetResponse).GetPairs), Idempotent: true, Read: true,
	}
	// KvBufferBatchGet reads a pipelined transaction's own flushed locks
	// (Read, Idempotent): it reads only the lock column family
	// (Storage::buffer_batch_get).
	KvBufferBatchGet = pipeline.Method[*kvrpcpb.BufferBatchGetRequest, *kvrpcpb.BufferBatchGetResponse]{
		Cmd: transport.CmdBufferBatchGet, Err: KeyErr[*kvrpcpb.BufferBatchGetResponse](), Idempotent: true, Read: true,
	}
	// KvScanLock lists the locks at or below a version in a range (Read,
	// Idempotent); TiKV serves it from the leader only.
	KvScanLock = pipeline.Method[*kvrpcpb.ScanLockRequest, *kvrpcpb.ScanLockResponse]{
		Cmd: transport.CmdScanLock, Err: KeyErr[*kvrpcpb.ScanLockResponse](), Idempotent: true, Read: true,
	}

	// KvPrewrite writes the transaction's locks (Idempotent). A repeat
	// finds the transaction's own lock (lock.ts == start_ts) and leaves it
	// as it is; if the transaction has meanwhile committed, TiKV's
	// check_committed_record_on_err answers success with nothing written
	// (actions/prewrite.rs, actions/common.rs); if it was rolled back, the
	// protected rollback record fails the repeat with a write conflict.
	// Locked keys come back together in one *kv.LockedError.
	KvPrewrite = pipeline.Method[*kvrpcpb.PrewriteRequest, *kvrpcpb.PrewriteResponse]{
		Cmd: transport.CmdPrewrite, Err: KeyErrs[*kvrpcpb.PrewriteResponse](), Idempotent: true,
	}
	// KvFlush writes a pipelined transaction's locks for one generation
	// (Idempotent): a repeat finds its own lock with a generation at least
	// the request's and ignores the mutation (commands/flush.rs,
	// GenerationOutOfOrder).
	KvFlush = pipeline.Method[*kvrpcpb.FlushRequest, *kvrpcpb.FlushResponse]{
		Cmd: transport.CmdFlush, Err: KeyErrs[*kvrpcpb.FlushResponse](), Idempotent: true,
	}
	// KvPessimisticLock takes pessimistic locks at for_update_ts
	// (Idempotent): a repeat finds the transaction's own lock and keeps it
	// (actions/acquire_pessimistic_lock.rs), reading the values again when
	// asked to return them.
	KvPessimisticLock = pipeline.Method[*kvrpcpb.PessimisticLockRequest, *kvrpcpb.PessimisticLockResponse]{
		Cmd: transport.CmdPessimisticLock, Err: KeyErrs[*kvrpcpb.PessimisticLockResponse](), Idempotent: true,
	}
	// KvPessimisticRollback removes the transaction's pessimistic locks
	// (the RPC is spelled KVPessimisticRollback) (Idempotent): it deletes
	// only its own pessimistic locks with for_update_ts at most the
	// request's and never fails on a missing one
	// (commands/pessimistic_rollback.rs).
	KvPessimisticRollback = pipeline.Method[*kvrpcpb.PessimisticRollbackRequest, *kvrpcpb.PessimisticRollbackResponse]{
		Cmd: transport.CmdPessimisticRollback, Err: KeyErrs[*kvrpcpb.PessimisticRollbackResponse](), Idempotent: true,
	}
	// KvTxnHeartBeat extends the primary lock's TTL (Idempotent): TiKV
	// sets ttl = max(lock ttl, advised ttl) (commands/txn_heart_beat.rs).
	KvTxnHeartBeat = pipeline.Method[*kvrpcpb.TxnHeartBeatRequest, *kvrpcpb.TxnHeartBeatResponse]{
		Cmd: transport.CmdTxnHeartBeat, Err: KeyErr[*kvrpcpb.TxnHeartBeatResponse](), Idempotent: true,
	}
	// KvCheckTxnStatus decides a transaction's status at its primary,
	// rolling back an expired lock or pushing its min commit ts
	// (Idempotent): a repeat reads the decision the first copy wrote (the
	// rollback record, the pushed lock) and answers the same status
	// (actions/check_txn_status.rs).
	KvCheckTxnStatus = pipeline.Method[*kvrpcpb.CheckTxnStatusRequest, *kvrpcpb.CheckTxnStatusResponse]{
		Cmd: transport.CmdCheckTxnStatus, Err: KeyErr[*kvrpcpb.CheckTxnStatusResponse](), Idempotent: true,
	}
	// KvCheckSecondaryLocks decides an async-commit transaction's status
	// at its secondaries (Idempotent): a key whose lock is missing gets a
	// protected rollback record, which a repeat finds and reports as the
	// same status (commands/check_secondary_locks.rs).
	KvCheckSecondaryLocks = pipeline.Method[*kvrpcpb.CheckSecondaryLocksRequest, *kvrpcpb.CheckSecondaryLocksResponse]{
		Cmd: transport.CmdCheckSecondaryLocks, Err: KeyErr[*kvrpcpb.CheckSecondaryLocksResponse](), Idempotent: true,
	}
	// KvCommit commits the transaction's locks (Idempotent): a key without
	// its lock but with the transaction's commit record is a success
	// (actions/commit.rs), so a repeat after an applied commit succeeds;
	// one after a rollback fails with *kv.TxnLockNotFoundError. A commit
	// whose last attempt's outcome is unknown is still kv.ErrUndetermined.
	KvCommit = pipeline.Method[*kvrpcpb.CommitRequest, *kvrpcpb.CommitResponse]{
		Cmd: transport.CmdCommit, Err: KeyErr[*kvrpcpb.CommitResponse](), Idempotent: true,
	}
	// KvCleanup rolls back one key of a transaction unless it committed
	// (deprecated by TiKV but served) (Idempotent): a repeat finds the
	// rollback or commit record and answers from it (commands/cleanup.rs).
	KvCleanup = pipeline.Method[*kvrpcpb.CleanupRequest, *kvrpcpb.CleanupResponse]{
		Cmd: transport.CmdCleanup, Err: KeyErr[*kvrpcpb.CleanupResponse](), Idempotent: true,
	}
	// KvBatchRollback rolls back the transaction's locks (Idempotent): a
	// key with the transaction's rollback record is a no-op
	// (commands/rollback.rs, actions/cleanup.rs).
	KvBatchRollback = pipeline.Method[*kvrpcpb.BatchRollbackRequest, *kvrpcpb.BatchRollbackResponse]{
		Cmd: transport.CmdBatchRollback, Err: KeyErr[*kvrpcpb.BatchRollbackResponse](), Idempotent: true,
	}
	// KvResolveLock commits or rolls back the locks of decided
	// transactions (Idempotent): each lock is resolved by the commit and
	// rollback rules above, which tolerate their own earlier work
	// (commands/resolve_lock.rs).
	KvResolveLock = pipeline.Method[*kvrpcpb.ResolveLockRequest, *kvrpcpb.ResolveLockResponse]{
		Cmd: transport.CmdResolveLock, Err: KeyErr[*kvrpcpb.ResolveLockResponse](), Idempotent: true,
	}
	// KvGC asks a region to collect versions below a safe point
	// (Idempotent: collecting to the same safe point twice removes nothing
	// more). TiKV at HEAD answers it with gRPC Unimplemented and runs GC
	// on its own; the Method exists for servers that still serve it.
	KvGC = pipeline.Method[*kvrpcpb.GCRequest, *kvrpcpb.GCResponse]{
		Cmd: transport.CmdGC, Err: KeyErr[*kvrpcpb.GCResponse](), Idempotent: true,
	}
	// KvDeleteRange physically deletes every version of every key in a
	// range, locks included. It is NOT idempotent: it is keyed by no
	// timestamp, so a copy resent after an attempt whose outcome is
	// unknown deletes whatever other transactions committed in the range
	// since. Retry reports kv.ErrUndetermined instead of resending.
	KvDeleteRange = pipeline.Method[*kvrpcpb.DeleteRangeRequest, *kvrpcpb.DeleteRangeResponse]{
		Cmd: transport.CmdDeleteRange, Err: StringErr[*kvrpcpb.DeleteRangeResponse](transport.CmdDeleteRange),
	}
	// KvPrepareFlashbackToVersion puts a region into flashback and writes
	// the flashback transaction's lock at start_ts (Idempotent): the
	// flashback actions skip a key whose value at start_ts already exists
	// (actions/flashback_to_version.rs, prewrite_flashback_key).
	KvPrepareFlashbackToVersion = pipeline.Method[*kvrpcpb.PrepareFlashbackToVersionRequest, *kvrpcpb.PrepareFlashbackToVersionResponse]{
		Cmd: transport.CmdPrepareFlashbackToVersion, Err: StringErr[*kvrpcpb.PrepareFlashbackToVersionResponse](transport.CmdPrepareFlashbackToVersion), Idempotent: true,
	}
	// KvFlashbackToVersion rewrites a region's keys to their values at a
	// version, as the flashback transaction (start_ts, commit_ts)
	// (Idempotent): a key whose latest commit ts is the flashback's commit
	// ts is not written twice, and the commit step checks for its own
	// lock (actions/flashback_to_version.rs).
	KvFlashbackToVersion = pipeline.Method[*kvrpcpb.FlashbackToVersionRequest, *kvrpcpb.FlashbackToVersionResponse]{
		Cmd: transport.CmdFlashbackToVersion, Err: StringErr[*kvrpcpb.FlashbackToVersionResponse](transport.CmdFlashbackToVersion), Idempotent: true,
	}
)
