package membuf

// Flags is the per-key metadata a transaction keeps next to a buffered write.
// It is client-go's kv.KeyFlags reduced to what a transactional client needs
// without TiDB above it; bit values are our own and never leave the process.
//
// A key may carry flags without a value (a "flags-only" key, e.g. a key that
// was locked by a pessimistic lock but never written). Such a key counts in
// Len and Size (its key bytes) like any other entry but Get reports it as
// KindNone.
//
// Flags are not rolled back by Cleanup or RevertToCheckpoint, as in
// client-go's memdb: only when a key's value is reverted to "none" are its
// non-persistent flags dropped (and the key with them, if no persistent flag
// remains). See Persistent.
type Flags uint16

// The flag bits. Dropped from client-go's list, because only TiDB uses them:
// NeedLocked (lazy lock acquisition of TiDB's executor), Readable (TiDB's
// in-transaction index reads) and PreviousPresumeKNE (TiDB's statement-retry
// bookkeeping for lazy uniqueness checks).
const (
	// FlagPresumeKeyNotExists: the writer presumes the key does not exist
	// and has not checked (a lazily checked insert). client-go's committer
	// (txnkv/transaction/2pc.go initKeysAndMutations) sends such a key's
	// value as Op_Insert (TiKV answers AlreadyExist if it exists), and, in
	// an optimistic transaction, such a key's tombstone as Op_CheckNotExists
	// (which writes no lock, so the key is also marked FlagPrewriteOnly).
	FlagPresumeKeyNotExists Flags = 1 << iota
	// FlagKeyLocked: the key holds this transaction's pessimistic lock; a
	// flags-only key with it is prewritten as Op_Lock. Persistent.
	FlagKeyLocked
	// FlagKeyLockedValueExists: when the pessimistic lock was taken TiKV
	// reported that the key has a value (the lock's existence check).
	// Persistent. client-go only records it; the transaction reads it.
	FlagKeyLockedValueExists
	// FlagNeedCheckExists: the existence of the key must still be checked
	// when it is locked (set together with FlagPresumeKeyNotExists; the
	// pessimistic lock request then asks TiKV to check).
	FlagNeedCheckExists
	// FlagPrewriteOnly: the key is prewritten but left out of the commit
	// phase (client-go 2pc.go: keys sent as Op_CheckNotExists, which leave
	// no lock to commit).
	FlagPrewriteOnly
	// FlagIgnoredIn2PC: the key's value is not to be sent to TiKV. client-go
	// stores it for TiDB and its committer does not read it; ours drops
	// such keys without deleting them from the buffer, but prewrites a
	// locked one as Op_Lock (client-go's KV filter rule), so that its lock
	// is released by the commit.
	FlagIgnoredIn2PC
	// FlagNewlyInserted: the key's value was written by an insert of a key
	// that did not exist. client-go's committer skips the tombstone of such
	// a key (insert then delete: nothing to write) unless the key is locked,
	// in which case it sends Op_Lock.
	FlagNewlyInserted
	// FlagAssertExist and FlagAssertNotExist are the two assertion bits:
	// neither set = no assertion yet; one set = assert in prewrite that the
	// key exists (does not exist) (kvrpcpb.Mutation.assertion); both =
	// unknown, no assertion may be made.
	FlagAssertExist
	// FlagAssertNotExist: see FlagAssertExist.
	FlagAssertNotExist
	// FlagNeedConstraintCheckInPrewrite: a pessimistic transaction
	// postponed the key's existence check to prewrite (client-go
	// prewrite.go sends the key with PrewriteRequest_DO_CONSTRAINT_CHECK).
	// Persistent. A value
	// write clears it, as client-go's memdb does: the new value supersedes
	// the postponed check.
	FlagNeedConstraintCheckInPrewrite
	// FlagKeyLockedInShareMode: the pessimistic lock FlagKeyLocked records
	// is a shared one (Op_SharedPessimisticLock; client-go's
	// flagKeyLockedInShareMode): other transactions may hold it too, so
	// the key is prewritten as Op_SharedLock and never written. Meaningful
	// only with FlagKeyLocked. Persistent.
	FlagKeyLockedInShareMode

	// persistentFlags survive the revert of the key's value to "none":
	// they describe a lock TiKV holds, which a statement rollback cannot
	// take back (client-go kv/keyflags.go persistentFlags).
	persistentFlags = FlagKeyLocked | FlagKeyLockedValueExists | FlagNeedConstraintCheckInPrewrite | FlagKeyLockedInShareMode
)

// Persistent returns the flags that survive a rollback of the key's value.
func (f Flags) Persistent() Flags { return f & persistentFlags }

// HasPresumeKeyNotExists reports FlagPresumeKeyNotExists.
func (f Flags) HasPresumeKeyNotExists() bool { return f&FlagPresumeKeyNotExists != 0 }

// HasLocked reports FlagKeyLocked.
func (f Flags) HasLocked() bool { return f&FlagKeyLocked != 0 }

// HasLockedValueExists reports FlagKeyLockedValueExists.
func (f Flags) HasLockedValueExists() bool { return f&FlagKeyLockedValueExists != 0 }

// HasNeedCheckExists reports FlagNeedCheckExists.
func (f Flags) HasNeedCheckExists() bool { return f&FlagNeedCheckExists != 0 }

// HasPrewriteOnly reports FlagPrewriteOnly.
func (f Flags) HasPrewriteOnly() bool { return f&FlagPrewriteOnly != 0 }

// HasIgnoredIn2PC reports FlagIgnoredIn2PC.
func (f Flags) HasIgnoredIn2PC() bool { return f&FlagIgnoredIn2PC != 0 }

// HasNewlyInserted reports FlagNewlyInserted.
func (f Flags) HasNewlyInserted() bool { return f&FlagNewlyInserted != 0 }

// HasLockedInShareMode reports FlagKeyLockedInShareMode: the key's
// pessimistic lock is shared.
func (f Flags) HasLockedInShareMode() bool { return f&FlagKeyLockedInShareMode != 0 }

// HasNeedConstraintCheckInPrewrite reports FlagNeedConstraintCheckInPrewrite.
func (f Flags) HasNeedConstraintCheckInPrewrite() bool {
	return f&FlagNeedConstraintCheckInPrewrite != 0
}

// HasAssertExist reports an "exists" assertion (exactly FlagAssertExist).
func (f Flags) HasAssertExist() bool {
	return f&FlagAssertExist != 0 && f&FlagAssertNotExist == 0
}

// HasAssertNotExist reports a "does not exist" assertion.
func (f Flags) HasAssertNotExist() bool {
	return f&FlagAssertNotExist != 0 && f&FlagAssertExist == 0
}

// HasAssertUnknown reports that no assertion can be made (both bits).
func (f Flags) HasAssertUnknown() bool {
	return f&FlagAssertExist != 0 && f&FlagAssertNotExist != 0
}

// HasAssertionFlags reports whether any assertion bit is set.
func (f Flags) HasAssertionFlags() bool { return f&(FlagAssertExist|FlagAssertNotExist) != 0 }

// FlagsOp is one change to a key's Flags, applied by SetWithFlags,
// DeleteWithFlags and UpdateFlags. Some ops touch more than one bit, as in
// client-go's kv.ApplyFlagsOps.
type FlagsOp uint8

// The flag operations.
const (
	// SetPresumeKeyNotExists sets FlagPresumeKeyNotExists and FlagNeedCheckExists.
	SetPresumeKeyNotExists FlagsOp = iota + 1
	// DelPresumeKeyNotExists clears both bits set by SetPresumeKeyNotExists.
	DelPresumeKeyNotExists
	// SetKeyLocked sets FlagKeyLocked.
	SetKeyLocked
	// DelKeyLocked clears FlagKeyLocked.
	DelKeyLocked
	// SetKeyLockedValueExists sets FlagKeyLockedValueExists and clears
	// FlagNeedConstraintCheckInPrewrite: the lock already checked existence.
	SetKeyLockedValueExists
	// SetKeyLockedValueNotExists clears FlagKeyLockedValueExists and
	// FlagNeedConstraintCheckInPrewrite.
	SetKeyLockedValueNotExists
	// DelNeedCheckExists clears FlagNeedCheckExists.
	DelNeedCheckExists
	// SetPrewriteOnly sets FlagPrewriteOnly.
	SetPrewriteOnly
	// SetIgnoredIn2PC sets FlagIgnoredIn2PC.
	SetIgnoredIn2PC
	// SetNewlyInserted sets FlagNewlyInserted.
	SetNewlyInserted
	// SetAssertExist asserts the key exists (clears the other bit).
	SetAssertExist
	// SetAssertNotExist asserts the key does not exist (clears the other bit).
	SetAssertNotExist
	// SetAssertUnknown sets both assertion bits.
	SetAssertUnknown
	// SetAssertNone clears both assertion bits.
	SetAssertNone
	// SetNeedConstraintCheckInPrewrite sets FlagNeedConstraintCheckInPrewrite.
	SetNeedConstraintCheckInPrewrite
	// DelNeedConstraintCheckInPrewrite clears FlagNeedConstraintCheckInPrewrite.
	DelNeedConstraintCheckInPrewrite
	// SetKeyLockedInShareMode sets FlagKeyLockedInShareMode.
	SetKeyLockedInShareMode
	// SetKeyLockedInExclusiveMode clears FlagKeyLockedInShareMode (client-go
	// applies one of the two with every lock it records).
	SetKeyLockedInExclusiveMode

	flagsOpEnd // one past the last op; used by tests
)

// ApplyFlagsOps returns origin changed by ops, in order.
func ApplyFlagsOps(origin Flags, ops ...FlagsOp) Flags {
	for _, op := range ops {
		origin = applyFlagsOp(origin, op)
	}
	return origin
}

func applyFlagsOp(f Flags, op FlagsOp) Flags {
	switch op {
	case SetPresumeKeyNotExists:
		return f | FlagPresumeKeyNotExists | FlagNeedCheckExists
	case DelPresumeKeyNotExists:
		return f &^ (FlagPresumeKeyNotExists | FlagNeedCheckExists)
	case SetKeyLocked:
		return f | FlagKeyLocked
	case DelKeyLocked:
		return f &^ FlagKeyLocked
	case SetKeyLockedValueExists:
		return (f | FlagKeyLockedValueExists) &^ FlagNeedConstraintCheckInPrewrite
	case SetKeyLockedValueNotExists:
		return f &^ (FlagKeyLockedValueExists | FlagNeedConstraintCheckInPrewrite)
	case DelNeedCheckExists:
		return f &^ FlagNeedCheckExists
	case SetPrewriteOnly:
		return f | FlagPrewriteOnly
	case SetIgnoredIn2PC:
		return f | FlagIgnoredIn2PC
	case SetNewlyInserted:
		return f | FlagNewlyInserted
	case SetAssertExist:
		return (f | FlagAssertExist) &^ FlagAssertNotExist
	case SetAssertNotExist:
		return (f | FlagAssertNotExist) &^ FlagAssertExist
	case SetAssertUnknown:
		return f | FlagAssertExist | FlagAssertNotExist
	case SetAssertNone:
		return f &^ (FlagAssertExist | FlagAssertNotExist)
	case SetNeedConstraintCheckInPrewrite:
		return f | FlagNeedConstraintCheckInPrewrite
	case DelNeedConstraintCheckInPrewrite:
		return f &^ FlagNeedConstraintCheckInPrewrite
	case SetKeyLockedInShareMode:
		return f | FlagKeyLockedInShareMode
	case SetKeyLockedInExclusiveMode:
		return f &^ FlagKeyLockedInShareMode
	}
	return f
}
