package pdclient

import (
	"context"
	"math"
	"time"
)

// TiKV-side slow score handling, following client-go
// (internal/locate/store_cache.go, StoreHealthStatus.tikvSideSlowScore).
const (
	// feedbackMinInterval: a store's TiKV-side score changes at most once
	// per this interval; a different score arriving sooner is dropped.
	feedbackMinInterval = 100 * time.Millisecond
	// feedbackStaleAfter: a score above 1 not confirmed for this long is
	// asked for again, and decays if that fails.
	feedbackStaleAfter = 15 * time.Second
	// feedbackDecayPerSecond is the linear decay of a stale score: 20 per
	// minute, down to 1.
	feedbackDecayPerSecond = 20.0 / 60.0
	// feedbackRequestTimeout bounds one GetHealthFeedback request
	// (client-go's getHealthFeedbackTimeout).
	feedbackRequestTimeout = 2 * time.Second
)

// FeedbackRequester asks the store storeID at addr for its health feedback
// (TiKV's GetHealthFeedback). The answer is expected to come back through
// RecordHealthFeedback, as it does when the request travels on a
// BatchCommands stream, which attaches the feedback to its response; the
// requester need only report whether the request failed. It must return
// within ctx, which carries a two-second timeout.
type FeedbackRequester func(ctx context.Context, storeID uint64, addr string) error

// WithFeedbackRequester sets how the cache asks a store for fresh health
// feedback when the TiKV-side slow score it holds for the store is above 1
// and has not been confirmed for 15 seconds. Without one (or while the
// store is not reachable) such a score simply decays.
func WithFeedbackRequester(r FeedbackRequester) CacheOption {
	return func(c *cacheConfig) { c.feedback = r }
}

// serverScore is the slow score a store reports about itself (TiKV's
// health feedback), as the client last recorded it. Guarded by
// storeHealth.mu.
type serverScore struct {
	score    int       // 0 until the store first reports
	updated  time.Time // when score was last set or confirmed
	reported bool      // the store has sent feedback that was recorded
}

// record takes a score the store reported at now. A repeat of the current
// score only confirms it (and keeps a score above 1 from going stale); a
// new score is dropped if the last change was under feedbackMinInterval
// ago.
func (s *serverScore) record(score int, now time.Time) {
	if score == s.score {
		if score > 1 {
			s.updated = now
		}
		return
	}
	if !s.updated.IsZero() && now.Sub(s.updated) < feedbackMinInterval {
		return
	}
	s.score, s.updated, s.reported = score, now, true
}

// stale reports whether a score above 1 has gone unconfirmed for
// feedbackStaleAfter at now. A score of 1 is never refreshed: a healthy
// store nobody sends to stays healthy.
func (s *serverScore) stale(now time.Time) bool {
	return s.reported && s.score > 1 && now.Sub(s.updated) >= feedbackStaleAfter
}

// decay lowers a stale score linearly with the time since it was last set,
// to no less than 1, and restarts the staleness clock.
func (s *serverScore) decay(now time.Time) {
	if !s.stale(now) {
		return
	}
	elapsed := now.Sub(s.updated).Seconds()
	s.score = max(int(math.Round(float64(s.score)-feedbackDecayPerSecond*elapsed)), slowScoreMin)
	s.updated = now
}

// RecordHealthFeedback records the slow score store storeID reported about
// itself (kvrpcpb.HealthFeedback.slow_score), which the store's Health
// reports as ServerSlowScore. Feedback from a store the cache does not know
// (or knows as tombstone) is ignored, as client-go ignores it; so is a
// changed score within 100ms of the last change. The feedback's sequence
// number is not needed to take a score, and client-go does not check it
// either. Safe for concurrent use; it does not block.
func (c *RegionCache) RecordHealthFeedback(storeID uint64, slowScore int) {
	c.storeMu.RLock()
	e := c.stores[storeID]
	c.storeMu.RUnlock()
	if e == nil || e.tombstone {
		return
	}
	h := c.health(storeID)
	h.mu.Lock()
	h.server.record(slowScore, time.Now())
	h.mu.Unlock()
}

// tickServerScore runs on each health tick for a store: a stale TiKV-side
// score is asked for again in the background when the store is reachable
// and a FeedbackRequester is set (one request per store at a time), and
// decays otherwise.
func (c *RegionCache) tickServerScore(id uint64, h *storeHealth, now time.Time) {
	h.mu.Lock()
	stale := h.server.stale(now)
	h.mu.Unlock()
	if !stale {
		return
	}
	if c.cfg.feedback != nil && Liveness(h.liveness.Load()) == Reachable {
		if h.askingFeedback.CompareAndSwap(false, true) {
			c.wg.Add(1)
			go c.refreshServerScore(id, h, now)
		}
		return
	}
	h.mu.Lock()
	h.server.decay(now)
	h.mu.Unlock()
}

// refreshServerScore asks the store for its feedback and, if none arrived
// meanwhile (the request failed, or its answer carried none), decays the
// score as of the tick that found it stale.
func (c *RegionCache) refreshServerScore(id uint64, h *storeHealth, tick time.Time) {
	defer c.wg.Done()
	defer h.askingFeedback.Store(false)
	if store, err := c.Store(c.base, id); err == nil && store.Addr != "" {
		ctx, cancel := context.WithTimeout(c.base, feedbackRequestTimeout)
		_ = c.cfg.feedback(ctx, id, store.Addr) // a failure shows as no fresh score
		cancel()
	}
	h.mu.Lock()
	h.server.decay(tick)
	h.mu.Unlock()
}
