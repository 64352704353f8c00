package pdclient

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// probeScript is a Prober whose answer the test sets; it counts calls and
// can hold them to show that concurrent failures share one check.
type probeScript struct {
	calls  atomic.Int32
	answer atomic.Int32
	gate   chan struct{}
}

func (p *probeScript) probe(ctx context.Context, addr string) Liveness {
	p.calls.Add(1)
	if p.gate != nil {
		select {
		case <-p.gate:
		case <-ctx.Done():
			return Unreachable
		}
	}
	return Liveness(p.answer.Load())
}

var errBoom = errors.New("boom")

func healthCache(t *testing.T, p *probeScript, opts ...CacheOption) *RegionCache {
	t.Helper()
	pd := newFakePD(region(1, "", "", 1, 1, 1, 2))
	pd.setStore(&metapb.Store{Id: 1, Address: "s1"})
	pd.setStore(&metapb.Store{Id: 2, Address: "s2"})
	c := NewRegionCache(pd, append([]CacheOption{WithProber(p.probe)}, opts...)...)
	t.Cleanup(c.Close)
	return c
}

func TestSendFailureProbesOncePerStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &probeScript{gate: make(chan struct{})}
		p.answer.Store(int32(Unreachable))
		c := healthCache(t, p)
		var wg sync.WaitGroup
		results := make([]Liveness, 20)
		for i := range results {
			wg.Go(func() { results[i] = c.ReportSendFailure(context.Background(), 1, errBoom) })
		}
		synctest.Wait()
		close(p.gate)
		wg.Wait()
		if n := p.calls.Load(); n != 1 {
			t.Fatalf("%d probes for 20 concurrent failures, want 1", n)
		}
		for _, l := range results {
			if l != Unreachable {
				t.Fatalf("results %v", results)
			}
		}
		h := c.StoreHealth(1)
		if h.Liveness != Unreachable || !h.Slow() || !errors.Is(h.LastFailure, errBoom) {
			t.Fatalf("health = %+v, want unreachable, slow, with the send failure", h)
		}
		if c.StoreHealth(2).Liveness != Reachable {
			t.Fatal("another store was affected")
		}
	})
}

func TestUnreachableStoreRecoversInBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &probeScript{}
		p.answer.Store(int32(Unreachable))
		c := healthCache(t, p)
		if l := c.ReportSendFailure(context.Background(), 1, errBoom); l != Unreachable {
			t.Fatalf("liveness %v", l)
		}
		time.Sleep(3500 * time.Millisecond)
		if n := p.calls.Load(); n < 3 || n > 5 {
			t.Fatalf("%d checks in 3.5s, want one per second", n)
		}
		p.answer.Store(int32(Reachable))
		time.Sleep(1500 * time.Millisecond)
		if l := c.StoreHealth(1).Liveness; l != Reachable {
			t.Fatalf("liveness after the store came back = %v", l)
		}
		calls := p.calls.Load()
		time.Sleep(3 * time.Second)
		if p.calls.Load() != calls {
			t.Fatal("a reachable store is still being checked")
		}
	})
}

func TestWithoutProberStoresStayReachable(t *testing.T) {
	pd := newFakePD(region(1, "", "", 1, 1, 1))
	pd.setStore(&metapb.Store{Id: 1, Address: "s1"})
	c := NewRegionCache(pd)
	defer c.Close()
	if l := c.ReportSendFailure(context.Background(), 1, errBoom); l != Reachable {
		t.Fatalf("liveness %v", l)
	}
}

func TestReportBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := healthCache(t, &probeScript{})
		c.ReportBusy(1, 300*time.Millisecond)
		if w := c.StoreHealth(1).EstimatedWait; w != 300*time.Millisecond {
			t.Fatalf("estimated wait %v", w)
		}
		time.Sleep(200 * time.Millisecond)
		if w := c.StoreHealth(1).EstimatedWait; w != 100*time.Millisecond {
			t.Fatalf("estimated wait after 200ms = %v, want it to count down", w)
		}
		if c.StoreHealth(1).Slow() {
			t.Fatal("a busy reply with a wait must not mark the store slow")
		}
		c.ReportBusy(1, 0)
		if !c.StoreHealth(1).Slow() {
			t.Fatal("ServerIsBusy without an estimated wait marks the store slow (client-go)")
		}
	})
}

// TestSlowScoreRisesAndDecays ports client-go's TestSlowScoreStat
// (internal/locate/region_cache_test.go): the client-side slow score stays
// low under steady latency, rises as latency grows, is slow at once after a
// very long request, and decays when quiet.
func TestSlowScoreRisesAndDecays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := healthCache(t, &probeScript{})
		if got := c.StoreHealth(1).SlowScore; got != 1 {
			t.Fatalf("initial score %d", got)
		}
		// Steady fast traffic for a few ticks.
		for range 5 {
			for range 50 {
				c.ReportLatency(1, time.Millisecond)
			}
			time.Sleep(time.Second)
		}
		if got := c.StoreHealth(1).SlowScore; got != 1 {
			t.Fatalf("score under steady traffic = %d", got)
		}
		// Latency rises while throughput falls: the score climbs.
		for range 6 {
			for range 5 {
				c.ReportLatency(1, 200*time.Millisecond)
			}
			time.Sleep(time.Second)
		}
		high := c.StoreHealth(1).SlowScore
		if high <= 1 {
			t.Fatalf("score after degradation = %d, want it raised", high)
		}
		// A 30s request makes the store slow at once.
		c.ReportLatency(1, 31*time.Second)
		if !c.StoreHealth(1).Slow() {
			t.Fatal("a request over 30s must mark the store slow")
		}
		// Idle ticks decay it back below the threshold.
		time.Sleep(60 * time.Second)
		if s := c.StoreHealth(1).SlowScore; s >= SlowScoreThreshold {
			t.Fatalf("score after a quiet minute = %d", s)
		}
	})
}

func TestTombstoneStoreStopsBeingChecked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &probeScript{}
		p.answer.Store(int32(Unreachable))
		pd := newFakePD(region(1, "", "", 1, 1, 1))
		pd.setStore(&metapb.Store{Id: 1, Address: "s1"})
		c := NewRegionCache(pd, WithProber(p.probe))
		defer c.Close()
		c.ReportSendFailure(context.Background(), 1, errBoom)
		pd.setStore(&metapb.Store{Id: 1, Address: "s1", State: metapb.StoreState_Tombstone})
		time.Sleep(2500 * time.Millisecond)
		calls := p.calls.Load()
		time.Sleep(3 * time.Second)
		if p.calls.Load() != calls {
			t.Fatal("a tombstone store is still checked")
		}
	})
}
