package tikv

import "github.com/tikvgo/tikv/pdclient"

// WithRegionCacheOptions passes options to the cluster's region caches
// (one for raw keys, one for transactional keys): client-go's
// TiKVClient.RegionCacheTTL is pdclient.WithCacheTTL, StoreLivenessTimeout
// is pdclient.WithLivenessTimeout, and pdclient.WithCacheTTLJitter,
// WithGCInterval, WithScanPageSize, WithHealthInterval and WithLoadTimeout
// tune the rest. Repeated options
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
