package txn

import (
	"errors"
	"fmt"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// LockNoWait, as LockCtx.Wait, makes LockKeys fail at once with a
// *kv.LockWaitError (kv.ErrLockAcquireFailAndNoWait) when another
// transaction's live lock is in the way (client-go's kv.LockNoWait).
const LockNoWait time.Duration = -1

// LockCtx tunes one Txn.LockKeys call of a pessimistic transaction and
// receives what it read (client-go's kv.LockCtx). The zero LockCtx waits
// for other transactions' locks as long as the call's ctx lasts and reads
// nothing. A LockCtx is used by one call at a time.
type LockCtx struct {
	// Wait bounds how long the call waits for other transactions' locks:
	// zero waits as long as ctx lasts (client-go's LockAlwaysWait),
	// LockNoWait not at all, a positive duration that long, after which
	// the call fails with a *kv.LockWaitError (kv.ErrLockWaitTimeout).
	Wait time.Duration
	// ReturnValues asks TiKV for the locked keys' values, read at the
	// lock's for-update ts, into Values: with them a read-modify-write
	// sees the latest committed value, which a read at the start ts may
	// not be once the lock was retried at a newer ts.
	ReturnValues bool
	// CheckExistence asks only whether the keys exist (Values without
	// values).
	CheckExistence bool
	// LockOnlyIfExists locks only the keys that have a value; it requires
	// ReturnValues (ErrLockOnlyIfExistsNoReturnValue), and a primary
	// already chosen when several keys are locked
	// (ErrLockOnlyIfExistsNoPrimaryKey). Keys without value are reported
	// in Values with Exists false and left unlocked.
	LockOnlyIfExists bool
	// ResourceGroupTag tags the lock requests (TiKV reports it in
	// deadlock wait chains); nil keeps the transaction's.
	ResourceGroupTag []byte
	// InShareMode locks the keys in share mode (client-go's
	// LockCtx.InShareMode; TiKV's Op_SharedPessimisticLock): other
	// transactions may lock them in share mode too, while none may lock
	// them exclusively or write them, until every holder ended. See
	// shared_lock.go for the rules: the transaction must already hold an
	// exclusive lock (its primary), and a key locked in share mode is
	// never written nor locked exclusively by the same transaction.
	InShareMode bool
	// MaxExecutionDeadline, when set, is the statement's max execution
	// deadline (client-go's LockCtx.MaxExecutionDeadline, TiDB's
	// max_execution_time): LockKeys waits for other transactions' locks
	// no later than it and, once it has passed, fails with a
	// *kv.QueryInterruptedError whose Signal is
	// kv.MaxExecTimeExceededSignal, rolling back what the call locked. A
	// Wait shorter than what is left still ends with a lock-wait timeout.
	MaxExecutionDeadline time.Time
	// Details, when set, receives what each LockKeys with this LockCtx
	// cost, added up over the calls (client-go's LockCtx.Stats).
	Details *LockKeysDetails

	// Values receives, with ReturnValues or CheckExistence, an entry per
	// key of the call, keyed by string(key); LockKeys allocates it when
	// nil.
	Values map[string]LockedValue
	// ForUpdateTS receives the for-update ts the keys were locked at (the
	// last one tried when the call failed).
	ForUpdateTS uint64

	// AtForUpdateTS, when nonzero, locks the keys at this for-update ts
	// instead of a fresh one from the TSO (client-go's caller-set
	// LockCtx.ForUpdateTS): the ts the caller's statement read at, so
	// that a write committed after it is reported rather than locked
	// past. A newer write then fails the call with a
	// *kv.WriteConflictError, which is not retried at a fresh ts (nor is
	// the one TiKV answers when a lock the call waited for is released);
	// in aggressive locking the key is locked anyway and the write
	// reported in LockedValue.LockedWithConflictTS (aggressive_locking.go).
	// It must not be below the transaction's start ts
	// (kv.ErrInvalidArgument).
	AtForUpdateTS uint64
	// MaxLockedWithConflictTS receives the largest
	// LockedValue.LockedWithConflictTS of the calls made with this
	// LockCtx (aggressive locking only); it is never lowered.
	MaxLockedWithConflictTS uint64
}

// LockedValue is what LockKeys read for a key (client-go's
// kv.ReturnedValue).
type LockedValue struct {
	// Value is the key's value (with ReturnValues), nil when it has none.
	Value []byte
	// Exists says whether the key has a value.
	Exists bool
	// AlreadyLocked says the transaction held the key's lock before the
	// call: nothing was read, and Exists is what the first lock read.
	AlreadyLocked bool
	// LockedWithConflictTS, in aggressive locking, is the commit ts of a
	// write newer than the for-update ts the key was locked over: the lock
	// was taken anyway, at that ts, and Value and Exists are read at it
	// whatever the LockCtx asked. Zero when there was no such write.
	LockedWithConflictTS uint64
}

// The misuses of LockCtx.LockOnlyIfExists (client-go's
// ErrLockOnlyIfExistsNoReturnValue and ErrLockOnlyIfExistsNoPrimaryKey).
// Both wrap kv.ErrInvalidArgument.
var (
	// ErrLockOnlyIfExistsNoReturnValue: LockOnlyIfExists without
	// ReturnValues (TiKV refuses it too, LockIfExistsFailed).
	ErrLockOnlyIfExistsNoReturnValue = fmt.Errorf("txn: lock only if exists needs return values: %w", kv.ErrInvalidArgument)
	// ErrLockOnlyIfExistsNoPrimaryKey: LockOnlyIfExists of several keys
	// before the transaction has a primary: the primary is the first key
	// locked, and a key that does not exist may not become it.
	ErrLockOnlyIfExistsNoPrimaryKey = fmt.Errorf("txn: lock only if exists of several keys needs a primary already locked: %w", kv.ErrInvalidArgument)
)

// isLockConflict reports the failures of a lock request that locked none
// of its keys when it had only one: nothing to roll back (client-go skips
// the pessimistic rollback for them).
func isLockConflict(err error) bool {
	return errors.Is(err, kv.ErrWriteConflict) || errors.Is(err, kv.ErrKeyExists)
}

// LockKeysDetails is what LockKeys calls cost (client-go's
// util.LockKeysDetails), added up over the calls of one LockCtx.
type LockKeysDetails struct {
	// TotalTime is the time spent in LockKeys' lock requests, retries
	// included.
	TotalTime time.Duration
	// Regions counts the region pieces the lock requests were split into.
	Regions int
	// Keys counts the keys locked.
	Keys int
	// LockRPCs and LockRPCTime count the KvPessimisticLock attempts and the
	// time spent in them, waits in TiKV included.
	LockRPCs    int
	LockRPCTime time.Duration
	// ResolveLockTime is the time spent resolving the locks met.
	ResolveLockTime time.Duration
	// Retries counts the times a call locked again at a newer for-update
	// ts after a write conflict.
	Retries int
}

// add adds one lock call's stats, which took total.
func (d *LockKeysDetails) add(s *twopc.LockStats, total time.Duration) {
	d.TotalTime += total
	d.Regions += int(s.Regions.Load())
	d.LockRPCs += int(s.RPCs.Load())
	d.LockRPCTime += time.Duration(s.RPCTime.Load())
	d.ResolveLockTime += time.Duration(s.ResolveTime.Load())
}
