package pdclient

import (
	"bytes"
	"slices"
	"sort"
	"sync/atomic"
)

// regionEntry is one cached region and the moment it expires. The region is
// immutable; the deadline moves forward on access (see RegionCache.alive).
type regionEntry struct {
	region   *Region
	deadline atomic.Int64 // Unix nanoseconds
}

// regionIndex is the cache's ordered index: regions sorted by start key,
// never overlapping, plus a map by id. Gaps are allowed (ranges nobody asked
// for yet). It is not synchronised; RegionCache guards it with its RWMutex.
//
// A sorted slice keeps lookups at one binary search and iteration trivial;
// an insert moves the tail of the slice, which stays cheap for the region
// counts a client routes to (tens of thousands of pointers).
type regionIndex struct {
	sorted []*regionEntry
	byID   map[uint64]*regionEntry
}

func newRegionIndex() *regionIndex {
	return &regionIndex{byID: make(map[uint64]*regionEntry)}
}

// floor returns the index of the last entry whose start key is <= key, or -1.
func (x *regionIndex) floor(key []byte) int {
	i := sort.Search(len(x.sorted), func(i int) bool {
		return bytes.Compare(x.sorted[i].region.StartKey(), key) > 0
	})
	return i - 1
}

// lookup returns the entry whose region contains key, or nil.
func (x *regionIndex) lookup(key []byte) *regionEntry {
	i := x.floor(key)
	if i < 0 || !x.sorted[i].region.Contains(key) {
		return nil
	}
	return x.sorted[i]
}

// lookupByEnd returns the entry whose region r has r.Start < key <= r.End
// (the last region when key is empty), or nil.
func (x *regionIndex) lookupByEnd(key []byte) *regionEntry {
	if len(x.sorted) == 0 {
		return nil
	}
	var e *regionEntry
	if len(key) == 0 {
		e = x.sorted[len(x.sorted)-1]
	} else {
		i := sort.Search(len(x.sorted), func(i int) bool {
			return bytes.Compare(x.sorted[i].region.StartKey(), key) >= 0
		}) - 1
		if i < 0 {
			return nil
		}
		e = x.sorted[i]
	}
	if !e.region.ContainsByEnd(key) {
		return nil
	}
	return e
}

// last returns the entry with the greatest start key, or nil.
func (x *regionIndex) last() *regionEntry {
	if len(x.sorted) == 0 {
		return nil
	}
	return x.sorted[len(x.sorted)-1]
}

// epochOlder reports whether epoch a is older than epoch b: a lower version
// (a split or merge happened since) or a lower conf version (a membership
// change happened since). Both only grow over a region's life, which is the
// rule client-go and TiKV apply.
func epochOlder(a, b RegionVer) bool {
	return a.Version < b.Version || a.ConfVer < b.ConfVer
}

// overlaps returns the half-open index range [lo, hi) of the entries whose
// regions overlap r's key range.
func (x *regionIndex) overlaps(r *Region) (lo, hi int) {
	start, end := r.StartKey(), r.EndKey()
	lo = x.floor(start)
	if lo < 0 {
		lo = 0
	} else if e := x.sorted[lo].region.EndKey(); len(e) != 0 && bytes.Compare(e, start) <= 0 {
		lo++ // the floor entry ends at or before r starts
	}
	hi = lo
	for hi < len(x.sorted) && (len(end) == 0 || bytes.Compare(x.sorted[hi].region.StartKey(), end) < 0) {
		hi++
	}
	return lo, hi
}

// insert adds e, removing every entry it overlaps and any other version of
// the same region. It refuses (and returns false) when e is stale: the cache
// holds the same region with a newer epoch, or an overlapping region whose
// version is higher, meaning a split or merge e has not seen (the same test
// client-go applies, so a lagging PD follower cannot roll the cache back).
func (x *regionIndex) insert(e *regionEntry) bool {
	ver := e.region.Ver()
	if old, ok := x.byID[ver.ID]; ok && epochOlder(ver, old.region.Ver()) {
		return false
	}
	lo, hi := x.overlaps(e.region)
	for _, o := range x.sorted[lo:hi] {
		if o.region.ID() != ver.ID && o.region.Ver().Version > ver.Version {
			return false
		}
	}
	if old, ok := x.byID[ver.ID]; ok {
		if i := x.indexOf(old); i >= 0 && (i < lo || i >= hi) {
			// The same region at a different key range (it split or merged):
			// drop it first, which may shift the overlap window.
			x.sorted = slices.Delete(x.sorted, i, i+1)
			lo, hi = x.overlaps(e.region)
		}
	}
	for _, o := range x.sorted[lo:hi] {
		delete(x.byID, o.region.ID())
	}
	x.sorted = slices.Replace(x.sorted, lo, hi, e)
	x.byID[ver.ID] = e
	return true
}

// indexOf returns the position of e in sorted, or -1.
func (x *regionIndex) indexOf(e *regionEntry) int {
	i := x.floor(e.region.StartKey())
	if i >= 0 && x.sorted[i] == e {
		return i
	}
	return -1
}

// remove drops e if it is still indexed.
func (x *regionIndex) remove(e *regionEntry) {
	if i := x.indexOf(e); i >= 0 {
		x.sorted = slices.Delete(x.sorted, i, i+1)
	}
	if x.byID[e.region.ID()] == e {
		delete(x.byID, e.region.ID())
	}
}

// replace swaps old (which must be indexed) for e, which covers the same key
// range.
func (x *regionIndex) replace(old, e *regionEntry) {
	if i := x.indexOf(old); i >= 0 {
		x.sorted[i] = e
	}
	x.byID[e.region.ID()] = e
}

// removeExpired drops every entry whose deadline is before now and returns
// how many it dropped.
func (x *regionIndex) removeExpired(now int64) int {
	n := len(x.sorted)
	x.sorted = slices.DeleteFunc(x.sorted, func(e *regionEntry) bool {
		if e.deadline.Load() >= now {
			return false
		}
		delete(x.byID, e.region.ID())
		return true
	})
	return n - len(x.sorted)
}
