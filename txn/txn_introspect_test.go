package txn_test

import (
	"context"
	"testing"
	"time"

	"github.com/tikvgo/tikv/txn"
)

// TestTxnProtocolIntrospection covers the rest of client-go's KVTxn
// introspection (txn-A5): IsCasualConsistency, GetCommitWaitUntilTSO and
// GetCommitWaitUntilTSOTimeout. A transaction reports its own protocol
// choice, or the client's default when it made none; the commit-wait
// timeout reads as the 1 s default when none was given.
func TestTxnProtocolIntrospection(t *testing.T) {
	c := connectInProcess(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		clientOpts []txn.Option
		beginOpts  []txn.BeginOption
		causal     bool
		waitTS     uint64
		waitFor    time.Duration
	}{
		{"defaults", nil, nil, false, 0, time.Second},
		{"client default causal", []txn.Option{txn.WithCommitOptions(txn.CommitOptions{CausalConsistency: true})}, nil, true, 0, time.Second},
		{"txn overrides client", []txn.Option{txn.WithCommitOptions(txn.CommitOptions{CausalConsistency: true})},
			[]txn.BeginOption{txn.WithCausalConsistency(false)}, false, 0, time.Second},
		{"txn causal", nil, []txn.BeginOption{txn.WithCausalConsistency(true)}, true, 0, time.Second},
		{"commit wait", nil, []txn.BeginOption{txn.WithCommitWaitUntilTSO(42, 3*time.Second)}, false, 42, 3 * time.Second},
		{"commit wait, default timeout", nil, []txn.BeginOption{txn.WithCommitWaitUntilTSO(42, 0)}, false, 42, time.Second},
		{"commit wait, no wait", nil, []txn.BeginOption{txn.WithCommitWaitUntilTSO(42, -1)}, false, 42, -1},
	} {
		client := txn.NewClient(c.cluster, tc.clientOpts...)
		tx, err := client.Begin(ctx, tc.beginOpts...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := tx.IsCausalConsistency(); got != tc.causal {
			t.Errorf("%s: IsCausalConsistency = %v, want %v", tc.name, got, tc.causal)
		}
		if ts, d := tx.CommitWaitUntilTSO(); ts != tc.waitTS || d != tc.waitFor {
			t.Errorf("%s: CommitWaitUntilTSO = %d, %v; want %d, %v", tc.name, ts, d, tc.waitTS, tc.waitFor)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if err := client.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
