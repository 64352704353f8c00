package txn

import (
	"time"

	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// IsCausalConsistency reports whether the transaction commits with causal
// consistency only (client-go's KVTxn.IsCasualConsistency): its
// WithCausalConsistency choice, else the client's
// CommitOptions.CausalConsistency.
func (t *Txn) IsCausalConsistency() bool {
	switch t.proto.causal {
	case twopc.SwitchOn:
		return true
	case twopc.SwitchOff:
		return false
	}
	return t.client.cfg.commitOpts.CausalConsistency
}

// CommitWaitUntilTSO returns WithCommitWaitUntilTSO's target ts (0 when
// the transaction has none) and how long the commit waits for the TSO to
// pass it (client-go's GetCommitWaitUntilTSO and
// GetCommitWaitUntilTSOTimeout): a zero timeout given to the option reads
// as the 1 s default it stands for; a negative one means no wait.
func (t *Txn) CommitWaitUntilTSO() (ts uint64, timeout time.Duration) {
	timeout = t.proto.waitTimeout
	if timeout == 0 {
		timeout = twopc.DefaultCommitWaitTimeout
	}
	return t.proto.waitUntil, timeout
}
