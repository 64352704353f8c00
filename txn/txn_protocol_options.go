package txn

import (
	"time"

	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// Protocol names how a transaction was committed: CommitDetails.Protocol.
type Protocol = twopc.Protocol

// The commit protocols (CommitDetails.Protocol).
const (
	ProtocolTwoPC       = twopc.ProtocolTwoPC
	ProtocolAsyncCommit = twopc.ProtocolAsyncCommit
	ProtocolOnePC       = twopc.ProtocolOnePC
)

// CommitTSLagError is the failure of a commit whose commit ts could not be
// made to exceed WithCommitWaitUntilTSO's target in time.
type CommitTSLagError = twopc.CommitTSLagError

// CommitTSUpperBoundError is the failure of a commit whose commit ts
// WithCommitTSUpperBound's check refused.
type CommitTSUpperBoundError = twopc.CommitTSUpperBoundError

// protocolConfig is a transaction's choice of commit protocol, over the
// client's CommitOptions.
type protocolConfig struct {
	asyncCommit, onePC, causal twopc.Switch
	waitUntil                  uint64
	waitTimeout                time.Duration
	upperBound                 func(uint64) bool
}

// apply copies the choice into the committer's request.
func (p protocolConfig) apply(r *twopc.Request) {
	r.AsyncCommit, r.OnePC, r.CausalConsistency = p.asyncCommit, p.onePC, p.causal
	r.CommitWaitUntilTSO, r.CommitWaitTimeout, r.CommitTSUpperBound = p.waitUntil, p.waitTimeout, p.upperBound
}

// WithAsyncCommit turns async commit on or off for the transaction
// (client-go's KVTxn.SetEnableAsyncCommit), over the client's
// CommitOptions.AsyncCommit. An async-commit transaction is committed as
// soon as all its prewrites succeeded: Commit returns then, and the
// commit RPCs run in the background. Transactions of more than
// CommitOptions.AsyncCommitKeys keys or AsyncCommitKeySize key bytes use
// two-phase commit anyway. When TiKV refuses (it answers min_commit_ts 0)
// the commit falls back to two-phase commit (CommitDetails says so). A
// prewrite whose outcome is unknown is kv.ErrUndetermined: readers may
// commit the transaction from its locks.
func WithAsyncCommit(on bool) BeginOption {
	return func(c *beginConfig) { c.proto.asyncCommit = twopc.SwitchOf(on) }
}

// WithOnePC turns one-phase commit on or off for the transaction
// (client-go's KVTxn.SetEnable1PC), over CommitOptions.OnePC: a
// transaction whose writes fit one batch of one region is committed by
// its prewrite alone, with no Commit RPC. A larger one, or one TiKV
// refuses (one_pc_commit_ts 0), uses two-phase commit (or async commit,
// when on and the transaction spans several batches).
func WithOnePC(on bool) BeginOption {
	return func(c *beginConfig) { c.proto.onePC = twopc.SwitchOf(on) }
}

// WithCausalConsistency lets an async-commit or 1PC transaction skip the
// TSO fetch its min commit ts is otherwise taken from (client-go's
// KVTxn.SetCausalConsistency(true)): its commit ts is still above every ts
// it depends on, but may be below the start ts of a transaction that
// began, on another store, after it committed. Off by default (the
// client's CommitOptions.CausalConsistency): commits are linearizable.
func WithCausalConsistency(on bool) BeginOption {
	return func(c *beginConfig) { c.proto.causal = twopc.SwitchOf(on) }
}

// WithCommitWaitUntilTSO makes the transaction commit at a ts above ts
// (client-go's KVTxn.SetCommitWaitUntilTSO, for writes replicated from
// another cluster whose commit ts must exceed the original's): the commit
// waits for PD's TSO to pass it, at most timeout (zero: 1 s, client-go's
// default; negative: no wait). A TSO further behind fails the commit with
// *CommitTSLagError before anything is written.
func WithCommitWaitUntilTSO(ts uint64, timeout time.Duration) BeginOption {
	return func(c *beginConfig) { c.proto.waitUntil, c.proto.waitTimeout = ts, timeout }
}

// WithCommitTSUpperBound makes the commit fail with
// *CommitTSUpperBoundError, before anything is committed, when check
// refuses its commit ts (client-go's KVTxn.SetCommitTSUpperBoundCheck,
// which TiDB's cached tables use to commit inside a read lease). The
// transaction then never uses async commit or 1PC, whose commit ts is
// only known once the transaction is committed.
func WithCommitTSUpperBound(check func(commitTS uint64) bool) BeginOption {
	return func(c *beginConfig) { c.proto.upperBound = check }
}
