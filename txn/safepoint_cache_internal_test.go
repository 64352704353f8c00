package txn

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/tikv/pd/client/clients/gc"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
)

// advance moves the in-process PD's txn safe point as the GC worker would.
func advance(t *testing.T, mock *mocktikv.Cluster, target uint64) {
	t.Helper()
	ctl := mock.PD().(interface {
		GetGCInternalController(uint32) gc.InternalController
	}).GetGCInternalController(pdclient.NullKeyspaceID)
	if _, err := ctl.AdvanceTxnSafePoint(context.Background(), target); err != nil {
		t.Fatalf("advance txn safe point: %v", err)
	}
}

// TestSafePointCacheRefresh runs the cache on the in-process PD in
// virtual time: a check answers from the last read, without PD (a safe
// point PD moved is seen only at the next refresh, client-go's 10 s
// pollTxnSafePointInterval); when reads fail, checks keep trusting the
// cache up to MaxAge (client-go: GcStateCacheInterval less
// gcCPUTimeInaccuracyBound, 90 s) and then fail with a
// *StaleSafePointError wrapping kv.ErrPDUnavailable and PD's error, until
// a retry (1 s later, pollTxnSafePointQuickRepeatInterval) succeeds.
// Ports client-go tikv/kv.go CheckVisibility and runTxnSafePointUpdater.
func TestSafePointCacheRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		mock := mocktikv.NewCluster()
		defer mock.Close()
		c := NewSafePointCache(mock.PD(), pdclient.NullKeyspaceID, SafePointCacheOptions{})
		defer c.Close()

		// The first check waits for the first read.
		if err := c.CheckVisibility(ctx, 5); err != nil {
			t.Fatalf("check after the first read: %v", err)
		}
		advance(t, mock, 100)
		if err := c.CheckVisibility(ctx, 50); err != nil {
			t.Fatalf("check before the refresh sees the cached safe point 0: %v", err)
		}
		time.Sleep(DefaultSafePointRefresh)
		synctest.Wait() // the refresh at 10 s has answered
		var gcErr *kv.TxnAbortedByGCError
		if err := c.CheckVisibility(ctx, 50); !errors.As(err, &gcErr) || *gcErr != (kv.TxnAbortedByGCError{StartTS: 50, SafePoint: 100}) {
			t.Fatalf("check below the refreshed safe point: %v", err)
		}
		if err := c.CheckVisibility(ctx, 100); err != nil {
			t.Fatalf("check at the safe point: %v", err)
		}

		// PD stops answering right after the successful read at 10 s.
		down := errors.New("pd down")
		mock.FailPD("GetGCState", down, 0)
		time.Sleep(DefaultSafePointMaxAge)
		synctest.Wait()
		// Exactly MaxAge since the last success: still trusted.
		if err := c.CheckVisibility(ctx, 100); err != nil {
			t.Fatalf("check at MaxAge: %v", err)
		}
		time.Sleep(time.Millisecond)
		var stale *StaleSafePointError
		err := c.CheckVisibility(ctx, 100)
		if !errors.As(err, &stale) || !errors.Is(err, kv.ErrPDUnavailable) || !errors.Is(err, down) {
			t.Fatalf("check past MaxAge: got %v, want a *StaleSafePointError wrapping PD's error", err)
		}
		if stale.Age != DefaultSafePointMaxAge+time.Millisecond || stale.StartTS != 100 {
			t.Fatalf("stale error %+v", *stale)
		}

		// PD is back: the next retry (every second after a failure)
		// refreshes the cache.
		mock.ClearPDFaults()
		time.Sleep(DefaultSafePointRetry)
		synctest.Wait()
		if err := c.CheckVisibility(ctx, 100); err != nil {
			t.Fatalf("check after PD came back: %v", err)
		}
	})
}

// TestSafePointCacheFirstReadFails: a cache whose first read failed
// vouches for nothing (client-go fails NewKVStore instead; a Client here
// cannot fail, so its reads fail until a read succeeds), and a check
// waiting for the first read gives up with its ctx.
func TestSafePointCacheFirstReadFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mock := mocktikv.NewCluster()
		defer mock.Close()
		down := errors.New("pd down")
		mock.FailPD("GetGCState", down, 1)
		c := NewSafePointCache(mock.PD(), pdclient.NullKeyspaceID, SafePointCacheOptions{})
		defer c.Close()
		var stale *StaleSafePointError
		err := c.CheckVisibility(context.Background(), 1)
		if !errors.As(err, &stale) || stale.Age != 0 || !errors.Is(err, down) {
			t.Fatalf("check with no successful read: %v", err)
		}
		time.Sleep(DefaultSafePointRetry)
		synctest.Wait()
		if err := c.CheckVisibility(context.Background(), 1); err != nil {
			t.Fatalf("check after the retry: %v", err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		mock := mocktikv.NewCluster()
		defer mock.Close()
		mock.DelayPD("GetGCState", time.Hour)
		c := NewSafePointCache(mock.PD(), pdclient.NullKeyspaceID, SafePointCacheOptions{})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := c.CheckVisibility(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("check while the first read hangs: %v", err)
		}
	})
}

// keyspaceRecorder is a PD whose GC states client notes the keyspace it
// was asked for; nothing else of it is used.
type keyspaceRecorder struct {
	pdclient.PD
	mu    sync.Mutex
	asked []uint32
}

func (p *keyspaceRecorder) GetGCStatesClient(ks uint32) gc.GCStatesClient {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, ks)
	return fixedGCState{}
}

type fixedGCState struct{ gc.GCStatesClient }

func (fixedGCState) GetGCState(context.Context, ...gc.GCStatesAPIOption) (gc.GCState, error) {
	return gc.NewGCStateWithoutGCBarriers(pdclient.NullKeyspaceID, 7, 7), nil
}

// keyspaceBackend is a Backend with a keyspace and API version.
type keyspaceBackend struct {
	Backend
	pd  *keyspaceRecorder
	ks  uint32
	ver kvrpcpb.APIVersion
}

func (b keyspaceBackend) PD() pdclient.PD                { return b.pd }
func (b keyspaceBackend) KeyspaceID() uint32             { return b.ks }
func (b keyspaceBackend) APIVersion() kvrpcpb.APIVersion { return b.ver }

// TestSafePointCacheKeyspace: the client reads the GC states of its own
// keyspace under API v2 and of the null keyspace under API v1, as
// client-go passes its codec's keyspace id (the null id for v1) to
// GetGCStatesClient (tikv/kv.go NewKVStore).
func TestSafePointCacheKeyspace(t *testing.T) {
	for _, tc := range []struct {
		ver  kvrpcpb.APIVersion
		ks   uint32
		want uint32
	}{
		{kvrpcpb.APIVersion_V2, 3, 3},
		{kvrpcpb.APIVersion_V1, 0, pdclient.NullKeyspaceID},
		{kvrpcpb.APIVersion_V1TTL, 0, pdclient.NullKeyspaceID},
	} {
		pd := &keyspaceRecorder{}
		check, cache := startSafePointCheck(keyspaceBackend{pd: pd, ks: tc.ks, ver: tc.ver}, safePointConfig{})
		if err := check.CheckVisibility(context.Background(), 6); !errors.Is(err, kv.ErrTxnAbortedByGC) {
			t.Fatalf("%v: check below the fake safe point 7: %v", tc.ver, err)
		}
		cache.Close()
		pd.mu.Lock()
		if len(pd.asked) == 0 || pd.asked[0] != tc.want {
			t.Errorf("%v keyspace %d: read the GC states of %v, want %d", tc.ver, tc.ks, pd.asked, tc.want)
		}
		pd.mu.Unlock()
	}
	// A Backend that cannot read GC states gets no check.
	if check, cache := startSafePointCheck(plainBackend{}, safePointConfig{}); check != nil || cache != nil {
		t.Fatalf("backend without PD: got a checker %v", check)
	}
}

type plainBackend struct{}

func (plainBackend) EnvFor(kv.KeyMode) *pipeline.Env { return nil }
func (plainBackend) Oracle() *pdclient.Oracle        { return nil }
