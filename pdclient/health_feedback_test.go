package pdclient

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// feedbackStore is a FeedbackRequester standing in for a store's
// GetHealthFeedback: it answers by recording score (as the batch client
// does with the feedback attached to the answer), fails with fail, or,
// with hold, waits for ctx to end.
type feedbackStore struct {
	c *RegionCache

	mu        sync.Mutex
	score     int
	fail      error
	hold      bool
	calls     []string        // addresses asked
	deadlines []time.Duration // time left on ctx when called
}

func (f *feedbackStore) request(ctx context.Context, storeID uint64, addr string) error {
	f.mu.Lock()
	f.calls = append(f.calls, addr)
	if dl, ok := ctx.Deadline(); ok {
		f.deadlines = append(f.deadlines, time.Until(dl))
	}
	score, fail, hold := f.score, f.fail, f.hold
	f.mu.Unlock()
	if hold {
		<-ctx.Done()
		return ctx.Err()
	}
	if fail != nil {
		return fail
	}
	f.c.RecordHealthFeedback(storeID, score)
	return nil
}

func (f *feedbackStore) set(score int, fail error, hold bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.score, f.fail, f.hold = score, fail, hold
}

func (f *feedbackStore) asked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// feedbackCache is a cache that knows stores 1 and 2 (PD knows 3 too, but
// the cache has not resolved it).
func feedbackCache(t *testing.T, opts ...CacheOption) *RegionCache {
	t.Helper()
	pd := newFakePD(region(1, "", "", 1, 1, 1, 2))
	for id, addr := range map[uint64]string{1: "s1", 2: "s2", 3: "s3"} {
		pd.setStore(&metapb.Store{Id: id, Address: addr})
	}
	c := NewRegionCache(pd, opts...)
	t.Cleanup(c.Close)
	for _, id := range []uint64{1, 2} {
		if _, err := c.Store(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestHealthFeedbackMakesStoreSlow ports client-go's
// TestRegionCacheHandleHealthStatus (internal/locate/region_cache_test.go),
// with TestHealthFeedbackRateLimited: TiKV's health feedback sets the
// store's TiKV-side score (slow from 80), other stores are unaffected.
func TestHealthFeedbackMakesStoreSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := feedbackCache(t)
		check.Equal(t, 0, c.StoreHealth(1).ServerSlowScore, "no feedback yet")

		c.RecordHealthFeedback(1, 80)
		h := c.StoreHealth(1)
		check.Equal(t, 80, h.ServerSlowScore)
		check.Equal(t, 1, h.SlowScore, "the client-side estimate is kept apart")
		check.Equal(t, true, h.Slow(), "a TiKV-side score of 80 is slow")
		check.Equal(t, false, c.StoreHealth(2).Slow(), "another store is unaffected")

		time.Sleep(feedbackMinInterval)
		c.RecordHealthFeedback(1, 79)
		check.Equal(t, false, c.StoreHealth(1).Slow(), "79 is under the threshold")

		c.RecordHealthFeedback(3, 100)
		c.RecordHealthFeedback(9, 100)
		check.Equal(t, 0, c.StoreHealth(3).ServerSlowScore, "a store the cache has not resolved is ignored")
		check.Equal(t, 0, c.StoreHealth(9).ServerSlowScore, "an unknown store is ignored")
	})
}

// TestHealthFeedbackRateLimited ports the rate limit of client-go's
// TestRegionCacheHandleHealthStatus (internal/locate/region_cache_test.go):
// feedback within 100ms of the last change is dropped.
func TestHealthFeedbackRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := feedbackCache(t)
		c.RecordHealthFeedback(1, 90)
		time.Sleep(feedbackMinInterval - time.Millisecond)
		c.RecordHealthFeedback(1, 20)
		check.Equal(t, 90, c.StoreHealth(1).ServerSlowScore, "a change within 100ms is dropped")
		time.Sleep(time.Millisecond)
		c.RecordHealthFeedback(1, 20)
		check.Equal(t, 20, c.StoreHealth(1).ServerSlowScore, "100ms after the last change")
	})
}

// TestHealthFeedbackDecaysWithoutRequester ports client-go's
// TestTiKVSideSlowScore (internal/locate/region_cache_test.go): the
// TiKV-side score holds while confirmed, then decays on the health tick
// when no feedback refreshes it, down to 1 and no lower.
func TestHealthFeedbackDecaysWithoutRequester(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := feedbackCache(t)
		c.RecordHealthFeedback(1, 100)
		c.RecordHealthFeedback(2, 1)

		// Confirmed within 15s: no decay.
		time.Sleep(10 * time.Second)
		c.RecordHealthFeedback(1, 100)
		time.Sleep(14500 * time.Millisecond)
		check.Equal(t, 100, c.StoreHealth(1).ServerSlowScore, "confirmed 14.5s ago")

		// Unconfirmed for 15s (the tick at 25s): 100 - 15s*20/60 = 95,
		// then 5 less every further 15s.
		time.Sleep(time.Second)
		check.Equal(t, 95, c.StoreHealth(1).ServerSlowScore)
		time.Sleep(15 * time.Second)
		check.Equal(t, 90, c.StoreHealth(1).ServerSlowScore)
		time.Sleep(30 * time.Second)
		h := c.StoreHealth(1)
		check.Equal(t, 80, h.ServerSlowScore)
		check.Equal(t, true, h.Slow())
		time.Sleep(15 * time.Second)
		check.Equal(t, false, c.StoreHealth(1).Slow(), "decayed under the threshold")

		// Down to 1 and no lower; 1 stays 1.
		time.Sleep(10 * time.Minute)
		check.Equal(t, 1, c.StoreHealth(1).ServerSlowScore)
		check.Equal(t, 1, c.StoreHealth(2).ServerSlowScore)
	})
}

func TestHealthFeedbackRequestedWhenStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &feedbackStore{score: 100}
		c := feedbackCache(t, WithFeedbackRequester(f.request))
		f.c = c
		c.RecordHealthFeedback(1, 100)
		c.RecordHealthFeedback(2, 1)

		time.Sleep(14500 * time.Millisecond)
		check.Equal(t, 0, f.asked(), "not stale yet")
		time.Sleep(time.Second)
		synctest.Wait()
		must.Equal(t, 1, f.asked(), "asked once at 15s")
		check.Equal(t, "s1", f.calls[0], "only the store whose score is above 1")
		check.Equal(t, feedbackRequestTimeout, f.deadlines[0])
		check.Equal(t, 100, c.StoreHealth(1).ServerSlowScore, "the answer confirmed it: no decay")

		time.Sleep(15 * time.Second)
		synctest.Wait()
		check.Equal(t, 2, f.asked(), "asked again 15s after the answer")

		// The store stops answering: each failed request lets the score
		// decay.
		f.set(0, errors.New("unavailable"), false)
		time.Sleep(15 * time.Second)
		synctest.Wait()
		check.Equal(t, 3, f.asked())
		check.Equal(t, 95, c.StoreHealth(1).ServerSlowScore)

		// A request that hangs is cut at 2s, then the score decays.
		f.set(0, nil, true)
		time.Sleep(15 * time.Second)
		synctest.Wait()
		check.Equal(t, 4, f.asked())
		check.Equal(t, 95, c.StoreHealth(1).ServerSlowScore, "still waiting for the answer")
		time.Sleep(feedbackRequestTimeout)
		synctest.Wait()
		check.Equal(t, 90, c.StoreHealth(1).ServerSlowScore)
	})
}

func TestHealthFeedbackNotRequestedFromUnreachableStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &feedbackStore{score: 100}
		p := &probeScript{}
		p.answer.Store(int32(Unreachable))
		pd := newFakePD(region(1, "", "", 1, 1, 1))
		pd.setStore(&metapb.Store{Id: 1, Address: "s1"})
		c := NewRegionCache(pd, WithProber(p.probe), WithFeedbackRequester(f.request))
		defer c.Close()
		f.c = c
		if _, err := c.Store(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		c.RecordHealthFeedback(1, 100)
		c.ReportSendFailure(context.Background(), 1, errBoom)
		time.Sleep(15500 * time.Millisecond)
		synctest.Wait()
		check.Equal(t, 0, f.asked(), "an unreachable store is not asked")
		check.Equal(t, 95, c.StoreHealth(1).ServerSlowScore, "its score decays instead")
	})
}

func TestHealthFeedbackRequestStopsOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &feedbackStore{hold: true}
		pd := newFakePD(region(1, "", "", 1, 1, 1))
		pd.setStore(&metapb.Store{Id: 1, Address: "s1"})
		c := NewRegionCache(pd, WithFeedbackRequester(f.request))
		f.c = c
		if _, err := c.Store(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		c.RecordHealthFeedback(1, 100)
		time.Sleep(15500 * time.Millisecond)
		synctest.Wait()
		check.Equal(t, 1, f.asked(), "a request is in flight")
		start := time.Now()
		c.Close() // waits for the request, which Close's cancel ends
		check.Equal(t, time.Duration(0), time.Since(start), "Close cancels the request rather than waiting it out")
	})
}
