package twopc

import (
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
)

// Shared locks (client-go's InShareMode; TiKV's SharedLocks). A
// pessimistic transaction may lock a key in share mode
// (LockRequest.Shared: Op_SharedPessimisticLock), which other
// transactions may hold at the same time while no one holds it
// exclusively. Such a key is prewritten as Op_SharedLock (with
// DO_PESSIMISTIC_CHECK) and committed or rolled back with the rest, but:
//   - it is never the primary: TiKV keeps a transaction's status on its
//     primary's lock, and a shared lock is a container of several
//     transactions' locks, so the primary must be a key locked exclusively
//     (TiKV answers PrimaryMismatch for a status check or heartbeat on a
//     shared-locked key);
//   - the transaction commits with two-phase commit: TiKV refuses async
//     commit and 1PC for a shared lock's prewrite (actions/prewrite.rs
//     write_lock), and client-go turns both off for a transaction holding
//     one (checkAsyncCommit, checkOnePC).

// lockOp is the mutation op of a pessimistic lock request.
func lockOp(shared bool) kvrpcpb.Op {
	if shared {
		return kvrpcpb.Op_SharedPessimisticLock
	}
	return kvrpcpb.Op_PessimisticLock
}

// hasSharedLock reports whether a transaction's mutations prewrite a
// shared lock.
func hasSharedLock(muts []*kvrpcpb.Mutation) bool {
	for _, m := range muts {
		if m.Op == kvrpcpb.Op_SharedLock {
			return true
		}
	}
	return false
}

// ErrSharedLockPrimary is what Commit fails with, before sending
// anything, when a transaction's primary would be a key it locked in share
// mode: Request.Primary names an Op_SharedLock mutation, or no Primary is
// given and every mutation that leaves a lock is an Op_SharedLock
// (client-go's initKeysAndMutations: "shared lock key cannot be used as
// transaction primary key"). It wraps kv.ErrInvalidArgument.
var ErrSharedLockPrimary = fmt.Errorf("twopc: a key locked in share mode cannot be the primary: %w", kv.ErrInvalidArgument)

// checkSharedPrimary refuses a primary that prewrites a shared lock.
func checkSharedPrimary(req Request, primary []byte) error {
	for i := range req.Mutations {
		m := &req.Mutations[i]
		if m.Op == kvrpcpb.Op_SharedLock && string(m.Key) == string(primary) {
			return fmt.Errorf("%w (txn %d, key %q)", ErrSharedLockPrimary, req.StartTS, primary)
		}
	}
	return nil
}
