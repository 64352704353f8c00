package pipelinetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/pdclient"
)

// Load is one lookup a Locator had to make because its cache missed: the
// PD round trip a pdclient.RegionCache would make.
type Load struct {
	// Op is the Locator method that missed: "Locate", "LocateEndKey",
	// "LocateByID" or "LoadRange".
	Op string
	// Key is the key looked up (the first key not cached, for LoadRange);
	// RegionID the id, for LocateByID.
	Key      []byte
	RegionID uint64
}

// Locator is a pdclient.Locator over a Cluster: a region cache in
// miniature, for plans under test. It starts empty and loads what it
// misses from the cluster's true layout (recording each Load), and it
// takes TiKV's feedback as pdclient.RegionCache does:
//
//   - UpdateLeader returns the region led by the hinted peer and updates
//     the cached entry if it still holds that version; a hint naming a
//     store the region has no peer on drops the region (nil is returned);
//   - OnEpochNotMatch caches the current regions TiKV named, led by their
//     peer on the store that answered, replacing what they overlap, and
//     drops the stale region; it answers true (retry as is) only when
//     TiKV's view is older than the request's;
//   - Invalidate drops a region if the cache still holds that version;
//     newer versions are never replaced by older ones.
//
// So once a test changes the truth (Cluster.Split, MoveLeader), the
// Locator goes on serving the old routing until the pipeline's feedback or
// a miss corrects it, as a real cache does.
//
// Store health follows the region cache too, without its background
// goroutines: ReportSendFailure checks the store at once (a store marked
// down is Unreachable, and marked slow), ReportBusy records TiKV's
// estimated wait (or marks the store slow without one); a store a check
// found unreachable is Reachable again as soon as the cluster marks it up
// (the real cache's background re-check, with no delay). ReportLatency is only
// counted: slow scores do not move on their own; set them with SetHealth.
//
// A miss is reported to the call's observer (observe.CacheMiss and
// CacheLoad) as the region cache reports it. Regions never expire. A
// Locator is safe for concurrent use.
type Locator struct {
	cluster *Cluster

	mu            sync.Mutex
	cache         []*pdclient.Region // sorted by start key, never overlapping
	loads         []Load
	invalidated   []pdclient.RegionVer
	storeFailures []uint64
	sendFailures  []uint64
	busy          []uint64
	latencies     int
	health        map[uint64]*storeHealth
}

// NewLocator returns a Locator with an empty cache over c.
func NewLocator(c *Cluster) *Locator {
	return &Locator{cluster: c, health: map[uint64]*storeHealth{}}
}

var _ pdclient.Locator = (*Locator)(nil)

// Locate returns the cached region holding key, or loads it.
func (l *Locator) Locate(ctx context.Context, key []byte) (*pdclient.Region, error) {
	return l.locate(ctx, func(r *pdclient.Region) bool { return r.Contains(key) }, Load{Op: "Locate", Key: bytes.Clone(key)})
}

// LocateEndKey returns the cached region r with r.StartKey < key <=
// r.EndKey (the last region for an empty key), or loads it.
func (l *Locator) LocateEndKey(ctx context.Context, key []byte) (*pdclient.Region, error) {
	return l.locate(ctx, func(r *pdclient.Region) bool { return r.ContainsByEnd(key) }, Load{Op: "LocateEndKey", Key: bytes.Clone(key)})
}

// LocateByID returns the cached region with the given id, or loads it; an
// id the cluster does not know fails wrapping pdclient.ErrRegionNotFound.
func (l *Locator) LocateByID(ctx context.Context, id uint64) (*pdclient.Region, error) {
	return l.locate(ctx, func(r *pdclient.Region) bool { return r.ID() == id }, Load{Op: "LocateByID", RegionID: id})
}

func (l *Locator) locate(ctx context.Context, pred func(*pdclient.Region) bool, miss Load) (*pdclient.Region, error) {
	r, loaded, err := l.locateLocked(pred, miss)
	if loaded {
		observeLoad(ctx, miss.Key, r, err)
	}
	return r, err
}

// locateLocked looks the region up in the cache, else loads it; loaded
// reports a miss.
func (l *Locator) locateLocked(pred func(*pdclient.Region) bool, miss Load) (r *pdclient.Region, loaded bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.cache {
		if pred(r) {
			return r, false, nil
		}
	}
	l.loads = append(l.loads, miss)
	l.cluster.mu.Lock()
	r = l.cluster.findLocked(pred)
	l.cluster.mu.Unlock()
	if r == nil {
		return nil, true, fmt.Errorf("pipelinetest: %s %q/%d: %w", miss.Op, miss.Key, miss.RegionID, pdclient.ErrRegionNotFound)
	}
	return l.insertLocked(r), true, nil
}

// observeLoad reports a miss and its load to the call's observer, as the
// region cache does (observe.CacheMiss, then observe.CacheLoad; no PD call
// is reported, since none is made).
func observeLoad(ctx context.Context, key []byte, r *pdclient.Region, err error) {
	if _, ok := observe.Observed(ctx); !ok {
		return
	}
	observe.Emit(ctx, observe.Event{Kind: observe.CacheMiss, Key: key})
	ev := observe.Event{Kind: observe.CacheLoad, Key: key, Err: err}
	if r != nil {
		ev.RegionID = r.ID()
	}
	observe.Emit(ctx, ev)
}

// insertLocked caches r, replacing what it overlaps, unless the cache
// holds a newer version of the region: that one is returned instead.
func (l *Locator) insertLocked(r *pdclient.Region) *pdclient.Region {
	for _, old := range l.cache {
		if old.ID() == r.ID() && epochOlder(r.Ver(), old.Ver()) {
			return old
		}
	}
	l.cache = slices.DeleteFunc(l.cache, func(old *pdclient.Region) bool { return overlaps(old, r) })
	i, _ := slices.BinarySearchFunc(l.cache, r, func(a, b *pdclient.Region) int { return bytes.Compare(a.StartKey(), b.StartKey()) })
	l.cache = slices.Insert(l.cache, i, r)
	return r
}

// epochOlder reports whether version a is older than b in either part, as
// the region cache compares them.
func epochOlder(a, b pdclient.RegionVer) bool { return a.Version < b.Version || a.ConfVer < b.ConfVer }

// LoadRange returns the regions covering [start, end) in key order (end
// empty: to the end), at most limit when limit > 0: the cached prefix,
// then the rest loaded in one Load.
func (l *Locator) LoadRange(ctx context.Context, start, end []byte, limit int) ([]*pdclient.Region, error) {
	if len(end) > 0 && bytes.Compare(start, end) >= 0 {
		return nil, nil
	}
	out, missedAt := l.loadRangeLocked(start, end, limit)
	if missedAt != nil {
		observeLoad(ctx, missedAt.Key, nil, nil)
	}
	return out, nil
}

// loadRangeLocked serves LoadRange; it returns the Load it recorded, if
// the cache missed.
func (l *Locator) loadRangeLocked(start, end []byte, limit int) (out []*pdclient.Region, miss *Load) {
	l.mu.Lock()
	defer l.mu.Unlock()
	next := start
	for {
		r := l.cachedLocked(next)
		if r == nil {
			if miss == nil {
				miss = &Load{Op: "LoadRange", Key: bytes.Clone(next)}
				l.loads = append(l.loads, *miss)
			}
			l.cluster.mu.Lock()
			t := l.cluster.findLocked(func(r *pdclient.Region) bool { return r.Contains(next) })
			l.cluster.mu.Unlock()
			r = l.insertLocked(t)
		}
		out = append(out, r)
		if len(r.EndKey()) == 0 || (len(end) > 0 && bytes.Compare(r.EndKey(), end) >= 0) || (limit > 0 && len(out) >= limit) {
			return out, miss
		}
		next = r.EndKey()
	}
}

func (l *Locator) cachedLocked(key []byte) *pdclient.Region {
	for _, r := range l.cache {
		if r.Contains(key) {
			return r
		}
	}
	return nil
}

// Store returns the store's metadata; an id the cluster does not have
// fails wrapping pdclient.ErrStoreTombstone, as a store PD does not list.
func (l *Locator) Store(_ context.Context, id uint64) (*pdclient.Store, error) {
	if s := l.cluster.Store(id); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("pipelinetest: store %d: %w", id, pdclient.ErrStoreTombstone)
}

// Stores lists the cluster's stores in id order, down ones included (PD
// lists a store until it is removed).
func (l *Locator) Stores(context.Context) ([]*pdclient.Store, error) {
	n := l.cluster.StoreCount()
	out := make([]*pdclient.Store, 0, n)
	for id := uint64(1); id <= uint64(n); id++ {
		out = append(out, l.cluster.Store(id))
	}
	return out, nil
}

// UpdateLeader records TiKV's NotLeader hint (see the type's doc).
func (l *Locator) UpdateLeader(r *pdclient.Region, leader *metapb.Peer) *pdclient.Region {
	var peer *metapb.Peer
	if leader != nil {
		peer = r.PeerOnStore(leader.GetStoreId())
	}
	if peer == nil {
		l.Invalidate(r)
		return nil
	}
	nr := r.WithLeader(peer)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, old := range l.cache {
		if old.Ver() == r.Ver() {
			l.cache[i] = nr
		}
	}
	return nr
}

// OnEpochNotMatch takes the current regions TiKV reported when it rejected
// r's epoch, answered by storeID (see the type's doc).
func (l *Locator) OnEpochNotMatch(r *pdclient.Region, storeID uint64, current []*metapb.Region) bool {
	ver := r.Ver()
	for _, m := range current {
		if m.GetId() == ver.ID && epochOlder(pdclient.NewRegion(m, nil).Ver(), ver) {
			return true
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropLocked(r)
	for _, m := range current {
		if len(m.GetPeers()) == 0 {
			continue
		}
		nr := pdclient.NewRegion(m, nil)
		l.insertLocked(nr.WithLeader(nr.PeerOnStore(storeID)))
	}
	return false
}

// UpdateBuckets records newer buckets for the cached version of r.
func (l *Locator) UpdateBuckets(r *pdclient.Region, b *metapb.Buckets) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, old := range l.cache {
		if old.Ver() == r.Ver() && b.GetVersion() > old.BucketVersion() {
			l.cache[i] = old.WithBuckets(b)
		}
	}
}

// Invalidate drops r if the cache still holds that version.
func (l *Locator) Invalidate(r *pdclient.Region) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropLocked(r)
}

// dropLocked records that the pipeline dropped r's version, and drops it
// if cached.
func (l *Locator) dropLocked(r *pdclient.Region) {
	l.invalidated = append(l.invalidated, r.Ver())
	l.cache = slices.DeleteFunc(l.cache, func(old *pdclient.Region) bool { return old.Ver() == r.Ver() })
}

// OnStoreFailure records that the store's address is suspect.
func (l *Locator) OnStoreFailure(storeID uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.storeFailures = append(l.storeFailures, storeID)
}

// StoreLabels returns the store's labels in the cluster.
func (l *Locator) StoreLabels(storeID uint64) []*metapb.StoreLabel {
	if s := l.cluster.Store(storeID); s != nil {
		return s.Labels
	}
	return nil
}

// Flush empties the cache, so that every region is loaded again.
func (l *Locator) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cache = nil
}

// Cached returns the cached regions in key order.
func (l *Locator) Cached() []*pdclient.Region {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.cache)
}

// Loads returns the cache misses since the last ClearLoads, in order.
func (l *Locator) Loads() []Load {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.loads)
}

// ClearLoads forgets the recorded loads.
func (l *Locator) ClearLoads() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loads = nil
}

// Invalidated returns the region versions the pipeline's feedback dropped
// (Invalidate, a leader hint outside the region, an EpochNotMatch that
// moved the cache on), in order, whether or not the cache held them.
func (l *Locator) Invalidated() []pdclient.RegionVer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.invalidated)
}

// StoreFailures returns the stores reported by OnStoreFailure (and by
// ReportSendFailure, which implies it), in order.
func (l *Locator) StoreFailures() []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.storeFailures)
}
