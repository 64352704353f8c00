package gc_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/gc"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/txn"
)

// keyspaceGCOptions is a cluster under API v2 with keyspace ks1 under the
// unified GC and ks2 with keyspace-level GC (client-go's gc_test.go
// storeUnifiedGCKeyspace and storeKeyspaceLevelGCKeyspace).
var keyspaceGCOptions = []mocktikv.Option{mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2),
	mocktikv.WithKeyspace("ks1"), mocktikv.WithKeyspaceLevelGC("ks2")}

// keyspaceIDs returns the ids of ks1 and ks2.
func keyspaceIDs(t *testing.T, mock *mocktikv.Cluster) (ks1, ks2 uint32) {
	t.Helper()
	for _, m := range mock.Keyspaces() {
		switch m.GetName() {
		case "ks1":
			ks1 = m.GetId()
		case "ks2":
			ks2 = m.GetId()
		}
	}
	if ks1 == 0 || ks2 == 0 {
		t.Fatalf("keyspaces ks1 %d, ks2 %d", ks1, ks2)
	}
	return ks1, ks2
}

// requireVisible requires that cache, given time for several refreshes,
// still accepts ts: a txn safe point above it was not seen.
func requireVisible(t *testing.T, what string, cache *txn.SafePointCache, ts uint64) {
	t.Helper()
	time.Sleep(20 * fastCache.Refresh)
	if err := cache.CheckVisibility(context.Background(), ts); err != nil {
		t.Fatalf("%s: ts %d refused: %v", what, ts, err)
	}
}

// TestPortLoadTxnSafePointKeyspaceLevelGC ports the keyspace part of
// client-go's testGCWithTiKVSuite.TestLoadTxnSafePointFallback
// (integration_tests/gc_test.go): an advance of the null keyspace's txn
// safe point is seen by caches of the null keyspace and of a unified-GC
// keyspace but not of a keyspace-level-GC keyspace; an advance of the
// keyspace-level-GC keyspace's own txn safe point is seen by its cache
// only. (client-go loads through its etcd fallback there, once per store;
// txn.SafePointCache reads GetGCState only: see
// TestPortTxnSafePointGCStatesUnimplemented.) In process and over gRPC.
func TestPortLoadTxnSafePointKeyspaceLevelGC(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			mock, pd := pdFor(t, grpc, keyspaceGCOptions...)
			ks1, ks2 := keyspaceIDs(t, mock)
			null := txn.NewSafePointCache(pd, pdclient.NullKeyspaceID, fastCache)
			defer null.Close()
			unified := txn.NewSafePointCache(pd, pdclient.GCStateKeyspace(ks1, true), fastCache)
			defer unified.Close()
			level := txn.NewSafePointCache(pd, pdclient.GCStateKeyspace(ks2, true), fastCache)
			defer level.Close()
			ctl, ok := pd.(gcController)
			if !ok {
				t.Fatalf("PD client %T has no GC internal controller", pd)
			}
			ctx := context.Background()
			const base = 1000

			res, err := ctl.GetGCInternalController(pdclient.NullKeyspaceID).AdvanceTxnSafePoint(ctx, base+1)
			if err != nil || res.NewTxnSafePoint != base+1 {
				t.Fatalf("advance the null keyspace: %+v, %v", res, err)
			}
			requireBelowSafePoint(t, "null keyspace", null, base, base+1)
			requireBelowSafePoint(t, "unified-GC keyspace", unified, base, base+1)
			requireVisible(t, "keyspace-level-GC keyspace", level, base)

			res, err = ctl.GetGCInternalController(ks2).AdvanceTxnSafePoint(ctx, base+2)
			if err != nil || res.NewTxnSafePoint != base+2 {
				t.Fatalf("advance the keyspace-level-GC keyspace: %+v, %v", res, err)
			}
			requireBelowSafePoint(t, "keyspace-level-GC keyspace", level, base+1, base+2)
			requireVisible(t, "null keyspace", null, base+1)
			requireVisible(t, "unified-GC keyspace", unified, base+1)
		})
	}
}

// TestGCRunKeyspaceLevelGC: a client of a keyspace with keyspace-level GC
// runs its own GC round (gc.Run), which moves that keyspace's safe points
// only; its transactional client then refuses a snapshot below the new txn
// safe point, while a client of a unified-GC keyspace still reads at that
// ts. In process and over gRPC.
func TestGCRunKeyspaceLevelGC(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			var mock *mocktikv.Cluster
			if grpc {
				mock = mocktikv.Start(t, keyspaceGCOptions...)
			} else {
				mock = mocktikv.NewCluster(keyspaceGCOptions...)
				t.Cleanup(mock.Close)
			}
			ks1, ks2 := keyspaceIDs(t, mock)
			open := func(keyspace string) (*tikv.Cluster, *txn.Client) {
				t.Helper()
				opts := []tikv.Option{tikv.WithKeyspace(keyspace), tikv.WithAPIVersion(kvrpcpb.APIVersion_V2)}
				var c *tikv.Cluster
				var err error
				if grpc {
					c, err = tikv.Connect(t.Context(), mock.PDAddrs(), opts...)
				} else {
					c, err = tikv.Connect(context.Background(), nil, append(opts, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))...)
				}
				if err != nil {
					t.Fatalf("connect to %s: %v", keyspace, err)
				}
				cli := txn.NewClient(c, txn.WithSafePointCache(fastCache))
				t.Cleanup(func() {
					_ = cli.Close(context.Background())
					c.Close()
				})
				return c, cli
			}
			c2, cli2 := open("ks2")
			_, cli1 := open("ks1")
			ctx := context.Background()
			sp, err := c2.Oracle().Now(ctx)
			if err != nil {
				t.Fatal(err)
			}

			res, err := gc.Run(ctx, c2, sp)
			if err != nil || res.TxnSafePoint != sp || res.GCSafePoint != sp {
				t.Fatalf("gc in ks2: %+v, %v; want both safe points at %d", res, err, sp)
			}
			if got, _ := mock.KeyspaceTxnSafePoint(ks2); got != sp {
				t.Fatalf("ks2's txn safe point %d, want %d", got, sp)
			}
			if got, _ := mock.KeyspaceTxnSafePoint(ks1); got != 0 || mock.TxnSafePoint() != 0 || mock.GCSafePoint() != 0 {
				t.Fatalf("the unified GC moved: ks1 %d, txn %d, GC %d", got, mock.TxnSafePoint(), mock.GCSafePoint())
			}

			deadline := time.Now().Add(5 * time.Second)
			for {
				_, err := cli2.Snapshot(sp-1).Get(ctx, []byte("k"))
				if errors.Is(err, kv.ErrTxnAbortedByGC) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("ks2 snapshot below its txn safe point: %v, want ErrTxnAbortedByGC", err)
				}
				time.Sleep(fastCache.Refresh)
			}
			if _, err := cli2.Snapshot(sp).Get(ctx, []byte("k")); err != nil && !errors.Is(err, kv.ErrNotFound) {
				t.Fatalf("ks2 snapshot at its txn safe point: %v", err)
			}
			time.Sleep(20 * fastCache.Refresh)
			if _, err := cli1.Snapshot(sp-1).Get(ctx, []byte("k")); err != nil && !errors.Is(err, kv.ErrNotFound) {
				t.Fatalf("ks1 (unified GC) snapshot at %d: %v", sp-1, err)
			}
		})
	}
}
