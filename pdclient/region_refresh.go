package pdclient

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// WithRefreshInterval makes the cache re-read every region of the key space
// from PD each d (client-go's RegionsRefreshInterval; 0, the default,
// never): a cluster whose layout changes often can keep its cache warm
// instead of discovering each change through a region error. As in
// client-go, a refreshing cache does not also expire idle regions in the
// background (WithGCInterval is ignored); regions still expire on access
// after the TTL. A failed refresh keeps the cache as it was and is
// retried at the next tick.
func WithRefreshInterval(d time.Duration) CacheOption {
	return func(c *cacheConfig) {
		if d > 0 {
			c.refreshInterval = d
		}
	}
}

// Refresh reads the regions of the whole key space from PD, a page of
// WithScanPageSize regions per call, and caches them: every region PD
// reports replaces the cached regions it overlaps, unless one of them has
// a newer epoch (PD lagging behind TiKV). It is client-go's region
// preload (EnablePreload) when called once at start, and what
// WithRefreshInterval runs periodically. It returns the number of regions
// read.
func (c *RegionCache) Refresh(ctx context.Context) (int, error) {
	if err := c.checkOpen(); err != nil {
		return 0, err
	}
	regions, err := c.scan(ctx, nil, nil, nil, nil, 0)
	if err != nil {
		return 0, fmt.Errorf("pdclient: refresh the region cache: %w", err)
	}
	return len(regions), nil
}

// refreshLoop runs Refresh every refresh interval until Close.
func (c *RegionCache) refreshLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.refreshInterval)
	defer t.Stop()
	for {
		select {
		case <-c.base.Done():
			return
		case <-t.C:
			// Each round gets at most one interval, so rounds never pile up.
			ctx, cancel := context.WithTimeout(c.base, c.cfg.refreshInterval)
			n, err := c.Refresh(ctx)
			cancel()
			c.refreshed.record(time.Now(), n, err)
		}
	}
}

// refreshRecord is the outcome of the last periodic refresh.
type refreshRecord struct {
	mu      sync.Mutex
	at      time.Time
	regions int
	err     error
}

func (r *refreshRecord) record(at time.Time, n int, err error) {
	r.mu.Lock()
	r.at, r.regions, r.err = at, n, err
	r.mu.Unlock()
}

// LastRefresh reports the last periodic refresh (WithRefreshInterval):
// when it ended, how many regions it read and its error; a zero time
// means none ran yet.
func (c *RegionCache) LastRefresh() (at time.Time, regions int, err error) {
	c.refreshed.mu.Lock()
	defer c.refreshed.mu.Unlock()
	return c.refreshed.at, c.refreshed.regions, c.refreshed.err
}
