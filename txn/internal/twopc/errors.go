package twopc

import (
	"errors"
	"fmt"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
)

// MaxTxnTimeUse is how long a transaction may live from its start ts to
// its commit ts (client-go's MaxTxnTimeUse, 24 h): older transactions are
// refused before their commit, since their locks' TTL and the GC safe point
// no longer protect what they read.
const MaxTxnTimeUse = 24 * time.Hour

// TxnTooOldError says a transaction reached its commit more than
// MaxTxnTimeUse after its start; it is rolled back, not committed.
type TxnTooOldError struct {
	StartTS, CommitTS uint64
	Age               time.Duration
}

// Error names what happened, on one line.
func (e *TxnTooOldError) Error() string {
	return fmt.Sprintf("twopc: txn %d is %v old at commit ts %d, over %v", e.StartTS, e.Age, e.CommitTS, MaxTxnTimeUse)
}

// PrewriteError is the failure of a transaction's prewrite. The primary
// was never committed, so the transaction did not commit, whatever became
// of single prewrite RPCs (their locks are rolled back): errors.Is(err,
// kv.ErrUndetermined) is false for it. It is retryable (kv.ErrTxnRetryable)
// when the failure that stopped the prewrite is (a write conflict, a
// latch) or when that failure left a prewrite RPC's outcome unknown (the
// transaction can simply run again). Other errors.Is and errors.As checks
// look into that failure.
type PrewriteError struct {
	StartTS uint64
	// Cause is the prewrite's error as the plan returned it (a
	// *pipeline.ShardError for a prewrite of several batches).
	Cause error
}

// Error names what happened, on one line.
func (e *PrewriteError) Error() string {
	return fmt.Sprintf("twopc: prewrite of txn %d: %v", e.StartTS, e.Cause)
}

// decisive is the failure that stopped the prewrite: the first to fail of
// a multi-batch prewrite, else Cause.
func (e *PrewriteError) decisive() error {
	var se *pipeline.ShardError[*prewriteReq, *kvrpcpb.PrewriteResponse]
	if errors.As(e.Cause, &se) {
		return se.First()
	}
	return e.Cause
}

// Is implements the rules in the type's doc. PrewriteError has no Unwrap,
// so that errors.Is cannot find kv.ErrUndetermined deeper in Cause.
func (e *PrewriteError) Is(target error) bool {
	d := e.decisive()
	switch target {
	case kv.ErrUndetermined:
		return false
	case kv.ErrTxnRetryable:
		return errors.Is(d, kv.ErrTxnRetryable) || errors.Is(d, kv.ErrUndetermined)
	}
	return errors.Is(d, target)
}

// As looks into the decisive failure.
func (e *PrewriteError) As(target any) bool { return errors.As(e.decisive(), target) }
