package txn

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
)

// DefaultSafeTSUpdateInterval is how often a Client refreshes the stores'
// safe ts once MinSafeTS was asked for (client-go's safeTSUpdateInterval).
const DefaultSafeTSUpdateInterval = 2 * time.Second

// WithSafeTSUpdateInterval sets how often the client refreshes the stores'
// safe ts for MinSafeTS (default DefaultSafeTSUpdateInterval); d <= 0
// keeps the default.
func WithSafeTSUpdateInterval(d time.Duration) Option {
	return func(c *clientConfig) { c.safeTSInterval = d }
}

// MinSafeTS returns the smallest safe ts of the cluster's stores (client-go's
// KVStore.GetMinSafeTS(oracle.GlobalTxnScope)): every replica can serve a
// stale read at or below it, so it is the newest ts a stale read can use
// without meeting DataIsNotReady. It is 0 while unknown: before the first
// refresh, and while any store has not answered yet.
//
// The first call starts the refresh goroutine, which asks every store for
// its safe ts (GetStoreSafeTS) at once and then every update interval
// (WithSafeTSUpdateInterval) until Close; a client that never asks pays
// nothing (client-go refreshes from the start). A store's safe ts never
// moves backwards here, whatever a store answers, and a store whose answer
// is 0 (no initialised peer) is left out of the minimum. Safe for
// concurrent use.
func (c *Client) MinSafeTS() uint64 {
	c.safeTS.start()
	return c.safeTS.min.Load()
}

// safeTSTracker keeps the safe ts of every store, refreshed by a goroutine
// it owns from its start to close.
type safeTSTracker struct {
	plan     pipeline.Plan[*kvrpcpb.StoreSafeTSRequest, []pipeline.StoreResult[*kvrpcpb.StoreSafeTSResponse]]
	interval time.Duration

	min atomic.Uint64

	mu      sync.Mutex
	stores  map[uint64]uint64 // store id -> safe ts
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func newSafeTSTracker(env *pipeline.Env, interval time.Duration) *safeTSTracker {
	if interval <= 0 {
		interval = DefaultSafeTSUpdateInterval
	}
	return &safeTSTracker{plan: pipeline.AllStores(env, plans.GetStoreSafeTS), interval: interval,
		stores: make(map[uint64]uint64)}
}

// start starts the refresh goroutine unless it runs or the tracker closed.
func (t *safeTSTracker) start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.started || t.closed {
		return
	}
	t.started = true
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel, t.done = cancel, make(chan struct{})
	go t.loop(ctx)
}

// close stops the refresh goroutine and waits for it. Idempotent.
func (t *safeTSTracker) close() {
	t.mu.Lock()
	t.closed = true
	cancel, done := t.cancel, t.done
	t.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (t *safeTSTracker) loop(ctx context.Context) {
	defer close(t.done)
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	for {
		t.update(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// update asks every store for its safe ts and recomputes the minimum. A
// store that fails keeps what it had (client-go); if the stores cannot be
// listed, nothing changes.
func (t *safeTSTracker) update(ctx context.Context) {
	// An empty range asks for the whole store (the keyspace middleware
	// narrows it to the client's keyspace).
	results, err := t.plan(ctx, &kvrpcpb.StoreSafeTSRequest{KeyRange: &kvrpcpb.KeyRange{}})
	if err != nil && len(results) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]uint64, 0, len(results))
	for _, r := range results {
		id := r.Store.ID
		ids = append(ids, id)
		if r.Err != nil {
			continue
		}
		ts := r.Resp.GetSafeTs()
		if ts == math.MaxUint64 {
			// Never a real safe ts: it would let stale reads read
			// anything (client-go refuses to store it).
			continue
		}
		if prev, ok := t.stores[id]; ok && prev > ts {
			continue // a safe ts never moves backwards
		}
		t.stores[id] = ts
	}
	t.min.Store(minSafeTS(t.stores, ids))
}

// minSafeTS is the minimum over the stores ids of their safe ts, skipping
// zeros (stores without an initialised peer); a store with no value yet
// makes it 0, and so do no stores or all zeros (client-go's
// updateMinSafeTS).
func minSafeTS(stores map[uint64]uint64, ids []uint64) uint64 {
	out := uint64(math.MaxUint64)
	for _, id := range ids {
		ts, ok := stores[id]
		if !ok {
			return 0
		}
		if ts != 0 && ts < out {
			out = ts
		}
	}
	if out == math.MaxUint64 {
		return 0
	}
	return out
}
