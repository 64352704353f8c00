package txn_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/tikv/pd/client/clients/gc"
	"go.uber.org/goleak"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/txn"
)

// gcController is the part of pd.Client (and of mocktikv's in-process PD)
// that moves PD's GC states as TiDB's GC worker does.
type gcController interface {
	GetGCInternalController(keyspaceID uint32) gc.InternalController
}

// advanceTxnSafePoint moves PD's txn safe point to target through PD's GC
// states API, as the GC worker would, and checks that it got there.
func (p *portCluster) advanceTxnSafePoint(target uint64) {
	p.t.Helper()
	ctl, ok := p.cluster.PD().(gcController)
	if !ok {
		p.t.Fatalf("PD client %T has no GC internal controller", p.cluster.PD())
	}
	res, err := ctl.GetGCInternalController(pdclient.NullKeyspaceID).AdvanceTxnSafePoint(context.Background(), target)
	if err != nil {
		p.t.Fatalf("advance txn safe point: %v", err)
	}
	if res.NewTxnSafePoint != target {
		p.t.Fatalf("txn safe point advanced to %d, want %d (%s)", res.NewTxnSafePoint, target, res.BlockerDescription)
	}
}

// waitAbortedByGC waits until the client's cache has seen a txn safe
// point above startTS (the refresh runs every few milliseconds in these
// tests), proving the state the reads below depend on was reached.
func (p *portCluster) waitAbortedByGC(startTS uint64) {
	p.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := p.client.CheckVisibility(context.Background(), startTS)
		if errors.Is(err, kv.ErrTxnAbortedByGC) {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the client never saw the txn safe point pass %d: last check %v", startTS, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// requireAbortedByGC fails unless err is a *kv.TxnAbortedByGCError for a
// read at startTS below the safe point sp.
func requireAbortedByGC(t *testing.T, what string, err error, startTS, sp uint64) {
	t.Helper()
	var gcErr *kv.TxnAbortedByGCError
	if !errors.As(err, &gcErr) || !errors.Is(err, kv.ErrTxnAbortedByGC) {
		t.Fatalf("%s: got %v, want a *kv.TxnAbortedByGCError", what, err)
	}
	if gcErr.StartTS != startTS || gcErr.SafePoint != sp {
		t.Fatalf("%s: got %+v, want start ts %d below safe point %d", what, *gcErr, startTS, sp)
	}
}

// fastSafePoints makes the client's cache re-read PD often, so tests
// need not wait client-go's 10 s.
var fastSafePoints = txn.WithSafePointCache(txn.SafePointCacheOptions{Refresh: 5 * time.Millisecond, Retry: 5 * time.Millisecond})

// TestSafePoint: once PD's txn safe point passes a transaction's start ts,
// its next Get, Iter and BatchGet fail with kv.ErrTxnAbortedByGC, while a
// transaction that began after it reads fine; in-process and over gRPC.
// Ports client-go integration_tests/safepoint_test.go TestSafePoint (which
// plants the safe point in the store's cache; here it moves through PD's
// GC-states API and the client's cache picks it up).
func TestSafePoint(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			p := newPortCluster(t, grpc, nil, fastSafePoints)
			ctx := context.Background()
			pairs := make([]string, 0, 20)
			keys := make([][]byte, 0, 10)
			for i := range 10 {
				pairs = append(pairs, fmt.Sprintf("key%02d", i), fmt.Sprintf("value%02d", i))
				keys = append(keys, fmt.Appendf(nil, "key%02d", i))
			}
			p.commit(pairs...)

			// Get: a read before the safe point moves works; the next one,
			// of a key not in the snapshot's cache (client-go cleans its
			// cache), fails.
			txn2 := p.begin()
			if _, err := txn2.Get(ctx, keys[0]); err != nil {
				t.Fatalf("get before GC: %v", err)
			}
			sp := txn2.StartTS() + 1
			p.advanceTxnSafePoint(sp)
			p.waitAbortedByGC(txn2.StartTS())
			_, err := txn2.Get(ctx, keys[1])
			requireAbortedByGC(t, "txn2 get", err, txn2.StartTS(), sp)

			// Iter.
			txn3 := p.begin()
			sp = txn3.StartTS() + 1
			p.advanceTxnSafePoint(sp)
			p.waitAbortedByGC(txn3.StartTS())
			var iterErr error
			for _, err := range txn3.Iter(ctx, []byte("key"), nil) {
				if err != nil {
					iterErr = err
					break
				}
			}
			requireAbortedByGC(t, "txn3 iter", iterErr, txn3.StartTS(), sp)

			// BatchGet.
			txn4 := p.begin()
			sp = txn4.StartTS() + 1
			p.advanceTxnSafePoint(sp)
			p.waitAbortedByGC(txn4.StartTS())
			_, err = txn4.BatchGet(ctx, keys)
			requireAbortedByGC(t, "txn4 batch get", err, txn4.StartTS(), sp)

			// A transaction that began above the safe point reads fine.
			txn5 := p.begin()
			if txn5.StartTS() < sp {
				t.Fatalf("new start ts %d below the safe point %d", txn5.StartTS(), sp)
			}
			vals, err := txn5.BatchGet(ctx, keys)
			if err != nil {
				t.Fatalf("read above the safe point: %v", err)
			}
			if string(vals[9]) != "value09" {
				t.Fatalf("read above the safe point: key09 = %q", vals[9])
			}
		})
	}
}

// TestSafePointCheckReplaced: WithSafePointCheck(nil) turns the client's
// check off (a read below the safe point then succeeds), and a checker of
// the caller's replaces the default cache.
func TestSafePointCheckReplaced(t *testing.T) {
	ctx := context.Background()
	t.Run("off", func(t *testing.T) {
		p := newPortCluster(t, false, nil, txn.WithSafePointCheck(nil))
		p.commit("k", "v")
		tx := p.begin()
		p.advanceTxnSafePoint(tx.StartTS() + 1)
		if err := p.client.CheckVisibility(ctx, tx.StartTS()); err != nil {
			t.Fatalf("check with no checker: %v", err)
		}
		if v, err := tx.Get(ctx, []byte("k")); err != nil || string(v) != "v" {
			t.Fatalf("read with no check: %q, %v", v, err)
		}
	})
	t.Run("custom", func(t *testing.T) {
		var asked []uint64
		check := txn.SafePointFunc(func(context.Context) (uint64, error) { return 1 << 62, nil })
		p := newPortCluster(t, false, nil, txn.WithSafePointCheck(recordingChecker{check, &asked}))
		tx := p.begin()
		_, err := tx.Get(ctx, []byte("k"))
		requireAbortedByGC(t, "get", err, tx.StartTS(), 1<<62)
		if len(asked) != 1 || asked[0] != tx.StartTS() {
			t.Fatalf("checker asked about %v, want [%d]", asked, tx.StartTS())
		}
	})
}

// recordingChecker notes the start ts it is asked about (the test reads
// it after the single read returns).
type recordingChecker struct {
	next  txn.SafePointChecker
	asked *[]uint64
}

func (r recordingChecker) CheckVisibility(ctx context.Context, startTS uint64) error {
	*r.asked = append(*r.asked, startTS)
	return r.next.CheckVisibility(ctx, startTS)
}

// TestClientCloseStopsSafePointCache: the client's safe point cache runs
// one goroutine from NewClient on, and Close stops it.
func TestClientCloseStopsSafePointCache(t *testing.T) {
	tc := connectInProcess(t)
	before := goleak.IgnoreCurrent()
	client := txn.NewClient(tc.cluster)
	if err := client.CheckVisibility(context.Background(), tc.now()); err != nil {
		t.Fatalf("check: %v", err)
	}
	if err := goleak.Find(before); err == nil || !strings.Contains(err.Error(), "(*SafePointCache).run") {
		t.Fatalf("NewClient started no safe point cache goroutine: %v", err)
	}
	if err := client.Close(context.Background()); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := goleak.Find(before); err != nil {
		t.Fatalf("goroutines left after Close: %v", err)
	}
}

// TestSafePointKeyspace: a client in a keyspace (API v2) reads its
// keyspace's GC states, which PD serves from the unified states when the
// keyspace has no keyspace-level GC (PD's GCStateManager redirect; every
// mocktikv keyspace is so): the unified txn safe point passing a
// transaction fails its reads; in-process and over gRPC.
func TestSafePointKeyspace(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			ctx := context.Background()
			mockOpts := []mocktikv.Option{mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2), mocktikv.WithKeyspace("ks1")}
			var mock *mocktikv.Cluster
			var cluster *tikv.Cluster
			var err error
			if grpc {
				mock = mocktikv.Start(t, mockOpts...)
				cluster, err = tikv.Connect(ctx, mock.PDAddrs(), tikv.WithKeyspace("ks1"))
			} else {
				mock = mocktikv.NewCluster(mockOpts...)
				defer mock.Close()
				cluster, err = tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()), tikv.WithKeyspace("ks1"))
			}
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer cluster.Close()
			if cluster.KeyspaceID() == 0 || cluster.KeyspaceID() == pdclient.NullKeyspaceID {
				t.Fatalf("keyspace id %d", cluster.KeyspaceID())
			}
			client := txn.NewClient(cluster, fastSafePoints)
			defer client.Close(ctx)
			p := &portCluster{testCluster: newTestCluster(t, mock, cluster), client: client}
			p.commit("k", "v")
			tx := p.begin()
			sp := tx.StartTS() + 1
			p.advanceTxnSafePoint(sp)
			p.waitAbortedByGC(tx.StartTS())
			_, err = tx.Get(ctx, []byte("k"))
			requireAbortedByGC(t, "get in the keyspace", err, tx.StartTS(), sp)
			p.mustGet("k", "v")
		})
	}
}

// TestSafePointMayFallBehind: while PD's GC states cannot be read for
// longer than the cache's MaxAge, a transaction's reads fail with a
// *txn.StaleSafePointError (kv.ErrPDUnavailable) rather than pass
// unchecked, and work again once PD answers. Ports the "start timestamp
// may fall behind safe point" outcome client-go's
// integration_tests/safepoint_test.go TestSafePoint accepts.
func TestSafePointMayFallBehind(t *testing.T) {
	ctx := context.Background()
	p := newPortCluster(t, false, nil, txn.WithSafePointCache(txn.SafePointCacheOptions{
		Refresh: 5 * time.Millisecond, Retry: 5 * time.Millisecond, MaxAge: 50 * time.Millisecond}))
	p.commit("k", "v")
	tx := p.begin()
	p.mock.FailPD("GetGCState", errors.New("pd down"), 0)
	var stale *txn.StaleSafePointError
	deadline := time.Now().Add(5 * time.Second)
	for err := error(nil); !errors.As(err, &stale); err = p.client.CheckVisibility(ctx, tx.StartTS()) {
		if time.Now().After(deadline) {
			t.Fatalf("the cache never went stale: last check %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, err := tx.Get(ctx, []byte("k"))
	if !errors.As(err, &stale) || !errors.Is(err, kv.ErrPDUnavailable) || stale.StartTS != tx.StartTS() {
		t.Fatalf("get with a stale cache: got %v, want a *txn.StaleSafePointError", err)
	}
	p.mock.ClearPDFaults()
	deadline = time.Now().Add(5 * time.Second)
	for p.client.CheckVisibility(ctx, tx.StartTS()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the cache never recovered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v, err := tx.Get(ctx, []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("get after PD came back: %q, %v", v, err)
	}
}
