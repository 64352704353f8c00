package kv

import (
	"errors"
	"fmt"
)

// ErrTxnAbortedByGC marks a read at a timestamp that garbage collection
// may already have passed: the versions the read needs may be gone, so its
// answer cannot be trusted (client-go's tikverr.ErrTxnAbortedByGC). A new
// transaction, with a fresh start ts, is the only way on.
var ErrTxnAbortedByGC = errors.New("tikv: transaction aborted by GC")

// TxnAbortedByGCError says a read at StartTS came after the cluster's txn
// safe point, SafePoint, had moved past it: TiKV may have collected the
// versions visible at StartTS (PD's GC states; client-go's
// KVStore.CheckVisibility). It wraps ErrTxnAbortedByGC.
type TxnAbortedByGCError struct {
	StartTS   uint64
	SafePoint uint64
}

// Error names the read ts and the safe point, on one line.
func (e *TxnAbortedByGCError) Error() string {
	return fmt.Sprintf("tikv: read at ts %d is below the txn safe point %d: transaction aborted by GC", e.StartTS, e.SafePoint)
}

// Unwrap returns ErrTxnAbortedByGC.
func (e *TxnAbortedByGCError) Unwrap() error { return ErrTxnAbortedByGC }
