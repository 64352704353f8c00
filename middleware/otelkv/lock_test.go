package otelkv_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/middleware/otelkv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestTxnGetResolvesAbandonedLock: a read that meets the expired lock of
// an abandoned transaction resolves it inside its own call: the TxnGet
// span has the status check of the lock's primary (here the lock itself) as
// a child, a lock-resolution event (rolled back: the TTL ran out and the
// owner never committed), and the resolution is counted by command. In-process and over gRPC.
func TestTxnGetResolvesAbandonedLock(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			k, opts := newKit(t)
			_, cluster := m.connect(t, nil, opts...)
			ctx := t.Context()
			start, err := cluster.Oracle().Now(ctx)
			if err != nil {
				t.Fatal(err)
			}
			env := cluster.EnvFor(kv.ModeTxn)
			prewrite := pipeline.Shard(env, pipeline.ByKey((*kvrpcpb.PrewriteRequest).GetPrimaryLock), pipeline.Retry(env, plans.KvPrewrite))
			if _, err := prewrite(ctx, &kvrpcpb.PrewriteRequest{
				Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("k"), Value: []byte("v")}},
				PrimaryLock: []byte("k"), StartVersion: start, LockTtl: 1, TxnSize: 1, MinCommitTs: start + 1,
			}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond) // the lock's 1ms TTL runs out

			client := txn.NewClient(cluster)
			defer client.Close(ctx)
			tx, err := client.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			k.spans.Reset()
			if v, err := tx.Get(ctx, []byte("k")); !errors.Is(err, kv.ErrNotFound) {
				t.Fatalf("Get = %q, %v; want not found (the lock's owner never committed)", v, err)
			}
			call := k.only(t, "TxnGet")
			kids := names(k.children(call))
			// The lock is its transaction's primary: the status check rolls
			// it back, and no ResolveLock is needed.
			for _, cmd := range []transport.Cmd{transport.CmdGet, transport.CmdCheckTxnStatus} {
				if !slices.Contains(kids, otelkv.AttemptSpanName(cmd)) {
					t.Fatalf("children of TxnGet %q lack %s", kids, otelkv.AttemptSpanName(cmd))
				}
			}
			var outcome string
			for _, e := range call.Events() {
				if e.Name == "lock-resolution" {
					v, _ := attr2(e.Attributes, otelkv.KeyLockOutcome)
					outcome = v.AsString()
				}
			}
			if outcome != "rolled_back" {
				t.Fatalf("lock-resolution outcome %q (events %q), want rolled_back", outcome, eventNames(call))
			}
			if n := sum(t, k.collect(t), otelkv.MetricLockResolutions, otelkv.KeyLockOutcome.String("rolled_back"),
				semconv.DBOperationName("KvCheckTxnStatus")); n != 1 {
				t.Fatalf("rolled-back resolutions: %d, want 1", n)
			}
		})
	}
}
