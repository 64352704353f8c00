package pdclient

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Liveness is whether a store answers its gRPC health check.
type Liveness int32

const (
	// Reachable: the store answered (or was never suspected).
	Reachable Liveness = iota
	// Unreachable: the last health check failed. Requests avoid the store
	// until a background check sees it serving again.
	Unreachable
	// LivenessUnknown: the store answered that it is not serving, or no
	// check could say.
	LivenessUnknown
)

// String returns "reachable", "unreachable" or "unknown".
func (l Liveness) String() string {
	switch l {
	case Reachable:
		return "reachable"
	case Unreachable:
		return "unreachable"
	default:
		return "unknown"
	}
}

// Prober checks one store's health (client-go uses gRPC's health service on a
// dedicated connection). It must return within ctx.
type Prober func(ctx context.Context, addr string) Liveness

// Health is the client's view of one store: liveness, the client-side slow
// score and the one the store reports about itself, and how long TiKV said
// its queue would keep a new request waiting.
type Health struct {
	Liveness Liveness
	// SlowScore is the client-side estimate from request latencies, 1
	// (healthy) to 100; SlowScoreThreshold and above is slow.
	SlowScore int
	// ServerSlowScore is the slow score the store last reported in its
	// health feedback (TiKV's own raftstore/disk score, 1 to 100), decayed
	// while it goes unconfirmed; 0 when the store never reported one.
	ServerSlowScore int
	// EstimatedWait is what remains of the wait TiKV last reported in a
	// ServerIsBusy error.
	EstimatedWait time.Duration
	// LastFailure is the latest send failure reported for the store while
	// it is not reachable, nil otherwise.
	LastFailure error
}

// Slow reports whether either slow score is at or above the threshold:
// client-go counts a store slow when its own latency estimate or the
// store's reported score says so (HealthStatusDetail.IsSlow).
func (h Health) Slow() bool {
	return h.SlowScore >= SlowScoreThreshold || h.ServerSlowScore >= SlowScoreThreshold
}

// Slow-score constants (client-go internal/locate/slow_score.go).
const (
	// SlowScoreThreshold is the score from which a store counts as slow,
	// for the client-side score and the store's own alike (client-go's
	// tikvSlowScoreSlowThreshold is 80 too).
	SlowScoreThreshold = 80
	slowScoreMin       = 1
	slowScoreMax       = 100
	// A request at least this slow makes the store slow at once.
	slowRequestTime = 30 * time.Second
	slowWindow      = 10
	// defaultLivenessTimeout bounds one health check (client-go's
	// TiKVClient.StoreLivenessTimeout, 1s); WithLivenessTimeout changes it.
	defaultLivenessTimeout = time.Second
	// defaultHealthInterval is how often slow scores decay and unreachable
	// stores are checked again (client-go: 1s).
	defaultHealthInterval = time.Second
)

// storeHealth is the mutable health of one store. Fields are atomics or
// guarded by mu; one is created per store id and never replaced.
type storeHealth struct {
	liveness  atomic.Int32
	lastErr   atomic.Pointer[error] // latest reported send failure
	busyUntil atomic.Int64          // unix nanos until which TiKV said it is busy
	probing   atomic.Bool           // a background check is in flight
	// askingFeedback: a GetHealthFeedback request is in flight.
	askingFeedback atomic.Bool

	mu     sync.Mutex
	score  slowScore
	server serverScore
}

// slowScore follows client-go's client-side slow score: per tick it compares
// the interval's average latency with a sliding window; rising latency while
// throughput falls raises the score multiplicatively, anything else decays
// it. A single very slow request or an explicit mark sets it to the maximum.
type slowScore struct {
	score       float64
	avgLatency  float64 // sliding-window average, microseconds
	intervalSum float64 // latency sum of the current interval, microseconds
	intervalN   float64
	latencyHist []float64
	countHist   []float64
	initialized bool
}

func (s *slowScore) value() int {
	if !s.initialized {
		return slowScoreMin
	}
	return int(s.score)
}

func (s *slowScore) record(d time.Duration) {
	if !s.initialized {
		s.initialized, s.score, s.avgLatency = true, slowScoreMin, float64(500*time.Millisecond/time.Microsecond)
	}
	if d >= slowRequestTime {
		s.score = slowScoreMax
		return
	}
	s.intervalSum += float64(d / time.Microsecond)
	s.intervalN++
}

// window appends v to hist (capped at slowWindow) and returns the relative
// change of v against the previous average.
func window(hist *[]float64, v float64) float64 {
	prev := 0.0
	for _, x := range *hist {
		prev += x
	}
	if len(*hist) > 0 {
		prev /= float64(len(*hist))
	}
	*hist = append(*hist, v)
	if len(*hist) > slowWindow {
		*hist = (*hist)[1:]
	}
	if prev > 0 && v != prev {
		return (v - prev) / prev
	}
	return 1e-6
}

func (s *slowScore) tick() {
	if !s.initialized {
		return
	}
	countGrad, latGrad := 1.0, 1.0
	if s.intervalN > 0 {
		countGrad = window(&s.countHist, s.intervalN)
		latGrad = window(&s.latencyHist, s.intervalSum/s.intervalN)
	}
	if countGrad <= -0.1 && latGrad >= 0.1 {
		rise := math.Min(5.43, math.Abs(latGrad/countGrad))
		s.score = math.Ceil(math.Min(s.score*rise+1, slowScoreMax))
	} else {
		cost := math.Ceil(math.Max(slowScoreMin, math.Min(2.71, 1+math.Abs(countGrad))))
		s.score = math.Max(slowScoreMin, s.score-cost)
	}
	s.intervalSum, s.intervalN = 0, 0
}

func (s *slowScore) markSlow() {
	s.initialized = true
	s.score = slowScoreMax
}

// health returns the store's health record, creating it on first use.
func (c *RegionCache) health(id uint64) *storeHealth {
	c.healthMu.RLock()
	h := c.healths[id]
	c.healthMu.RUnlock()
	if h != nil {
		return h
	}
	c.healthMu.Lock()
	defer c.healthMu.Unlock()
	if h = c.healths[id]; h == nil {
		h = &storeHealth{}
		c.healths[id] = h
	}
	return h
}

// StoreHealth returns the client's current view of a store's health. Safe
// for concurrent use.
func (c *RegionCache) StoreHealth(id uint64) Health {
	h := c.health(id)
	h.mu.Lock()
	score, server := h.score.value(), h.server.score
	h.mu.Unlock()
	wait := time.Duration(h.busyUntil.Load() - time.Now().UnixNano())
	out := Health{
		Liveness:        Liveness(h.liveness.Load()),
		SlowScore:       score,
		ServerSlowScore: server,
		EstimatedWait:   max(wait, 0),
	}
	if p := h.lastErr.Load(); p != nil && out.Liveness != Reachable {
		out.LastFailure = *p
	}
	return out
}

// ReportLatency feeds one request's duration to the store's slow score.
func (c *RegionCache) ReportLatency(id uint64, d time.Duration) {
	h := c.health(id)
	h.mu.Lock()
	h.score.record(d)
	h.mu.Unlock()
}

// ReportBusy records TiKV's ServerIsBusy: with an estimated wait the store
// is avoided by reads that set a busy threshold until the wait has passed;
// without one (the read pool rejected the request outright) the store is
// marked slow, as client-go does.
func (c *RegionCache) ReportBusy(id uint64, estimatedWait time.Duration) {
	h := c.health(id)
	if estimatedWait > 0 {
		h.busyUntil.Store(time.Now().Add(estimatedWait).UnixNano())
		return
	}
	h.mu.Lock()
	h.score.markSlow()
	h.mu.Unlock()
}

// ReportSendFailure is called when a send to the store failed with cause. It checks
// the store's health (one check per store at a time, however many requests
// fail) and returns the outcome; an unreachable store is marked slow, its
// address is re-resolved on next use, and it is checked again in the
// background every health interval until it serves. Without a Prober the
// store is assumed reachable. Safe for concurrent use.
func (c *RegionCache) ReportSendFailure(ctx context.Context, id uint64, cause error) Liveness {
	c.OnStoreFailure(id)
	if cause != nil {
		c.health(id).lastErr.Store(&cause)
	}
	if c.cfg.prober == nil {
		return Reachable
	}
	store, err := c.Store(ctx, id)
	if err != nil {
		return LivenessUnknown
	}
	h := c.health(id)
	l, err := shared(c, ctx, "p"+strconv.FormatUint(id, 10), func(ctx context.Context) (Liveness, error) {
		return c.probe(ctx, h, store.Addr), nil
	})
	if err != nil {
		return Liveness(h.liveness.Load())
	}
	return l
}

// probe runs one health check and records it.
func (c *RegionCache) probe(ctx context.Context, h *storeHealth, addr string) Liveness {
	pctx, cancel := context.WithTimeout(ctx, c.cfg.livenessTimeout)
	defer cancel()
	l := c.cfg.prober(pctx, addr)
	prev := Liveness(h.liveness.Swap(int32(l)))
	if l != Reachable && prev == Reachable {
		h.mu.Lock()
		h.score.markSlow()
		h.mu.Unlock()
	}
	return l
}

// healthLoop decays slow scores, re-checks stores that are not reachable and
// refreshes stale TiKV-side scores, once per health interval, until Close.
func (c *RegionCache) healthLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.healthInterval)
	defer t.Stop()
	for {
		select {
		case <-c.base.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		c.healthMu.RLock()
		ids := make([]uint64, 0, len(c.healths))
		for id := range c.healths {
			ids = append(ids, id)
		}
		c.healthMu.RUnlock()
		for _, id := range ids {
			h := c.health(id)
			h.mu.Lock()
			h.score.tick()
			h.mu.Unlock()
			c.tickServerScore(id, h, now)
			if c.cfg.prober != nil && Liveness(h.liveness.Load()) != Reachable && h.probing.CompareAndSwap(false, true) {
				c.wg.Add(1)
				go c.recheck(id, h)
			}
		}
	}
}

// recheck probes a store that is not reachable, re-resolving its address
// first (it may have moved), and clears the probing flag.
func (c *RegionCache) recheck(id uint64, h *storeHealth) {
	defer c.wg.Done()
	defer h.probing.Store(false)
	c.OnStoreFailure(id)
	store, err := c.Store(c.base, id)
	if errors.Is(err, ErrStoreTombstone) {
		// Removed from the cluster: stop watching it.
		c.healthMu.Lock()
		delete(c.healths, id)
		c.healthMu.Unlock()
		return
	}
	if err != nil {
		return
	}
	c.probe(c.base, h, store.Addr)
}
