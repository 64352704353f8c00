package pdclient

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"
)

// indexModel is the region index as a plain slice searched linearly: the
// rules regionIndex implements with binary search and in-place splicing,
// stated as simply as they can be.
type indexModel struct {
	entries []*regionEntry // sorted by start key, non-overlapping
}

func rangesOverlap(a, b *Region) bool {
	aEndsAfterBStarts := len(a.EndKey()) == 0 || bytes.Compare(b.StartKey(), a.EndKey()) < 0
	bEndsAfterAStarts := len(b.EndKey()) == 0 || bytes.Compare(a.StartKey(), b.EndKey()) < 0
	return aEndsAfterBStarts && bEndsAfterAStarts
}

// insert: refused when the model holds the same region with a newer epoch,
// or an overlapping other region with a higher version; otherwise e
// replaces every region it overlaps and every other version of itself.
func (m *indexModel) insert(e *regionEntry) bool {
	ver := e.region.Ver()
	for _, o := range m.entries {
		if o.region.ID() == ver.ID && epochOlder(ver, o.region.Ver()) {
			return false
		}
		if o.region.ID() != ver.ID && rangesOverlap(o.region, e.region) && o.region.Ver().Version > ver.Version {
			return false
		}
	}
	m.entries = slices.DeleteFunc(m.entries, func(o *regionEntry) bool {
		return o.region.ID() == ver.ID || rangesOverlap(o.region, e.region)
	})
	m.entries = append(m.entries, e)
	slices.SortFunc(m.entries, func(a, b *regionEntry) int { return bytes.Compare(a.region.StartKey(), b.region.StartKey()) })
	return true
}

func (m *indexModel) byID(id uint64) *regionEntry {
	for _, e := range m.entries {
		if e.region.ID() == id {
			return e
		}
	}
	return nil
}

func (m *indexModel) lookup(key []byte) *regionEntry {
	for _, e := range m.entries {
		if e.region.Contains(key) {
			return e
		}
	}
	return nil
}

func (m *indexModel) lookupByEnd(key []byte) *regionEntry {
	for _, e := range m.entries {
		if e.region.ContainsByEnd(key) {
			return e
		}
	}
	return nil
}

// fuzzKey maps a byte to one of a few short keys (empty included), so that
// generated regions share boundaries and overlap often.
func fuzzKey(b byte) []byte {
	if b%9 == 0 {
		return nil
	}
	k := []byte{'a' + b%9 - 1}
	if b >= 128 {
		k = append(k, 'x')
	}
	return k
}

// fuzzRegion builds a valid region (start < end, or an open end) from four
// bytes: id, start, end, epoch.
func fuzzRegion(p []byte) *Region {
	start, end := fuzzKey(p[1]), fuzzKey(p[2])
	if len(end) != 0 && bytes.Compare(start, end) >= 0 {
		start, end = end, start
		if bytes.Equal(start, end) {
			end = nil
		}
	}
	if len(end) != 0 && len(start) == 0 && p[2]%2 == 0 {
		end = nil // the whole key space now and then
	}
	return NewRegion(&metapb.Region{
		Id:          uint64(p[0]%6) + 1,
		StartKey:    start,
		EndKey:      end,
		RegionEpoch: &metapb.RegionEpoch{Version: uint64(p[3] % 4), ConfVer: uint64(p[3] / 4 % 4)},
	}, nil)
}

func describe(e *regionEntry) string {
	if e == nil {
		return "<nil>"
	}
	return e.region.String()
}

// FuzzRegionIndexAgainstModel drives the region cache's index (inserts that
// may be stale, removals, replacements, expiry) and a sorted-slice model
// with the same operations, and checks after each one that lookups by key,
// by end key and by id agree, and that the index keeps its invariants:
// sorted by start key, non-overlapping, its id map naming exactly the
// entries in its slice.
func FuzzRegionIndexAgainstModel(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 1, 0, 2, 5, 1, 4, 2, 3, 1, 0, 2, 1, 3, 4, 5, 6})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 1, 2, 4, 1, 0, 2, 3, 8, 1, 5, 6, 7, 8, 9})
	f.Add([]byte{0, 5, 1, 3, 1, 0, 5, 3, 9, 2, 1, 7, 0, 0, 1, 5, 5, 4, 200, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		x, m := newRegionIndex(), &indexModel{}
		var clock int64
		for len(ops) >= 5 {
			op, p := ops[0], ops[1:5]
			ops = ops[5:]
			clock++
			switch op % 6 {
			case 0, 1: // insert, the most common change
				e := &regionEntry{region: fuzzRegion(p)}
				e.deadline.Store(clock + int64(p[0]%8))
				want := m.insert(e)
				if got := x.insert(e); got != want {
					t.Fatalf("insert %v = %v, model says %v", e.region, got, want)
				}
			case 2: // remove a cached region, as an invalidation does
				if e := m.byID(uint64(p[0]%6) + 1); e != nil {
					x.remove(e)
					m.entries = slices.DeleteFunc(m.entries, func(o *regionEntry) bool { return o == e })
				}
			case 3: // replace with a copy under a new leader
				if old := m.byID(uint64(p[0]%6) + 1); old != nil {
					e := &regionEntry{region: old.region.WithLeader(&metapb.Peer{Id: uint64(p[1]) + 1, StoreId: 1})}
					e.deadline.Store(old.deadline.Load())
					x.replace(old, e)
					m.entries[slices.Index(m.entries, old)] = e
				}
			case 4: // expire
				now := clock - int64(p[0]%4)
				n := len(m.entries)
				m.entries = slices.DeleteFunc(m.entries, func(e *regionEntry) bool { return e.deadline.Load() < now })
				if got, want := x.removeExpired(now), n-len(m.entries); got != want {
					t.Fatalf("removeExpired(%d) dropped %d, model dropped %d", now, got, want)
				}
			case 5: // lookups only
			}
			checkIndexAgainstModel(t, x, m, p)
		}
	})
}

func checkIndexAgainstModel(t *testing.T, x *regionIndex, m *indexModel, p []byte) {
	t.Helper()
	if !slices.Equal(x.sorted, m.entries) {
		t.Fatalf("index holds %s, model %s", listEntries(x.sorted), listEntries(m.entries))
	}
	if len(x.byID) != len(x.sorted) {
		t.Fatalf("id map has %d entries, slice %d: %v", len(x.byID), len(x.sorted), x.byID)
	}
	for _, e := range x.sorted {
		if x.byID[e.region.ID()] != e {
			t.Fatalf("id map names %s for region %d, slice holds %s", describe(x.byID[e.region.ID()]), e.region.ID(), describe(e))
		}
	}
	keys := [][]byte{nil, fuzzKey(p[0]), fuzzKey(p[1]), fuzzKey(p[2]), fuzzKey(p[3]), []byte("zz")}
	for _, k := range keys {
		if got, want := x.lookup(k), m.lookup(k); got != want {
			t.Fatalf("lookup(%q) = %s, model %s; index %s", k, describe(got), describe(want), listEntries(x.sorted))
		}
		if got, want := x.lookupByEnd(k), m.lookupByEnd(k); got != want {
			t.Fatalf("lookupByEnd(%q) = %s, model %s; index %s", k, describe(got), describe(want), listEntries(x.sorted))
		}
	}
	var want *regionEntry
	if n := len(m.entries); n > 0 {
		want = m.entries[n-1]
	}
	if got := x.last(); got != want {
		t.Fatalf("last() = %s, model %s", describe(got), describe(want))
	}
}

func listEntries(es []*regionEntry) string {
	var b bytes.Buffer
	for _, e := range es {
		fmt.Fprintf(&b, "[%s %q-%q) ", e.region.Ver(), e.region.StartKey(), e.region.EndKey())
	}
	return b.String()
}
