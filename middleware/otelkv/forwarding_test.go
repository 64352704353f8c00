package otelkv_test

import (
	"testing"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/middleware/otelkv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
)

// TestForwardedAttemptSpan: an attempt a follower forwards to the leader
// (tikv.WithForwarding) is traced with the leader's store id, the proxy's
// store id and the forwarded host; a direct attempt carries neither.
func TestForwardedAttemptSpan(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			k, opts := newKit(t)
			mock, cluster := m.connect(t, []mocktikv.Option{mocktikv.WithStores(3)}, append(opts, tikv.WithForwarding(true))...)
			client := raw.NewClient(cluster)
			ctx := t.Context()
			if err := client.Put(ctx, []byte("k"), []byte("v")); err != nil {
				t.Fatal(err)
			}
			_, leader := mock.RegionByKey([]byte("k"))
			if err := mock.PartitionClient(leader.GetStoreId()); err != nil {
				t.Fatal(err)
			}
			k.spans.Reset()
			if got, err := client.Get(ctx, []byte("k")); err != nil || string(got) != "v" {
				t.Fatalf("Get = %q, %v", got, err)
			}
			kids := k.children(k.only(t, "RawGet"))
			var attempts int
			for _, s := range kids {
				if s.Name() != getAttempt {
					continue
				}
				attempts++
				host, forwarded := attr(s, otelkv.KeyForwardedHost)
				proxy, _ := attr(s, otelkv.KeyProxyStoreID)
				store, _ := attr(s, otelkv.KeyStoreID)
				if store.AsInt64() != int64(leader.GetStoreId()) {
					t.Fatalf("attempt to store %v, want the leader %d", store.Emit(), leader.GetStoreId())
				}
				if attempts == 1 && forwarded {
					t.Fatalf("the first attempt, direct, carries forwarded host %v", host.Emit())
				}
				if attempts > 1 && (!forwarded || host.AsString() != mock.StoreAddr(leader.GetStoreId()) ||
					proxy.AsInt64() == 0 || proxy.AsInt64() == int64(leader.GetStoreId())) {
					t.Fatalf("attempt %d: forwarded host %v, proxy %v; want the leader's address through a follower", attempts, host.Emit(), proxy.Emit())
				}
			}
			if attempts != 2 {
				t.Fatalf("%d attempts, want a direct one and a forwarded one", attempts)
			}
		})
	}
}
