// Package rangetask runs a task over a key range region by region, with
// bounded concurrency (client-go's txnkv/rangetask): GC's lock sweep and
// other whole-keyspace jobs are built on it.
//
// A Runner cuts [start, end) at the region boundaries its Locator knows,
// hands the pieces (RegionsPerTask regions each) to Concurrency workers,
// re-runs a piece whose handler reports stale routing (a non-fatal
// *kv.RegionError) against fresh region metadata, reports cumulative
// progress after every piece to a callback, and stops promptly when its
// context ends or a piece fails for good.
package rangetask
