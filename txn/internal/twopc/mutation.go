package twopc

import (
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Mutation is one key's change, as the transaction's buffer holds it at
// commit (client-go's PlainMutation). Keys are user keys; the committer
// neither copies nor modifies Key and Value, which must stay unchanged until
// Commit returns (the background commit of secondaries keeps only keys).
type Mutation struct {
	// Key is the user key.
	Key []byte
	// Value is the new value of a Put or Insert; nil otherwise.
	Value []byte
	// Op is what the mutation does: kvrpcpb.Op_Put, Op_Del, Op_Lock (lock
	// the key, write nothing), Op_Insert (put, failing with
	// *kv.AlreadyExistError when the key has a value), Op_CheckNotExists
	// (fail when the key has a value; write nothing, commit nothing) or
	// Op_SharedLock (a key the pessimistic transaction locked in share
	// mode, with Pessimistic set; never the primary: shared_lock.go).
	Op kvrpcpb.Op
	// Assertion asks TiKV to check the key's existence at prewrite
	// (kvrpcpb.Assertion_Exist / Assertion_NotExist); zero asserts nothing.
	// TiKV checks it only under a request's assertion level, which
	// Request.AssertionLevel sets.
	Assertion kvrpcpb.Assertion
	// Pessimistic marks a key the pessimistic transaction locked: TiKV
	// checks at prewrite that its pessimistic lock is still there
	// (PrewriteRequest_DO_PESSIMISTIC_CHECK) instead of looking for write
	// conflicts. Only with Request.ForUpdateTS.
	Pessimistic bool
	// ConstraintCheck marks a key of a pessimistic transaction that was
	// not locked and whose existence check was postponed to prewrite:
	// TiKV checks it for write conflicts and, for an Op_Insert, that it has
	// no value (PrewriteRequest_DO_CONSTRAINT_CHECK; client-go's
	// prewrite.go). Ignored when Pessimistic is set, whose check wins, and
	// without Request.ForUpdateTS.
	ConstraintCheck bool
	// ExpectedForUpdateTS, set on a Pessimistic mutation, is the
	// for_update_ts its lock must have at prewrite, else TiKV fails the
	// prewrite with PessimisticLockNotFound (PrewriteRequest's
	// for_update_ts_constraints, TiKV's LockForUpdateTsMismatch). A key
	// locked in force-lock mode sets it: such a lock request succeeds over
	// newer writes, so a stale copy of it replayed after the lock was lost
	// would bring the lock back at another for_update_ts, hiding the
	// conflict with the write made meanwhile (client-go's
	// forUpdateTSConstraints).
	ExpectedForUpdateTS uint64
}

// size is what the mutation weighs in a prewrite batch and in the
// transaction's size: key and value bytes (client-go's keyValueSize).
func (m *Mutation) size() int { return len(m.Key) + len(m.Value) }

// committed says whether the mutation leaves a lock to commit or roll
// back: a CheckNotExists is checked at prewrite and writes nothing
// (client-go strips these "prewrite only" keys before the commit).
func (m *Mutation) committed() bool { return m.Op != kvrpcpb.Op_CheckNotExists }

// pickPrimary returns the index of the primary among muts: the first
// mutation that writes a lock of its own (client-go's
// initKeysAndMutations skips CheckNotExists and SharedLock keys), else the
// first.
func pickPrimary(muts []Mutation) int {
	for i := range muts {
		if muts[i].committed() && muts[i].Op != kvrpcpb.Op_SharedLock {
			return i
		}
	}
	return 0
}
