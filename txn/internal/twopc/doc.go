// Package twopc is the optimistic two-phase committer of tikvgo's
// transactional client: it turns a transaction's buffered mutations into
// Percolator's prewrite and commit (client-go's txnkv/transaction 2pc.go,
// prewrite.go, commit.go, cleanup.go).
//
// The protocol, as TiKV and client-go run it:
//
//  1. Prewrite: every mutation is written as a lock naming the primary key,
//     batched by region (16 KiB per batch), all batches at once. A lock of
//     another transaction is handed to the lock resolver and the batch is
//     sent again; a newer committed write is a *kv.WriteConflictError.
//  2. A commit ts is taken from the oracle.
//  3. The primary's batch is committed: once TiKV answers success the
//     transaction is committed, whatever happens to the rest. TiKV refusing
//     the commit ts (CommitTsExpired: a reader pushed min_commit_ts) gets a
//     fresh one; an answer that never came is kv.ErrUndetermined.
//  4. The secondaries are committed in the background, on a Group the
//     client owns. A reader that meets one of their locks before that
//     resolves it from the committed primary, so their failures are not the
//     caller's.
//
// A commit that fails before its primary committed rolls back what it may
// have prewritten (KvBatchRollback), in the background too.
//
// Large transactions keep their primary lock alive with KvTxnHeartBeat
// while the commit runs (client-go's ttlManager). Local latches, when the
// client has them, stop a transaction that another of the client's
// transactions already conflicts with before any RPC.
//
// Async commit and one-phase commit (protocol.go), when chosen and
// eligible, end the commit at the prewrite: 1PC when TiKV commits the
// transaction's single batch itself (one_pc_commit_ts), async commit when
// every lock is written with the list of the others, so that any reader can
// commit the transaction at the largest min_commit_ts TiKV answered; the
// commit phase then runs on the Group. TiKV's refusal (0 answered) falls
// back to the steps above. A commit wait makes the commit ts exceed a given
// ts, and an upper-bound check refuses a commit ts (commit_wait.go).
//
// Not implemented: pessimistic transactions.
package twopc
