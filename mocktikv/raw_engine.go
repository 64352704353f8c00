package mocktikv

import (
	"bytes"
	"slices"
	"sort"
	"sync"
)

// Column families of the raw engine. TiKV's API V1 raw commands accept ""
// (meaning default) and these three names (src/storage/mod.rs rawkv_cf).
const (
	cfDefault = "default"
	cfLock    = "lock"
	cfWrite   = "write"
)

// rawEngine is the cluster's one key-value store. Replication is logical:
// every store reads and writes the same engine, so a follower that serves a
// replica read sees exactly what the leader wrote.
//
// Each column family is a sorted slice of entries. Point writes insert with a
// binary search; batch writes sort the batch and merge it in one pass, so a
// 10,000-key batch costs O((n+m) log m), not O(n*m).
type rawEngine struct {
	mu  sync.RWMutex
	cfs map[string]*sortedKV
}

func newRawEngine() *rawEngine {
	return &rawEngine{cfs: map[string]*sortedKV{
		cfDefault: {},
		cfLock:    {},
		cfWrite:   {},
	}}
}

// kvEntry is one stored pair. The engine owns both slices.
type kvEntry struct {
	key, value []byte
}

// sortedKV is an ordered map from key to value.
type sortedKV struct {
	entries []kvEntry
}

// search returns the index of the first entry whose key is >= key.
func (s *sortedKV) search(key []byte) int {
	return sort.Search(len(s.entries), func(i int) bool {
		return bytes.Compare(s.entries[i].key, key) >= 0
	})
}

func (s *sortedKV) get(key []byte) ([]byte, bool) {
	i := s.search(key)
	if i < len(s.entries) && bytes.Equal(s.entries[i].key, key) {
		return s.entries[i].value, true
	}
	return nil, false
}

// putBatch stores every pair; for a key given more than once the last value
// wins, as when TiKV applies a write batch in order. Keys and values are
// copied.
func (s *sortedKV) putBatch(pairs []kvEntry) {
	if len(pairs) == 1 {
		s.putOne(pairs[0].key, pairs[0].value)
		return
	}
	batch := make([]kvEntry, len(pairs))
	for i, p := range pairs {
		batch[i] = kvEntry{key: bytes.Clone(p.key), value: cloneValue(p.value)}
	}
	// A stable sort keeps request order among equal keys; keeping the last
	// of each run makes the latest write win.
	slices.SortStableFunc(batch, func(a, b kvEntry) int { return bytes.Compare(a.key, b.key) })
	dedup := batch[:0]
	for i, e := range batch {
		if i+1 < len(batch) && bytes.Equal(e.key, batch[i+1].key) {
			continue
		}
		dedup = append(dedup, e)
	}
	merged := make([]kvEntry, 0, len(s.entries)+len(dedup))
	i, j := 0, 0
	for i < len(s.entries) && j < len(dedup) {
		switch c := bytes.Compare(s.entries[i].key, dedup[j].key); {
		case c < 0:
			merged = append(merged, s.entries[i])
			i++
		case c > 0:
			merged = append(merged, dedup[j])
			j++
		default:
			merged = append(merged, dedup[j])
			i++
			j++
		}
	}
	merged = append(merged, s.entries[i:]...)
	merged = append(merged, dedup[j:]...)
	s.entries = merged
}

func (s *sortedKV) putOne(key, value []byte) {
	i := s.search(key)
	if i < len(s.entries) && bytes.Equal(s.entries[i].key, key) {
		s.entries[i].value = cloneValue(value)
		return
	}
	s.entries = slices.Insert(s.entries, i, kvEntry{key: bytes.Clone(key), value: cloneValue(value)})
}

// deleteBatch removes every key; missing keys are not an error.
func (s *sortedKV) deleteBatch(keys [][]byte) {
	if len(keys) == 1 {
		i := s.search(keys[0])
		if i < len(s.entries) && bytes.Equal(s.entries[i].key, keys[0]) {
			s.entries = slices.Delete(s.entries, i, i+1)
		}
		return
	}
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, bytes.Compare)
	kept := s.entries[:0]
	j := 0
	for _, e := range s.entries {
		for j < len(sorted) && bytes.Compare(sorted[j], e.key) < 0 {
			j++
		}
		if j < len(sorted) && bytes.Equal(sorted[j], e.key) {
			continue
		}
		kept = append(kept, e)
	}
	clear(s.entries[len(kept):])
	s.entries = kept
}

// deleteRange removes the keys in [start, end); an empty end means no upper
// bound.
func (s *sortedKV) deleteRange(start, end []byte) {
	lo := s.search(start)
	hi := len(s.entries)
	if len(end) > 0 {
		hi = s.search(end)
	}
	if lo < hi {
		s.entries = slices.Delete(s.entries, lo, hi)
	}
}

// scan returns at most limit pairs in [lower, upper) (an empty upper means no
// bound), ascending, or descending when reverse is set. The returned slices
// are copies.
func (s *sortedKV) scan(lower, upper []byte, limit int, keyOnly, reverse bool) []kvEntry {
	lo := s.search(lower)
	hi := len(s.entries)
	if len(upper) > 0 {
		hi = s.search(upper)
	}
	var out []kvEntry
	emit := func(e kvEntry) {
		c := kvEntry{key: bytes.Clone(e.key)}
		if !keyOnly {
			c.value = cloneValue(e.value)
		}
		out = append(out, c)
	}
	if reverse {
		for i := hi - 1; i >= lo && len(out) < limit; i-- {
			emit(s.entries[i])
		}
	} else {
		for i := lo; i < hi && len(out) < limit; i++ {
			emit(s.entries[i])
		}
	}
	return out
}

// cloneValue copies v, keeping a non-nil result for an empty value: TiKV
// distinguishes an empty value from a missing key.
func cloneValue(v []byte) []byte {
	return append([]byte{}, v...)
}

func (e *rawEngine) get(cf string, key []byte) ([]byte, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	v, ok := e.cfs[cf].get(key)
	if !ok {
		return nil, false
	}
	return cloneValue(v), true
}

func (e *rawEngine) put(cf string, pairs []kvEntry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfs[cf].putBatch(pairs)
}

func (e *rawEngine) delete(cf string, keys [][]byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfs[cf].deleteBatch(keys)
}

func (e *rawEngine) deleteRange(cf string, start, end []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfs[cf].deleteRange(start, end)
}

func (e *rawEngine) scan(cf string, lower, upper []byte, limit int, keyOnly, reverse bool) []kvEntry {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.cfs[cf].scan(lower, upper, limit, keyOnly, reverse)
}
