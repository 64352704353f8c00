package twopc

import (
	"fmt"
	"time"
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
