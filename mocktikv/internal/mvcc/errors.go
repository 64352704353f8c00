package mvcc

import (
	"fmt"
	"strings"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// KeyError construction follows TiKV's extract_key_error
// (src/storage/errors.rs). The abort and retryable strings imitate the Rust
// Debug rendering TiKV sends; clients must not parse them.

// rustBytes renders a key as Rust's Debug of Vec<u8>: [107, 49].
func rustBytes(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprint(c)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// mvccDebug wraps an mvcc-layer error as TiKV's storage error Debug does.
func mvccDebug(inner string) string {
	return "Error(Txn(Error(Mvcc(Error(" + inner + ")))))"
}

// txnDebug wraps a txn-layer error.
func txnDebug(inner string) string {
	return "Error(Txn(Error(" + inner + ")))"
}

func abort(msg string) *kvrpcpb.KeyError { return &kvrpcpb.KeyError{Abort: msg} }

func errLocked(l *Lock, key []byte) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{Locked: l.Info(key)}
}

// errWriteConflict sets conflict and, as TiKV does, retryable.
func errWriteConflict(startTS, conflictStartTS, conflictCommitTS uint64, key, primary []byte, reason kvrpcpb.WriteConflict_Reason) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{
		Conflict: &kvrpcpb.WriteConflict{
			StartTs: startTS, ConflictTs: conflictStartTS, ConflictCommitTs: conflictCommitTS,
			Key: append([]byte{}, key...), Primary: append([]byte{}, primary...), Reason: reason,
		},
		Retryable: mvccDebug(fmt.Sprintf("WriteConflict { start_ts: TimeStamp(%d), conflict_start_ts: TimeStamp(%d), conflict_commit_ts: TimeStamp(%d), key: %s, primary: %s, reason: %s }",
			startTS, conflictStartTS, conflictCommitTS, rustBytes(key), rustBytes(primary), reason)),
	}
}

func errAlreadyExist(key []byte) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{AlreadyExist: &kvrpcpb.AlreadyExist{Key: append([]byte{}, key...)}}
}

func errTxnNotFound(startTS uint64, primary []byte) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{TxnNotFound: &kvrpcpb.TxnNotFound{StartTs: startTS, PrimaryKey: append([]byte{}, primary...)}}
}

// errTxnLockNotFound sets retryable and txn_lock_not_found.
func errTxnLockNotFound(startTS, commitTS uint64, key []byte) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{
		Retryable: mvccDebug(fmt.Sprintf("TxnLockNotFound { start_ts: TimeStamp(%d), commit_ts: TimeStamp(%d), key: %s }",
			startTS, commitTS, rustBytes(key))),
		TxnLockNotFound: &kvrpcpb.TxnLockNotFound{Key: append([]byte{}, key...)},
	}
}

func errCommitTSExpired(startTS, commitTS, minCommitTS uint64, key []byte) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{CommitTsExpired: &kvrpcpb.CommitTsExpired{
		StartTs: startTS, AttemptedCommitTs: commitTS, Key: append([]byte{}, key...), MinCommitTs: minCommitTS,
	}}
}

func errAssertionFailed(startTS uint64, key []byte, a kvrpcpb.Assertion, existingStart, existingCommit uint64) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{AssertionFailed: &kvrpcpb.AssertionFailed{
		StartTs: startTS, Key: append([]byte{}, key...), Assertion: a,
		ExistingStartTs: existingStart, ExistingCommitTs: existingCommit,
	}}
}

func errPrimaryMismatch(l *Lock, key []byte) *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{PrimaryMismatch: &kvrpcpb.PrimaryMismatch{LockInfo: l.Info(key)}}
}

// errPessimisticLockNotFound is fatal for prewrite; it reaches the client
// only as abort.
func errPessimisticLockNotFound(startTS uint64, key []byte, reason string) *kvrpcpb.KeyError {
	return abort(mvccDebug(fmt.Sprintf("PessimisticLockNotFound { start_ts: TimeStamp(%d), key: %s, reason: %s }", startTS, rustBytes(key), reason)))
}

func errPessimisticLockRolledBack(startTS uint64, key []byte) *kvrpcpb.KeyError {
	return abort(mvccDebug(fmt.Sprintf("PessimisticLockRolledBack { start_ts: TimeStamp(%d), key: %s }", startTS, rustBytes(key))))
}

func errLockTypeNotMatch(startTS uint64, key []byte, pessimistic bool) *kvrpcpb.KeyError {
	return abort(mvccDebug(fmt.Sprintf("LockTypeNotMatch { start_ts: TimeStamp(%d), key: %s, pessimistic: %t }", startTS, rustBytes(key), pessimistic)))
}

func errCommitted(startTS, commitTS uint64, key []byte) *kvrpcpb.KeyError {
	return abort(mvccDebug(fmt.Sprintf("Committed { start_ts: TimeStamp(%d), commit_ts: TimeStamp(%d), key: %s }", startTS, commitTS, rustBytes(key))))
}

func errInvalidTxnTSO(startTS, commitTS uint64) *kvrpcpb.KeyError {
	return abort(txnDebug(fmt.Sprintf("InvalidTxnTso { start_ts: TimeStamp(%d), commit_ts: TimeStamp(%d) }", startTS, commitTS)))
}

func errKeyTooLarge(size int) *kvrpcpb.KeyError {
	return abort(mvccDebug(fmt.Sprintf("KeyTooLarge { size: %d, limit: %d }", size, maxKeySize)))
}

// errOther is TiKV's catch-all Other error, used for requests TiKV would
// reject with a panic or an assertion (a mock must not crash).
func errOther(msg string) *kvrpcpb.KeyError {
	return abort(fmt.Sprintf("Error(Txn(Error(Other(%q))))", msg))
}

// checkKeySize is check_key_size! on the encoded key.
func checkKeySize(key []byte) *kvrpcpb.KeyError {
	if n := (len(key)/8 + 1) * 9; n > maxKeySize {
		return errKeyTooLarge(n)
	}
	return nil
}
