package pdclient

import "time"

// WithLivenessTimeout bounds one health check of a store (default one
// second, client-go's TiKVClient.StoreLivenessTimeout): the Prober's
// context ends after d, and a store whose check has not answered by then
// counts as the Prober then reports it (the transport's check: not
// reachable). A longer bound suits stores behind slow links; a shorter one
// finds dead stores sooner. d <= 0 keeps the default.
func WithLivenessTimeout(d time.Duration) CacheOption {
	return func(c *cacheConfig) {
		if d > 0 {
			c.livenessTimeout = d
		}
	}
}
