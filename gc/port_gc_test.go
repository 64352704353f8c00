package gc_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	pdgc "github.com/tikv/pd/client/clients/gc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/gc"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/txn"
)

// fastCache re-reads PD's GC states often, so the tests need not wait
// client-go's 10 s.
var fastCache = txn.SafePointCacheOptions{Refresh: 5 * time.Millisecond, Retry: 5 * time.Millisecond}

// gcController is the part of PD's client (and of mocktikv's in-process
// PD) that moves the GC states as a GC worker does.
type gcController interface {
	GetGCInternalController(keyspaceID uint32) pdgc.InternalController
}

// pdFor returns a PD client of mock: its in-process PD, or one connected
// over gRPC and closed when the test ends.
func pdFor(t *testing.T, grpc bool, opts ...mocktikv.Option) (*mocktikv.Cluster, pdclient.PD) {
	t.Helper()
	if !grpc {
		mock := mocktikv.NewCluster(opts...)
		t.Cleanup(mock.Close)
		return mock, mock.PD()
	}
	mock := mocktikv.Start(t, opts...)
	pd, err := pdclient.Connect(t.Context(), mock.PDAddrs())
	if err != nil {
		t.Fatalf("connect PD: %v", err)
	}
	t.Cleanup(pd.Close)
	return mock, pd
}

// waitCheck polls cache.CheckVisibility(startTS) until ok accepts its
// error, or fails the test after 5 s.
func waitCheck(t *testing.T, what string, cache *txn.SafePointCache, startTS uint64, ok func(error) bool) error {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := cache.CheckVisibility(context.Background(), startTS)
		if ok(err) {
			return err
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: check of ts %d never reached the expected state: last %v", what, startTS, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// requireBelowSafePoint waits until cache refuses startTS because the txn
// safe point sp passed it, and accepts sp itself.
func requireBelowSafePoint(t *testing.T, what string, cache *txn.SafePointCache, startTS, sp uint64) {
	t.Helper()
	err := waitCheck(t, what, cache, startTS, func(err error) bool { return errors.Is(err, kv.ErrTxnAbortedByGC) })
	var gcErr *kv.TxnAbortedByGCError
	if !errors.As(err, &gcErr) || gcErr.StartTS != startTS || gcErr.SafePoint != sp {
		t.Fatalf("%s: got %v, want start ts %d below safe point %d", what, err, startTS, sp)
	}
	if err := cache.CheckVisibility(context.Background(), sp); err != nil {
		t.Fatalf("%s: ts %d at the safe point refused: %v", what, sp, err)
	}
}

// TestPortLoadTxnSafePoint ports what applies of client-go's gc_test.go
// TestLoadTxnSafePointFallback: advancing the null keyspace's txn safe
// point (PD's AdvanceTxnSafePoint, as the GC worker does) is seen by a
// cache of the null keyspace and by one of a keyspace under the unified GC
// (PD redirects its GC states to the null keyspace's). The
// keyspace-level-GC keyspace is TestPortLoadTxnSafePointKeyspaceLevelGC;
// the fallback to etcd on Unimplemented is not ported (see
// TestPortTxnSafePointGCStatesUnimplemented). In process and over gRPC.
func TestPortLoadTxnSafePoint(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			mock, pd := pdFor(t, grpc, mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2), mocktikv.WithKeyspace("ks1"))
			var ks1 uint32
			for _, m := range mock.Keyspaces() {
				if m.GetName() == "ks1" {
					ks1 = m.GetId()
				}
			}
			if ks1 == 0 || ks1 == pdclient.NullKeyspaceID {
				t.Fatalf("keyspace ks1 has id %d", ks1)
			}
			null := txn.NewSafePointCache(pd, pdclient.NullKeyspaceID, fastCache)
			defer null.Close()
			unified := txn.NewSafePointCache(pd, pdclient.GCStateKeyspace(ks1, true), fastCache)
			defer unified.Close()

			ctl, ok := pd.(gcController)
			if !ok {
				t.Fatalf("PD client %T has no GC internal controller", pd)
			}
			const base = 1000
			for _, target := range []uint64{base + 1, base + 2} {
				res, err := ctl.GetGCInternalController(pdclient.NullKeyspaceID).AdvanceTxnSafePoint(context.Background(), target)
				if err != nil || res.NewTxnSafePoint != target {
					t.Fatalf("advance txn safe point to %d: %+v, %v", target, res, err)
				}
				requireBelowSafePoint(t, "null keyspace", null, target-1, target)
				requireBelowSafePoint(t, "unified-GC keyspace", unified, target-1, target)
			}
		})
	}
}

// TestPortGCRunTxnSafePoint: the txn safe point a GC round (gc.Run)
// grants is what a txn safe point cache then loads (client-go's
// LoadTxnSafePoint after a GC advanced it). In process and over gRPC.
func TestPortGCRunTxnSafePoint(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			c := connect(t, grpc)
			cache := txn.NewSafePointCache(c.c.PD(), pdclient.NullKeyspaceID, fastCache)
			defer cache.Close()
			waitCheck(t, "before GC", cache, 1, func(err error) bool { return err == nil })
			sp := c.now()
			res, err := gc.Run(context.Background(), c.c, sp)
			if err != nil || res.TxnSafePoint != sp {
				t.Fatalf("gc: %+v, %v; want txn safe point %d", res, err, sp)
			}
			requireBelowSafePoint(t, "after GC", cache, sp-1, sp)
		})
	}
}

// TestPortTxnSafePointGCStatesUnimplemented covers the first step of
// client-go's TestLoadTxnSafePointFallback (GetGCState answering
// Unimplemented, as a PD older than the GC states API does) in our
// design: client-go then falls back to reading the safe point from PD's
// etcd; txn.SafePointCache does not (tikvgo requires the GC states API),
// so a check fails with a *txn.StaleSafePointError carrying the
// Unimplemented cause rather than pass unchecked, and passes once PD
// answers. TestCompatibleTxnSafePointLoaderValueParsing (parsing the etcd
// value of that fallback) has nothing to port. In process and over gRPC.
func TestPortTxnSafePointGCStatesUnimplemented(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			mock, pd := pdFor(t, grpc)
			mock.FailPD("GetGCState", status.Error(codes.Unimplemented, "simulated unimplemented error"), 0)
			cache := txn.NewSafePointCache(pd, pdclient.NullKeyspaceID, fastCache)
			defer cache.Close()

			// The cache bounds each read by its 5 ms refresh interval, so
			// on a loaded machine a gRPC read may time out before PD's
			// Unimplemented arrives; wait for a read that got the answer.
			// Every check meanwhile must still fail as stale, never pass.
			deadline := time.Now().Add(5 * time.Second)
			for {
				err := cache.CheckVisibility(context.Background(), 1)
				var stale *txn.StaleSafePointError
				if !errors.As(err, &stale) || !errors.Is(err, kv.ErrPDUnavailable) {
					t.Fatalf("check while GetGCState is unimplemented: %v, want a *txn.StaleSafePointError", err)
				}
				if status.Code(stale.Cause) == codes.Unimplemented {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("check while GetGCState is unimplemented: last %v, want one caused by Unimplemented", err)
				}
				time.Sleep(5 * time.Millisecond)
			}

			mock.ClearPDFaults()
			waitCheck(t, "after PD answers", cache, 1, func(err error) bool { return err == nil })
		})
	}
}
