package txn

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/pdclient"
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
// refresh, and while any store has not answered yet; never MaxUint64.
//
// The first call starts the refresh goroutine, which refreshes at once and
// then every update interval (WithSafeTSUpdateInterval) until Close; a
// client that never asks pays nothing (client-go refreshes from the
// start). A refresh first asks PD's min-resolved-ts API for the cluster's
// value when the client's PD offers it (pdclient.MinResolvedTSReader);
// when PD has no usable value (0, MaxUint64, an error), it asks PD for
// each store's, and asks GetStoreSafeTS of the stores PD has none for. A
// store's safe ts never moves backwards here, whatever the source says,
// and a store whose safe ts is 0 (no initialised peer) is left out of the
// minimum. Safe for concurrent use.
func (c *Client) MinSafeTS() uint64 {
	c.safeTS.start()
	return c.safeTS.min.Load()
}

// ZoneLabelKey is the store label MinSafeTSInZone groups stores by
// (client-go's DCLabelKey): the zone (data centre) a store runs in, as
// set with TiKV's server.labels.
const ZoneLabelKey = middleware.ZoneLabelKey

// MinSafeTSInZone is MinSafeTS over the stores labelled zone=zone only
// (client-go's KVStore.GetMinSafeTS with a zone as the scope): the newest
// ts a stale read served by replicas in that zone can use. It is 0 for a
// zone no store is labelled with, and until the stores of the zone have
// answered. The first call makes every refresh ask per store (PD's
// per-store values, else the stores), since PD's cluster value says
// nothing about one zone; client-go does the same when its TxnScope is a
// zone.
func (c *Client) MinSafeTSInZone(zone string) uint64 {
	c.safeTS.wantZones()
	t := c.safeTS
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.zoneMin[zone]
}

// safeTSTracker keeps the safe ts of every store, refreshed by a goroutine
// it owns from its start to close.
type safeTSTracker struct {
	env      *pipeline.Env
	pd       pdclient.MinResolvedTSReader // nil: ask the stores only
	interval time.Duration

	min   atomic.Uint64
	zones atomic.Bool // MinSafeTSInZone was called: refresh per store

	mu      sync.Mutex
	stores  map[uint64]uint64 // store id -> safe ts
	zoneMin map[string]uint64 // zone -> min safe ts of its stores
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func newSafeTSTracker(env *pipeline.Env, pd pdclient.MinResolvedTSReader, interval time.Duration) *safeTSTracker {
	if interval <= 0 {
		interval = DefaultSafeTSUpdateInterval
	}
	return &safeTSTracker{env: env, pd: pd, interval: interval,
		stores: make(map[uint64]uint64), zoneMin: make(map[string]uint64)}
}

// wantZones makes refreshes per store from now on, and starts them.
func (t *safeTSTracker) wantZones() {
	t.zones.Store(true)
	t.start()
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

// validSafeTS reports whether ts can be a safe ts: 0 is "not known" and
// MaxUint64 would let stale reads read anything (client-go's
// isValidSafeTS).
func validSafeTS(ts uint64) bool { return ts != 0 && ts != math.MaxUint64 }

// update refreshes the safe ts (client-go's updateSafeTS).
func (t *safeTSTracker) update(ctx context.Context) {
	if t.pd != nil && !t.zones.Load() && t.updateFromPDCluster(ctx) {
		return
	}
	stores, err := t.env.Locator.Stores(ctx)
	if err != nil {
		return // nothing to go on; try again next time
	}
	ids := make([]uint64, len(stores))
	for i, s := range stores {
		ids[i] = s.ID
	}
	// PD's per-store values, where usable, spare those stores the RPC.
	fromPD := map[uint64]uint64{}
	if t.pd != nil {
		if _, per, err := t.pd.GetMinResolvedTSByStoresIDs(ctx, ids); err == nil {
			for id, ts := range per {
				if validSafeTS(ts) {
					fromPD[id] = ts
				}
			}
		}
	}
	var results []pipeline.StoreResult[*kvrpcpb.StoreSafeTSResponse]
	if len(fromPD) < len(ids) {
		plan := pipeline.AllStores(t.env, plans.GetStoreSafeTS, pipeline.StoreFilter(func(s *pdclient.Store) bool {
			_, ok := fromPD[s.ID]
			return !ok
		}))
		// An empty range asks for the whole store (the keyspace
		// middleware narrows it to the client's keyspace). A failed
		// listing leaves those stores as they were.
		results, _ = plan(ctx, &kvrpcpb.StoreSafeTSRequest{KeyRange: &kvrpcpb.KeyRange{}})
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, ts := range fromPD {
		t.noteLocked(id, ts)
	}
	for _, r := range results {
		if r.Err != nil {
			continue // a store that fails keeps what it had (client-go)
		}
		t.noteLocked(r.Store.ID, r.Resp.GetSafeTs())
	}
	t.min.Store(minSafeTS(t.stores, ids))
	byZone := map[string][]uint64{}
	for _, s := range stores {
		for _, l := range s.Labels {
			if l.GetKey() == ZoneLabelKey {
				byZone[l.GetValue()] = append(byZone[l.GetValue()], s.ID)
			}
		}
	}
	zoneMin := make(map[string]uint64, len(byZone))
	for zone, zids := range byZone {
		zoneMin[zone] = minSafeTS(t.stores, zids)
	}
	t.zoneMin = zoneMin
}

// updateFromPDCluster sets the minimum from PD's cluster-level min resolved
// ts and reports whether PD had a usable one. Like a store's, the minimum
// does not move backwards on PD's word.
func (t *safeTSTracker) updateFromPDCluster(ctx context.Context) bool {
	ts, _, err := t.pd.GetMinResolvedTSByStoresIDs(ctx, nil)
	if err != nil || !validSafeTS(ts) {
		return false
	}
	for {
		prev := t.min.Load()
		if prev > ts || t.min.CompareAndSwap(prev, ts) {
			return true
		}
	}
}

// noteLocked records a store's safe ts unless it would move it backwards or
// is MaxUint64 (never a real safe ts: client-go refuses to store it). The
// caller holds t.mu.
func (t *safeTSTracker) noteLocked(id, ts uint64) {
	if ts == math.MaxUint64 {
		return
	}
	if prev, ok := t.stores[id]; ok && prev > ts {
		return
	}
	t.stores[id] = ts
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
