package tikv

import (
	"context"
	"log/slog"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
)

// WithRegionCacheOptions passes options to the cluster's region caches
// (one for raw keys, one for transactional keys): client-go's
// TiKVClient.RegionCacheTTL is pdclient.WithCacheTTL, StoreLivenessTimeout
// is pdclient.WithLivenessTimeout, and pdclient.WithCacheTTLJitter,
// WithGCInterval, WithScanPageSize, WithHealthInterval and WithLoadTimeout
// tune the rest (pdclient.WithRefreshInterval is client-go's
// RegionsRefreshInterval). Repeated options
// append. The cluster's own wiring comes after them and wins: a
// pdclient.WithProber here is overridden by WithProber (or the default
// health check), and WithAddrRetired and WithFeedbackRequester, which
// connect the cache to the cluster's transport, cannot be replaced.
func WithRegionCacheOptions(opts ...pdclient.CacheOption) Option {
	return func(c *config) { c.cacheOptions = append(c.cacheOptions, opts...) }
}

// regionCacheOptions lists a region cache's options: the user's first,
// then the cluster's wiring, so that the latter wins.
func (c *config) regionCacheOptions(prober pdclient.Prober, retired func(addr string), feedback pdclient.FeedbackRequester) []pdclient.CacheOption {
	opts := make([]pdclient.CacheOption, 0, len(c.cacheOptions)+3)
	opts = append(opts, c.cacheOptions...)
	return append(opts, pdclient.WithProber(prober), pdclient.WithAddrRetired(retired), pdclient.WithFeedbackRequester(feedback))
}

// WithRegionPreload makes Connect read every region of the key space into
// the region caches of the given key modes (both when none is named)
// before it returns: client-go's EnablePreload, for a client that should
// not pay a PD round trip on its first request to each region. As in
// client-go, a preload that fails is logged and Connect goes on with the
// cache filled lazily. Name one mode when the cluster's region boundaries
// belong to one key space only (under API v1 a boundary at a raw key
// does not decode as a transactional one).
func WithRegionPreload(modes ...kv.KeyMode) Option {
	return func(c *config) {
		if len(modes) == 0 {
			modes = []kv.KeyMode{kv.ModeRaw, kv.ModeTxn}
		}
		c.preload = append(c.preload, modes...)
	}
}

// preloadRegions runs WithRegionPreload's preload on c's caches.
func (c *Cluster) preloadRegions(ctx context.Context, modes []kv.KeyMode) {
	for _, mode := range modes {
		n, err := c.caches[mode].Refresh(ctx)
		if err != nil {
			c.log.WarnContext(ctx, "region preload failed; regions load on first use", slog.String("key_mode", mode.String()), slog.Any("error", err))
			continue
		}
		c.log.DebugContext(ctx, "regions preloaded", slog.String("key_mode", mode.String()), slog.Int("regions", n))
	}
}
