package txn

import (
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pdclient"
)

// safePointConfig is how a Client checks its reads against GC.
type safePointConfig struct {
	// replaced is set by WithSafePointCheck: checker then replaces the
	// default cache (nil: no check).
	replaced bool
	checker  SafePointChecker
	cache    SafePointCacheOptions
}

// WithSafePointCheck replaces the check every snapshot and transaction of
// the client makes against garbage collection (by default a
// SafePointCache of the cluster's keyspace); nil turns the check off, and
// the client then starts no cache. A snapshot's own WithSafePointChecker
// overrides it for that snapshot.
func WithSafePointCheck(c SafePointChecker) Option {
	return func(cfg *clientConfig) { cfg.safePoint.replaced, cfg.safePoint.checker = true, c }
}

// WithSafePointCache tunes the client's default txn safe point cache
// (refresh interval, retry interval, maximum age).
func WithSafePointCache(o SafePointCacheOptions) Option {
	return func(cfg *clientConfig) { cfg.safePoint.cache = o }
}

// gcStateBackend is the part of a Backend that can read PD's GC states;
// *tikv.Cluster has it. A Backend without it gets no default check.
type gcStateBackend interface {
	PD() pdclient.PD
	KeyspaceID() uint32
	APIVersion() kvrpcpb.APIVersion
}

// startSafePointCheck returns the checker the client's snapshots use, and
// the cache it started (nil when none), which Close stops.
func startSafePointCheck(b Backend, cfg safePointConfig) (SafePointChecker, *SafePointCache) {
	if cfg.replaced {
		return cfg.checker, nil
	}
	gb, ok := b.(gcStateBackend)
	if !ok {
		return nil, nil
	}
	// client-go reads the GC states of its codec's keyspace: the
	// keyspace's own under API v2, the null keyspace under API v1
	// (tikv/kv.go NewKVStore; apicodec codecV1.GetKeyspaceID).
	ks := pdclient.GCStateKeyspace(gb.KeyspaceID(), gb.APIVersion() == kvrpcpb.APIVersion_V2)
	cache := NewSafePointCache(gb.PD(), ks, cfg.cache)
	return cache, cache
}

// snapshotSafePoint is the option that gives a snapshot the client's
// check; nil when the client checks nothing.
func (c *Client) snapshotSafePoint() []SnapshotOption {
	if c.safePoint == nil {
		return nil
	}
	return []SnapshotOption{WithSafePointChecker(c.safePoint)}
}

// CheckVisibility checks a read at startTS against garbage collection
// with the client's safe point check (client-go's KVStore.CheckVisibility):
// nil when the read may be trusted or the client checks nothing, a
// *kv.TxnAbortedByGCError when PD's txn safe point has passed startTS,
// a *StaleSafePointError when the client cannot tell.
func (c *Client) CheckVisibility(ctx context.Context, startTS uint64) error {
	if c.safePoint == nil {
		return nil
	}
	return c.safePoint.CheckVisibility(ctx, startTS)
}

// stopSafePointCache stops the client's cache, if it started one.
func (c *Client) stopSafePointCache() {
	if c.safePointCache != nil {
		c.safePointCache.Close()
	}
}
