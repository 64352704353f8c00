package pdclient

import (
	"context"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// Locator routes keys to regions and regions to stores, and takes the
// pipeline's feedback when TiKV says the routing was stale. RegionCache is
// the implementation; tests may substitute their own.
//
// All methods are safe for concurrent use. Keys are the keys as sent to TiKV
// by the pipeline.
type Locator interface {
	// Locate returns the region containing key.
	Locate(ctx context.Context, key []byte) (*Region, error)
	// LocateEndKey returns the region holding the keys just below key (the
	// region r with r.StartKey < key <= r.EndKey); an empty key names the
	// last region. Reverse scans walk regions this way.
	LocateEndKey(ctx context.Context, key []byte) (*Region, error)
	// LocateByID returns the region with the given id.
	LocateByID(ctx context.Context, id uint64) (*Region, error)
	// LoadRange returns, in key order, the regions covering [start, end)
	// (end empty: to the end of the key space), at most limit of them when
	// limit > 0. Regions missing from the cache are loaded in one batch.
	LoadRange(ctx context.Context, start, end []byte, limit int) ([]*Region, error)
	// Store returns the store's current metadata (its address, chiefly).
	Store(ctx context.Context, id uint64) (*Store, error)
	// Stores lists the cluster's stores that are not removed, in id order
	// (fan-outs to every store use it).
	Stores(ctx context.Context) ([]*Store, error)

	// UpdateLeader records that leader leads r (TiKV's NotLeader hint). It
	// returns the updated region to route the next attempt with, or nil when
	// leader is not one of r's peers: r is then invalidated and must be
	// located again.
	UpdateLeader(r *Region, leader *metapb.Peer) *Region
	// OnEpochNotMatch takes the regions TiKV reported as current when it
	// rejected r's epoch. Regions newer than the cached ones replace every
	// region they overlap, led by their peer on storeID (the store that
	// answered, which is a leader). It reports whether r may be retried as
	// is: true only when TiKV's view is older than r (a lagging replica).
	OnEpochNotMatch(r *Region, storeID uint64, current []*metapb.Region) (retrySame bool)
	// UpdateBuckets records newer buckets TiKV reported for r.
	UpdateBuckets(r *Region, b *metapb.Buckets)
	// Invalidate drops r from the cache if the cache still holds that
	// version, so the next lookup asks PD.
	Invalidate(r *Region)
	// OnStoreFailure reports that the store's address may be wrong (a send
	// failed, or TiKV answered StoreNotMatch): it is re-resolved on next use.
	OnStoreFailure(storeID uint64)

	// StoreLabels returns the labels of a store already resolved, or nil.
	StoreLabels(storeID uint64) []*metapb.StoreLabel
	// StoreHealth returns the client's view of a store's health.
	StoreHealth(storeID uint64) Health
	// ReportSendFailure checks a store after a send to it failed (at most
	// one check per store at a time) and returns its liveness.
	ReportSendFailure(ctx context.Context, storeID uint64, cause error) Liveness
	// ReportLatency feeds a request's duration to the store's slow score.
	ReportLatency(storeID uint64, d time.Duration)
	// ReportBusy records a ServerIsBusy answer and TiKV's estimated wait.
	ReportBusy(storeID uint64, estimatedWait time.Duration)
}
