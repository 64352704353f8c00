package otelkv_test

import (
	"context"
	"errors"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/middleware/otelkv"
	"github.com/tikvgo/tikv/txn"
)

// TestBackgroundCallsLinkToCommit: the work a commit leaves running on the
// client's background group gets its own root span, linked to the span of
// the TxnCommit call that left it: the secondaries' commit of a committed
// 2-region transaction ("CommitSecondaries"), and the rollback of one that
// failed at prewrite with a write conflict ("Rollback"). In-process and
// over gRPC.
func TestBackgroundCallsLinkToCommit(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			k, opts := newKit(t)
			mock, cluster := m.connect(t, nil, opts...)
			if _, err := mock.SplitTxn([]byte("m")); err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			write := func(tx *txn.Txn, keys ...string) {
				t.Helper()
				for _, key := range keys {
					if err := tx.Set([]byte(key), []byte("v")); err != nil {
						t.Fatal(err)
					}
				}
			}
			begin := func(client *txn.Client) *txn.Txn {
				t.Helper()
				tx, err := client.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return tx
			}

			// A commit that succeeds: its secondary ("z") is committed in
			// the background.
			// (Closing a client waits for its background work.)
			client := txn.NewClient(cluster)
			tx := begin(client)
			write(tx, "a", "z")
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := client.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			commit := k.only(t, otelkv.APITxnCommit)
			assertLinked(t, k.only(t, "CommitSecondaries"), commit)

			// A commit that fails: "a" was written after its start, so its
			// prewrite conflicts and the locks it left are rolled back in
			// the background.
			k.spans.Reset()
			client = txn.NewClient(cluster)
			loser := begin(client)
			winner := begin(client)
			write(winner, "a")
			if err := winner.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			write(loser, "a", "z")
			if err := loser.Commit(ctx); !errors.Is(err, kv.ErrTxnRetryable) {
				t.Fatalf("conflicting commit: %v, want a retryable write conflict", err)
			}
			if err := client.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			var failed sdktrace.ReadOnlySpan
			for _, s := range k.spans.Ended() {
				if s.Name() == otelkv.APITxnCommit && s.Status().Code != 0 {
					failed = s
				}
			}
			if failed == nil {
				t.Fatalf("no failed TxnCommit span; spans: %s", k.names())
			}
			assertLinked(t, k.only(t, "Rollback"), failed)
		})
	}
}

// assertLinked checks that bg is a root span whose one link points at
// cause, and that its attempts are its children.
func assertLinked(t *testing.T, bg, cause sdktrace.ReadOnlySpan) {
	t.Helper()
	if bg.Parent().IsValid() {
		t.Errorf("%s span has parent %v, want a root linked to %s", bg.Name(), bg.Parent().SpanID(), cause.Name())
	}
	links := bg.Links()
	if len(links) != 1 || links[0].SpanContext.SpanID() != cause.SpanContext().SpanID() ||
		links[0].SpanContext.TraceID() != cause.SpanContext().TraceID() {
		t.Fatalf("%s span links %v, want one to %s (%v)", bg.Name(), links, cause.Name(), cause.SpanContext().SpanID())
	}
	if v := links[0].Attributes; len(v) != 1 || v[0] != otelkv.KeyLinkCause.String("background") {
		t.Errorf("link attributes %v, want %s=background", v, otelkv.KeyLinkCause)
	}
}
