package pdclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"golang.org/x/sync/singleflight"

	"github.com/tikvgo/tikv/kv"
)

// ErrRegionNotFound is wrapped by lookups PD could not answer with a region:
// an id PD does not know (merged away), or a key no region covers after the
// cache's retries (PD has not heard from the region's leader yet).
var ErrRegionNotFound = errors.New("pdclient: region not found")

// Defaults, following client-go (internal/locate/region_cache.go).
const (
	defaultCacheTTL       = 600 * time.Second
	defaultCacheTTLJitter = 60 * time.Second
	defaultGCInterval     = time.Minute
	defaultScanPageSize   = 128
	defaultLoadTimeout    = 20 * time.Second

	// A PD lookup that finds no region, or fails, is retried this many
	// times in all, with backoff from loadBackoffBase doubling up to
	// loadBackoffCap: about two seconds before giving up.
	maxLoadAttempts = 10
	loadBackoffBase = 10 * time.Millisecond
	loadBackoffCap  = 500 * time.Millisecond
)

type cacheConfig struct {
	prober         Prober
	addrRetired    func(addr string)
	feedback       FeedbackRequester
	healthInterval time.Duration
	ttl            time.Duration
	jitter         time.Duration
	gcInterval     time.Duration
	pageSize       int
	loadTimeout    time.Duration

	// livenessTimeout: WithLivenessTimeout (health_options.go).
	livenessTimeout time.Duration
	// refreshInterval: WithRefreshInterval (region_refresh.go).
	refreshInterval time.Duration
}

// CacheOption configures a RegionCache. Options are applied in order by
// NewRegionCache.
type CacheOption func(*cacheConfig)

// WithCacheTTL sets how long a cached region stays usable after its last
// access (default 600s, client-go's value). A random jitter of up to
// WithCacheTTLJitter is added so that regions loaded together do not all
// expire together. d <= 0 keeps the default.
func WithCacheTTL(d time.Duration) CacheOption {
	return func(c *cacheConfig) {
		if d > 0 {
			c.ttl = d
		}
	}
}

// WithCacheTTLJitter sets the maximum random extra lifetime added to the TTL
// (default 60s). d <= 0 disables the jitter.
func WithCacheTTLJitter(d time.Duration) CacheOption {
	return func(c *cacheConfig) { c.jitter = max(d, 0) }
}

// WithGCInterval sets how often the cache's background goroutine drops
// expired regions (default one minute). Expired regions are never served
// either way; this only bounds memory. d <= 0 disables the goroutine.
func WithGCInterval(d time.Duration) CacheOption {
	return func(c *cacheConfig) { c.gcInterval = max(d, 0) }
}

// WithScanPageSize sets how many regions one BatchScanRegions call asks PD
// for (default 128, as client-go). n <= 0 keeps the default.
func WithScanPageSize(n int) CacheOption {
	return func(c *cacheConfig) {
		if n > 0 {
			c.pageSize = n
		}
	}
}

// WithProber sets how the cache checks a store's health after a send to it
// failed (see ReportSendFailure). Without one, stores are assumed
// reachable.
func WithProber(p Prober) CacheOption {
	return func(c *cacheConfig) { c.prober = p }
}

// WithAddrRetired sets a function the cache calls with an address that no
// longer belongs to the store it knew there: PD reported a new address for
// the store, or TiKV answered StoreNotMatch. tikv.Connect passes one that
// closes the transport's connections to that address, which would otherwise
// keep reconnecting to it (and may now reach another store). It is called
// without the cache's locks held and must not block for long.
func WithAddrRetired(f func(addr string)) CacheOption {
	return func(c *cacheConfig) { c.addrRetired = f }
}

// WithHealthInterval sets how often slow scores decay and stores that are
// not reachable are checked again (default one second). d <= 0 keeps the
// default.
func WithHealthInterval(d time.Duration) CacheOption {
	return func(c *cacheConfig) {
		if d > 0 {
			c.healthInterval = d
		}
	}
}

// WithLoadTimeout bounds one shared PD load, including its retries (default
// 20s). A shared load runs detached from the caller that started it, so that
// one caller giving up does not fail the others waiting for the same key;
// every caller still stops waiting when its own context ends. d <= 0 keeps
// the default.
func WithLoadTimeout(d time.Duration) CacheOption {
	return func(c *cacheConfig) {
		if d > 0 {
			c.loadTimeout = d
		}
	}
}

// RegionCache is the Locator backed by PD: it caches regions by key range
// and stores by id, loading what it misses from PD.
//
// Regions are immutable *Region values kept in an ordered index; feedback
// from TiKV (UpdateLeader, OnEpochNotMatch, Invalidate) swaps them for newer
// ones, never for older ones. Each cached region expires WithCacheTTL after
// its last access. Concurrent misses on the same key, region id or store id
// cause a single PD call.
//
// It also tracks each store's health (liveness, slow score, busy wait): see
// StoreHealth and the Report methods.
//
// A RegionCache is safe for concurrent use. It owns two background
// goroutines (expired-region collection; slow-score decay and re-checks of
// unreachable stores) and short-lived health checks and health-feedback
// requests, all stopped by Close. It does not own the PD
// client: closing the cache leaves pd open.
type RegionCache struct {
	pd  PD
	cfg cacheConfig

	mu  sync.RWMutex
	idx *regionIndex

	storeMu sync.RWMutex
	stores  map[uint64]*storeEntry

	healthMu sync.RWMutex
	healths  map[uint64]*storeHealth

	group singleflight.Group

	hits atomic.Uint64 // lookups the cache answered (region_cache_hits.go)

	refreshed refreshRecord // the last periodic refresh (region_refresh.go)

	// Lifecycle: loads and the GC goroutine run under wg, derived from
	// base, which Close cancels.
	lifeMu sync.Mutex
	closed bool
	wg     sync.WaitGroup
	base   context.Context
	cancel context.CancelFunc
}

var _ Locator = (*RegionCache)(nil)

// NewRegionCache returns an empty cache that loads from pd. The caller
// must Close it.
func NewRegionCache(pd PD, opts ...CacheOption) *RegionCache {
	cfg := cacheConfig{
		ttl:            defaultCacheTTL,
		jitter:         defaultCacheTTLJitter,
		gcInterval:     defaultGCInterval,
		pageSize:       defaultScanPageSize,
		loadTimeout:    defaultLoadTimeout,
		healthInterval: defaultHealthInterval,
		// livenessTimeout bounds each health check (health.go).
		livenessTimeout: defaultLivenessTimeout,
	}
	for _, o := range opts {
		o(&cfg)
	}
	c := &RegionCache{
		pd:      observedPD{pd},
		cfg:     cfg,
		idx:     newRegionIndex(),
		stores:  make(map[uint64]*storeEntry),
		healths: make(map[uint64]*storeHealth),
	}
	c.base, c.cancel = context.WithCancel(context.Background())
	switch {
	case cfg.refreshInterval > 0:
		// A refreshing cache does not also sweep (client-go: cache GC is
		// incompatible with cache refresh).
		c.wg.Add(1)
		go c.refreshLoop()
	case cfg.gcInterval > 0:
		c.wg.Add(1)
		go c.gcLoop()
	}
	c.wg.Add(1)
	go c.healthLoop()
	return c
}

// Close stops the cache's background goroutine and any PD load in flight,
// and waits for them. Lookups that hit the cache keep working afterwards;
// those that need PD fail with kv.ErrClosed. Close is idempotent and safe
// for concurrent use.
func (c *RegionCache) Close() {
	c.lifeMu.Lock()
	c.closed = true
	c.lifeMu.Unlock()
	c.cancel()
	c.wg.Wait()
}

func (c *RegionCache) gcLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.gcInterval)
	defer t.Stop()
	for {
		select {
		case <-c.base.Done():
			return
		case <-t.C:
			now := time.Now().UnixNano()
			c.mu.Lock()
			c.idx.removeExpired(now)
			c.mu.Unlock()
		}
	}
}

// newEntry wraps r with a fresh deadline.
func (c *RegionCache) newEntry(r *Region) *regionEntry {
	e := &regionEntry{region: r}
	e.deadline.Store(c.nextDeadline(time.Now().UnixNano()))
	return e
}

func (c *RegionCache) nextDeadline(now int64) int64 {
	d := now + int64(c.cfg.ttl)
	if c.cfg.jitter > 0 {
		d += rand.Int64N(int64(c.cfg.jitter))
	}
	return d
}

// alive reports whether e has not expired and, if so, extends its life: the
// TTL counts from the last access. As in client-go, the deadline is only
// rewritten once less than a full TTL remains, so hot regions do not turn
// every lookup into a write.
func (c *RegionCache) alive(e *regionEntry) bool {
	if e == nil {
		return false
	}
	now := time.Now().UnixNano()
	for {
		d := e.deadline.Load()
		if now > d {
			return false
		}
		if d > now+int64(c.cfg.ttl) {
			return true
		}
		if e.deadline.CompareAndSwap(d, c.nextDeadline(now)) {
			return true
		}
	}
}

// cached returns the live cached region found by find, or nil.
func (c *RegionCache) cached(find func(*regionIndex) *regionEntry) *Region {
	c.mu.RLock()
	e := find(c.idx)
	c.mu.RUnlock()
	if !c.alive(e) {
		return nil
	}
	c.hits.Add(1)
	return e.region
}

// insert caches r and reports whether it was accepted (not stale).
func (c *RegionCache) insert(r *Region) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.idx.insert(c.newEntry(r))
}

// Locate returns the region containing key, from the cache or else from
// PD. Safe for concurrent use.
func (c *RegionCache) Locate(ctx context.Context, key []byte) (*Region, error) {
	if r := c.cached(func(x *regionIndex) *regionEntry { return x.lookup(key) }); r != nil {
		return r, nil
	}
	start, watched := missed(ctx, key, 0)
	r, err := shared(c, ctx, "k"+string(key), func(ctx context.Context) (*Region, error) {
		return c.loadByKey(ctx, key, false)
	})
	if watched {
		loaded(ctx, start, key, r, err)
	}
	if err != nil {
		return nil, fmt.Errorf("pdclient: locate key %q: %w", key, err)
	}
	return r, nil
}

// LocateEndKey returns the region r with r.StartKey < key <= r.EndKey, or
// the last region when key is empty, from the cache or else from PD. Safe
// for concurrent use.
func (c *RegionCache) LocateEndKey(ctx context.Context, key []byte) (*Region, error) {
	if r := c.cached(func(x *regionIndex) *regionEntry { return x.lookupByEnd(key) }); r != nil {
		return r, nil
	}
	start, watched := missed(ctx, key, 0)
	r, err := shared(c, ctx, "e"+string(key), func(ctx context.Context) (*Region, error) {
		if len(key) == 0 {
			return c.loadLast(ctx)
		}
		return c.loadByKey(ctx, key, true)
	})
	if watched {
		loaded(ctx, start, key, r, err)
	}
	if err != nil {
		return nil, fmt.Errorf("pdclient: locate end key %q: %w", key, err)
	}
	return r, nil
}

// LocateByID returns the region with the given id, from the cache or else
// from PD. An id PD does not know yields an error wrapping
// ErrRegionNotFound. Safe for concurrent use.
func (c *RegionCache) LocateByID(ctx context.Context, id uint64) (*Region, error) {
	if r := c.cached(func(x *regionIndex) *regionEntry { return x.byID[id] }); r != nil {
		return r, nil
	}
	start, watched := missed(ctx, nil, 0)
	r, err := shared(c, ctx, "i"+strconv.FormatUint(id, 10), func(ctx context.Context) (*Region, error) {
		return c.loadByID(ctx, id)
	})
	if watched {
		loaded(ctx, start, nil, r, err)
	}
	if err != nil {
		return nil, fmt.Errorf("pdclient: locate region %d: %w", id, err)
	}
	return r, nil
}

// LoadRange returns, in key order, the regions covering [start, end) (end
// empty: to the end of the key space), at most limit of them when limit > 0.
// The cached prefix of the range is used as is; the rest is loaded from PD
// with BatchScanRegions, a page of WithScanPageSize regions per call, and
// cached. An empty range (start == end) yields no regions. Safe for
// concurrent use.
func (c *RegionCache) LoadRange(ctx context.Context, start, end []byte, limit int) ([]*Region, error) {
	if len(end) > 0 && bytes.Compare(start, end) >= 0 {
		if bytes.Equal(start, end) {
			return nil, nil
		}
		return nil, kv.InvalidArgument("load range: start %q after end %q", start, end)
	}
	out, next, done := c.cachedRange(start, end, limit)
	if done {
		return out, nil
	}
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	begin, watched := missed(ctx, next, 0)
	out, err := c.scan(ctx, out, start, next, end, limit)
	if watched {
		loaded(ctx, begin, next, nil, err)
	}
	if err != nil {
		return nil, fmt.Errorf("pdclient: load range [%q, %q): %w", start, end, err)
	}
	return out, nil
}

// cachedRange walks the cache from start while it covers the range without
// gaps. It returns the regions found, the first key not covered, and whether
// nothing is left to load.
func (c *RegionCache) cachedRange(start, end []byte, limit int) (out []*Region, next []byte, done bool) {
	next = start
	c.mu.RLock()
	defer c.mu.RUnlock()
	for {
		e := c.idx.lookup(next)
		if !c.alive(e) {
			return out, next, false
		}
		out = append(out, e.region)
		if coversTo(e.region, end) || (limit > 0 && len(out) >= limit) {
			return out, nil, true
		}
		next = e.region.EndKey()
	}
}

// coversTo reports whether r reaches end (empty end: the end of the key
// space).
func coversTo(r *Region, end []byte) bool {
	re := r.EndKey()
	if len(re) == 0 {
		return true
	}
	return len(end) > 0 && bytes.Compare(re, end) >= 0
}

// UpdateLeader records TiKV's NotLeader hint: leader leads r. When leader's
// store holds one of r's peers, it returns r led by that peer, and updates
// the cached entry if the cache still holds r's version; a region that was
// invalidated (or replaced) meanwhile is not brought back, since the hint
// came from an old copy. Otherwise (no hint, or a store r has no peer on:
// r's membership is stale) r is invalidated and nil returned. Safe for
// concurrent use.
func (c *RegionCache) UpdateLeader(r *Region, leader *metapb.Peer) *Region {
	var peer *metapb.Peer
	if leader != nil {
		peer = r.PeerOnStore(leader.GetStoreId())
	}
	if peer == nil {
		c.Invalidate(r)
		return nil
	}
	nr := r.WithLeader(peer)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.idx.byID[r.ID()]; ok && old.region.Ver() == r.Ver() {
		e := &regionEntry{region: nr}
		e.deadline.Store(old.deadline.Load())
		c.idx.replace(old, e)
	}
	return nr
}

// OnEpochNotMatch takes the regions TiKV reported as current when it
// rejected r's epoch (errorpb.EpochNotMatch.current_regions), answered by
// storeID. If one of them is r's region with an older epoch than r, TiKV is
// lagging behind PD and the request may be retried as is: it returns true
// and changes nothing. Otherwise each current region is cached, led by its
// peer on storeID, replacing what it overlaps, r is invalidated, and it
// returns false. With no current regions r is only invalidated. Safe for
// concurrent use.
func (c *RegionCache) OnEpochNotMatch(r *Region, storeID uint64, current []*metapb.Region) bool {
	ver := r.Ver()
	for _, m := range current {
		if m.GetId() == ver.ID && epochOlder(NewRegion(m, nil).Ver(), ver) {
			return true
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.idx.byID[ver.ID]; ok && old.region.Ver() == ver {
		c.idx.remove(old)
	}
	for _, m := range current {
		if len(m.GetPeers()) == 0 {
			continue
		}
		nr := NewRegion(m, nil)
		nr = nr.WithLeader(nr.PeerOnStore(storeID))
		if r.Buckets() != nil {
			// Keep the old buckets until PD sends new ones (client-go).
			nr = nr.WithBuckets(r.Buckets())
		}
		c.idx.insert(c.newEntry(nr))
	}
	return false
}

// UpdateBuckets records buckets TiKV reported for r (BucketVersionNotMatch)
// when they are newer than the cached ones; other versions of the region are
// left alone. Safe for concurrent use.
func (c *RegionCache) UpdateBuckets(r *Region, b *metapb.Buckets) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.idx.byID[r.ID()]
	if !ok || old.region.Ver() != r.Ver() || b.GetVersion() <= old.region.BucketVersion() {
		return
	}
	e := &regionEntry{region: old.region.WithBuckets(b)}
	e.deadline.Store(old.deadline.Load())
	c.idx.replace(old, e)
}

// Invalidate drops r from the cache if the cache still holds r's version;
// a newer cached version is left alone. Safe for concurrent use.
func (c *RegionCache) Invalidate(r *Region) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.idx.byID[r.ID()]; ok && old.region.Ver() == r.Ver() {
		c.idx.remove(old)
	}
}

// checkOpen returns kv.ErrClosed after Close.
func (c *RegionCache) checkOpen() error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.closed {
		return kv.ErrClosed
	}
	return nil
}

// shared runs load once for all concurrent callers with the same key. The
// load runs on a context detached from the first caller (keeping its values
// but not its cancellation) and bounded by the load timeout and by Close;
// each caller waits for it or for its own ctx, whichever ends first.
func shared[T any](c *RegionCache, ctx context.Context, key string, load func(context.Context) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	ch := c.group.DoChan(key, func() (any, error) {
		c.lifeMu.Lock()
		if c.closed {
			c.lifeMu.Unlock()
			return nil, kv.ErrClosed
		}
		c.wg.Add(1)
		c.lifeMu.Unlock()
		defer c.wg.Done()

		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.loadTimeout)
		defer cancel()
		stop := context.AfterFunc(c.base, cancel)
		defer stop()
		return load(lctx)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return zero, res.Err
		}
		return res.Val.(T), nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}
