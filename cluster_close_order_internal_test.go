package tikv

import (
	"context"
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"go.uber.org/goleak"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
)

// TestCloseClosesRegionCachesBeforePD ports client-go's
// TestKVStoreCloseCheckRegionCacheClosedBeforePDClose (tikv/kv_test.go):
// Close closes both region caches (their loads and loops call PD) before
// the PD client the cluster owns, so none of them calls a closed PD
// client. At the moment the PD client is about to close, a lookup of
// either cache that would ask PD (a region id it never saw) already fails with kv.ErrClosed, while PD itself still
// answers.
func TestCloseClosesRegionCachesBeforePD(t *testing.T) {
	mock := mocktikv.Start(t, mocktikv.WithStores(1))
	c, err := Connect(t.Context(), mock.PDAddrs())
	if err != nil {
		t.Fatal(err)
	}
	// Warm both caches so that Close has loaded state to drop.
	for _, mode := range []kv.KeyMode{kv.ModeRaw, kv.ModeTxn} {
		if _, err := c.caches[mode].Locate(context.Background(), []byte("a")); err != nil {
			t.Fatalf("locate (%v): %v", mode, err)
		}
	}
	called := false
	testHookBeforePDClose = func(c *Cluster) {
		called = true
		for _, mode := range []kv.KeyMode{kv.ModeRaw, kv.ModeTxn} {
			if _, err := c.caches[mode].LocateByID(context.Background(), 1<<40); !errors.Is(err, kv.ErrClosed) {
				t.Errorf("region cache (%v) still open when the PD client closes: %v", mode, err)
			}
		}
		if _, err := c.pd.GetAllStores(context.Background()); err != nil {
			t.Errorf("PD client closed before the hook: %v", err)
		}
	}
	t.Cleanup(func() { testHookBeforePDClose = nil })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !called {
		t.Fatal("Close did not close an owned PD client")
	}
}

// TestConnectErrorHalfwayLeaksNothing ports client-go's
// testKVSuite.TestErrorHalfwayInNewKVStore (tikv/kv_test.go): a Connect
// that fails after it connected to PD (here: the keyspace it names does
// not exist) closes what it started, the PD client (with its HTTP client)
// and the connection pool, and leaves no goroutine behind.
func TestConnectErrorHalfwayLeaksNothing(t *testing.T) {
	mock := mocktikv.Start(t, mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2))
	// Let a first client come and go, so that the mock's own lazily
	// started goroutines exist before the snapshot.
	warm, err := Connect(t.Context(), mock.PDAddrs(), WithAPIVersion(kvrpcpb.APIVersion_V2))
	if err != nil {
		t.Fatal(err)
	}
	_ = warm.Close()
	ignore := goleak.IgnoreCurrent()
	if _, err := Connect(t.Context(), mock.PDAddrs(), WithAPIVersion(kvrpcpb.APIVersion_V2), WithKeyspace("no-such-keyspace")); err == nil {
		t.Fatal("connected to an unknown keyspace")
	}
	goleak.VerifyNone(t, ignore)
}
