package otelkv_test

import (
	"context"
	"slices"
	"testing"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/tikvgo/tikv/middleware/otelkv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestTxnCommitSpanTree: a transaction writing to two regions commits in
// one TxnCommit call span whose children are (after the cold cache's region
// and store loads) a prewrite attempt per region,
// the commit timestamp from PD's TSO and the primary's commit, in that
// order (secondaries are committed after Commit returns and may follow).
// Each attempt's region is one of the two. The commit's duration is
// recorded by protocol (2PC: the committer has no async commit or 1PC).
// In-process and over gRPC.
func TestTxnCommitSpanTree(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			k, opts := newKit(t)
			mock, cluster := m.connect(t, nil, opts...)
			if _, err := mock.SplitTxn([]byte("m")); err != nil {
				t.Fatal(err)
			}
			client := txn.NewClient(cluster)
			ctx := t.Context()
			tx, err := client.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"a", "z"} {
				if err := tx.Set([]byte(key), []byte("v")); err != nil {
					t.Fatal(err)
				}
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := client.Close(context.Background()); err != nil { // waits for the secondaries
				t.Fatal(err)
			}

			call := k.only(t, otelkv.APITxnCommit)
			prewrite, commit := otelkv.AttemptSpanName(transport.CmdPrewrite), otelkv.AttemptSpanName(transport.CmdCommit)
			// The cold region cache's loads come first; drop them.
			kids := slices.DeleteFunc(names(k.children(call)), func(n string) bool {
				return n == "PD GetRegion" || n == "PD GetStore"
			})
			if len(kids) < 4 || !slices.Equal(kids[:2], []string{prewrite, prewrite}) ||
				!slices.Equal(kids[2:4], []string{"PD GetTS", commit}) {
				t.Fatalf("children of TxnCommit %q, want 2 prewrites, PD GetTS, then the primary's commit", kids)
			}
			for _, n := range kids[4:] {
				if n != commit {
					t.Fatalf("children of TxnCommit %q: after the primary only commits of secondaries", kids)
				}
			}
			regions := map[int64]bool{}
			for _, s := range k.children(call) {
				if s.Name() == prewrite {
					v, _ := attr(s, otelkv.KeyRegionID)
					regions[v.AsInt64()] = true
				}
			}
			if len(regions) != 2 {
				t.Fatalf("prewrites went to regions %v, want two", regions)
			}

			data := k.collect(t)
			if n := histCount(t, data, otelkv.MetricCommitDuration, otelkv.KeyTxnProtocol.String("2pc")); n != 1 {
				t.Fatalf("commit durations (2pc): %d, want 1", n)
			}
			if n := histCount(t, data, otelkv.MetricOperationDuration, semconv.DBOperationName(otelkv.APITxnCommit)); n != 1 {
				t.Fatalf("TxnCommit operation durations: %d, want 1", n)
			}
			if n := histCount(t, data, otelkv.MetricAttemptDuration, semconv.DBOperationName("KvPrewrite")); n != 2 {
				t.Fatalf("prewrite attempts: %d, want 2", n)
			}
			if n := histCount(t, data, otelkv.MetricPDDuration, otelkv.KeyPDMethod.String("GetTS")); n != 1 {
				t.Fatalf("PD GetTS within calls: %d, want 1 (the commit ts)", n)
			}
		})
	}
}
