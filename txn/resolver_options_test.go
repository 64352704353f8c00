package txn_test

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/txn"
)

// TestResolveLiteThresholdOption: client-go's
// TiKVClient.ResolveLockLiteThreshold as a client option. An abandoned
// three-key transaction's lock is resolved key by key under the default
// threshold (512) and region-wide (ResolveLock without keys) when the
// client's threshold is lowered to 1; either way the lock is gone.
func TestResolveLiteThresholdOption(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      []txn.Option
		wantWhole bool
	}{
		{"default threshold", nil, false},
		{"threshold 1", []txn.Option{txn.WithResolveLiteThreshold(1)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bothTransports(t, func(t *testing.T, grpc bool) {
				p := newPortCluster(t, grpc, nil, tc.opts...)
				ctx := context.Background()
				start := p.lock(time.Millisecond, "pk", "v", "a", "v", "b", "v")
				lock := p.lockOf("a")
				if lock == nil || lock.TxnSize != 3 {
					t.Fatalf("lock of a: %v", lock)
				}
				time.Sleep(10 * time.Millisecond) // the 1 ms TTL passes
				p.log.reset()
				if _, err := p.client.Resolver().ResolveLocks(ctx, p.now(), []*kv.Lock{plans.LockFromInfo(lock)}); err != nil {
					t.Fatalf("resolve: %v", err)
				}
				var resolves []*kvrpcpb.ResolveLockRequest
				for _, r := range p.log.requests() {
					if rl, ok := r.Msg.(*kvrpcpb.ResolveLockRequest); ok && rl.StartVersion == start {
						resolves = append(resolves, rl)
					}
				}
				if len(resolves) == 0 {
					t.Fatal("no ResolveLock sent")
				}
				for _, rl := range resolves {
					if whole := len(rl.Keys) == 0; whole != tc.wantWhole {
						t.Fatalf("ResolveLock keys %q: region-wide %v, want %v", rl.Keys, whole, tc.wantWhole)
					}
				}
				if l := p.lockOf("a"); l != nil {
					t.Fatalf("a still locked: %v", l)
				}
			})
		})
	}
}
