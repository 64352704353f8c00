package txn_test

import (
	"context"
	"testing"

	"github.com/tikvgo/tikv/txn"
)

// TestCommitRecorderCountsRetries: the commits made through a context with
// a CommitRecorder record into it, and Update's re-run after a write
// conflict counts as a retry (client-go's CommitDetails.TxnRetry, bumped by
// a second commit with the same context).
func TestCommitRecorderCountsRetries(t *testing.T) {
	p := newPortCluster(t, false, nil)
	p.commit("k", "0")
	var rec txn.CommitRecorder
	ctx := txn.WithCommitRecorder(context.Background(), &rec)
	runs := 0
	err := p.client.Update(ctx, func(ctx context.Context, tx *txn.Txn) error {
		if _, err := tx.Get(ctx, []byte("k")); err != nil {
			return err
		}
		if runs == 0 {
			p.commit("k", "other") // a newer write: this run's commit conflicts
		}
		runs++
		return tx.Set([]byte("k"), []byte("mine"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 || rec.Commits() != 2 || rec.Retries() != 1 {
		t.Fatalf("runs %d, commits %d, retries %d; want 2, 2, 1", runs, rec.Commits(), rec.Retries())
	}
	if d := rec.Last(); d.CommitTS == 0 || string(d.Primary) != "k" {
		t.Fatalf("last details %+v, want the committed run's", d)
	}
	p.mustGet("k", "mine")

	// A read-only commit sends nothing and records nothing.
	tx := p.begin()
	if err := tx.Commit(ctx); err != nil || rec.Commits() != 2 {
		t.Fatalf("read-only commit: %v, commits %d", err, rec.Commits())
	}
}
