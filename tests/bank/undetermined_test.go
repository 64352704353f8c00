package bank_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// The bank run counts transfers that end kv.ErrUndetermined; most of them
// turned out to have failed at prewrite, before any commit was sent. These
// tests pin the two ways that happens. A transaction whose prewrite failed
// cannot have committed (the commit is never sent, and its locks are rolled
// back), so twopc.Committer.Commit's contract reserves kv.ErrUndetermined
// for an unknown-outcome primary commit, and client-go sets its
// undetermined error only in the primary's commit action
// (txnkv/transaction/commit.go). Reported undetermined, such a failure also
// stops Update, which would have re-run the transfer.

// conflictingCommit begins a transaction, then commits another write of
// key after its start, so that the first one's prewrite of key meets a
// write conflict.
func conflictingCommit(t *testing.T, client *txn.Client, key []byte) *txn.Txn {
	t.Helper()
	ctx := t.Context()
	tx, err := client.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if err := client.Update(ctx, func(_ context.Context, other *txn.Txn) error {
		return other.Set(key, []byte("newer"))
	}); err != nil {
		t.Fatalf("conflicting commit: %v", err)
	}
	return tx
}

// TestPrewriteConflictAfterLostResponse: the prewrite's first attempt is
// executed and answers a write conflict, but its response is lost; the
// resend meets the same conflict. The commit failed definitely.
func TestPrewriteConflictAfterLostResponse(t *testing.T) {
	for _, s := range setups() {
		t.Run(s.name, func(t *testing.T) {
			mock, cluster := s.connect(t, mocktikv.WithStores(3))
			client := txn.NewClient(cluster)
			defer client.Close(context.Background())
			key := accountKey(0)
			tx := conflictingCommit(t, client, key)
			if err := tx.Set(key, []byte("older")); err != nil {
				t.Fatal(err)
			}
			lost := mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: key,
				Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.LoseResponse(status.Error(codes.Unavailable, "lost")))}})
			err := tx.Commit(t.Context())
			if lost.Hits() != 1 {
				t.Fatalf("the lost-response fault acted %d times, want 1", lost.Hits())
			}
			checkDefiniteConflict(t, err)
		})
	}
}

// TestPrewriteConflictWithPieceInFlight: the transaction's two keys are in
// two regions; one region's prewrite answers a write conflict while the
// other's is held at the store, so the committer cancels it in flight.
func TestPrewriteConflictWithPieceInFlight(t *testing.T) {
	for _, s := range setups() {
		t.Run(s.name, func(t *testing.T) {
			a, b := accountKey(0), accountKey(accounts-1)
			mock, cluster := s.connect(t, mocktikv.WithStores(3), mocktikv.WithTxnSplitKeys(accountKey(accounts/2)))
			client := txn.NewClient(cluster)
			defer client.Close(context.Background())
			tx := conflictingCommit(t, client, a)
			for _, k := range [][]byte{a, b} {
				if err := tx.Set(k, []byte("older")); err != nil {
					t.Fatal(err)
				}
			}
			// a's prewrite waits until b's has reached its store, so that
			// b's is in flight when a's conflict ends the prewrite.
			aGate, bGate := mocktikv.NewGate(), mocktikv.NewGate()
			defer bGate.Open()
			mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: a, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(aGate))}})
			mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: b, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(bGate))}})
			go func() {
				select {
				case <-bGate.Arrived():
				case <-time.After(10 * time.Second):
				}
				aGate.Open()
			}()
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			err := tx.Commit(ctx)
			select {
			case <-bGate.Arrived():
			default:
				t.Fatalf("commit: %v, but b's prewrite never reached its store", err)
			}
			checkDefiniteConflict(t, err)
		})
	}
}

// checkDefiniteConflict wants err to be the write conflict, retryable and
// not undetermined.
func checkDefiniteConflict(t *testing.T, err error) {
	t.Helper()
	var wc *kv.WriteConflictError
	if !errors.As(err, &wc) || !errors.Is(err, kv.ErrTxnRetryable) {
		t.Fatalf("commit: %v; want a retryable *kv.WriteConflictError", err)
	}
	if errors.Is(err, kv.ErrUndetermined) {
		t.Errorf("commit: %v: reported kv.ErrUndetermined, but the prewrite failed and no commit was sent", err)
	}
}
