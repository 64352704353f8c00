package txn

import (
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/txn/membuf"
)

// Shared locks (LockCtx.InShareMode; client-go's D7 feature, TiKV's
// SharedLocks). A pessimistic transaction locks a key in share mode to
// keep it from changing while it reads it, without keeping other readers
// that lock it the same way out: TiKV lets any number of transactions hold
// a key's shared lock, and blocks an exclusive lock (or a write) until the
// last holder ended; once an exclusive request waits, new shared requests
// queue behind it. The rules, client-go's:
//
//   - only a pessimistic transaction locks in share mode
//     (ErrSharedLockOptimistic; client-go silently locks exclusively
//     instead), and not a pipelined one (*PipelinedUnsupportedError);
//   - a shared-locked key is never the primary, which holds the
//     transaction's status: the transaction must first lock a key
//     exclusively (ErrSharedLockNoPrimary);
//   - a key locked in share mode stays so: locking it exclusively, or
//     writing it, is refused (ErrSharedLockUpgrade) — TiKV has no upgrade
//     and refuses to prewrite a write over a shared lock;
//   - a transaction holding a shared lock commits with two-phase commit,
//     never async commit or 1PC (TiKV refuses both for a shared lock);
//   - at commit, a key locked in share mode is prewritten as
//     Op_SharedLock, which commits no value.
//
// Readers ignore shared locks (TiKV's check_ts_conflict skips them). A
// lock request, prewrite or resolver that meets one sees its holders'
// locks, each resolved on its own (plans.LocksFromInfo).

// The misuses of LockCtx.InShareMode. Each wraps kv.ErrInvalidArgument;
// nothing was sent and the transaction stays usable.
var (
	// ErrSharedLockOptimistic: an optimistic transaction locks keys only
	// at commit, where there is no share mode.
	ErrSharedLockOptimistic = fmt.Errorf("txn: locking in share mode needs a pessimistic transaction: %w", kv.ErrInvalidArgument)
	// ErrSharedLockNoPrimary: the transaction holds no exclusive lock yet.
	// Its first key locked becomes its primary, and a shared-locked key
	// cannot be one (client-go: "pessimistic lock in share mode requires
	// primary key to be selected").
	ErrSharedLockNoPrimary = fmt.Errorf("txn: locking in share mode needs a key locked exclusively first, to be the primary: %w", kv.ErrInvalidArgument)
	// ErrSharedLockUpgrade: the key is locked in share mode by this
	// transaction, which then asked to lock it exclusively (client-go:
	// "upgrading a shared lock to an exclusive lock is not supported") or
	// wrote it (refused at Commit, before any prewrite).
	ErrSharedLockUpgrade = fmt.Errorf("txn: a key locked in share mode cannot be locked exclusively or written: %w", kv.ErrInvalidArgument)
	// ErrSharedLockAggressive: share mode inside aggressive locking, whose
	// force-lock mode has no shared form (client-go: "shared lock is not
	// supported in aggressive/fair locking mode"). The stage stays as it
	// was.
	ErrSharedLockAggressive = fmt.Errorf("txn: locking in share mode is not supported in aggressive locking: %w", kv.ErrInvalidArgument)
)

// checkLockMode refuses, before anything is sent, a share-mode LockKeys
// of an optimistic transaction, and an exclusive one of a key the
// transaction locked in share mode (client-go's lockKeys).
func (t *Txn) checkLockMode(lc *LockCtx, keys [][]byte) error {
	shared := lc != nil && lc.InShareMode
	if shared && !t.pess.on {
		return ErrSharedLockOptimistic
	}
	if shared && t.IsInAggressiveLockingMode() {
		return ErrSharedLockAggressive
	}
	if shared {
		return nil
	}
	for _, k := range keys {
		if f, ok := t.buf.GetFlags(k); ok && f.HasLocked() && f.HasLockedInShareMode() {
			return fmt.Errorf("%w (key %q)", ErrSharedLockUpgrade, k)
		}
	}
	return nil
}

// lockModeOp is the flag op that records how a key was locked (client-go
// applies SetKeyLockedInShareMode or SetKeyLockedInExclusiveMode with
// every lock it records).
func lockModeOp(lc *LockCtx) membuf.FlagsOp {
	if lc.InShareMode {
		return membuf.SetKeyLockedInShareMode
	}
	return membuf.SetKeyLockedInExclusiveMode
}

// lockedOnlyOp is the prewrite op of a key the transaction locked and did
// not write (client-go's getLockTypeFromFlags).
func lockedOnlyOp(f membuf.Flags) kvrpcpb.Op {
	if f.HasLockedInShareMode() {
		return kvrpcpb.Op_SharedLock
	}
	return kvrpcpb.Op_Lock
}

// checkSharedWrite refuses the write of a key locked in share mode: TiKV
// answers its prewrite with "use Op::SharedLock to prewrite on a shared
// lock", and the other holders of the lock expect the key not to change.
func checkSharedWrite(e membuf.Entry) error {
	if e.Kind != membuf.KindNone && e.Flags.HasLocked() && e.Flags.HasLockedInShareMode() {
		return fmt.Errorf("%w (key %q written)", ErrSharedLockUpgrade, e.Key)
	}
	return nil
}
