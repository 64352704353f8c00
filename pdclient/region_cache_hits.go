package pdclient

// Hits returns how many region lookups (Locate, LocateEndKey, LocateByID)
// the cache has answered without PD since it was made. Misses are reported
// to the call's observer (observe.CacheMiss) as they happen; hits are too
// frequent for an event each, so they are only counted, one atomic add per
// hit, and read by whoever wants a rate (middleware/otelkv's
// tikv.client.region_cache.hits).
func (c *RegionCache) Hits() uint64 { return c.hits.Load() }
