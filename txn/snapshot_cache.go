package txn

import (
	"bytes"
	"sync"
)

// ValueEntry is a value read from a snapshot with the commit ts of the
// version it came from (client-go's kv.ValueEntry). CommitTS is zero
// unless the read asked for it (GetWithCommitTS, BatchGetWithCommitTS).
type ValueEntry struct {
	Value    []byte
	CommitTS uint64
}

// snapshotCache remembers the answers of a snapshot's point reads
// (client-go's KVSnapshot cache): at a fixed ts the answer for a key never
// changes, so a key read twice costs one RPC. A missing key is remembered
// as a nil value. The cache holds at most limit bytes of keys and values;
// past it, entries not just added are evicted in no particular order, as
// client-go does. It is safe for concurrent use.
type snapshotCache struct {
	limit int

	mu      sync.Mutex
	entries map[string]ValueEntry
	size    int
}

func newSnapshotCache(limit int) *snapshotCache {
	if limit <= 0 {
		return nil
	}
	return &snapshotCache{limit: limit, entries: make(map[string]ValueEntry)}
}

// get returns a copy of key's cached entry. An entry read without its
// commit ts is a miss for a caller that wants one; a caller that does not
// gets CommitTS zero, as from TiKV (client-go's getSnapCacheWithoutLock).
func (c *snapshotCache) get(key []byte, wantCommitTS bool) (ValueEntry, bool) {
	if c == nil {
		return ValueEntry{}, false
	}
	c.mu.Lock()
	e, ok := c.entries[string(key)]
	c.mu.Unlock()
	if !ok {
		return ValueEntry{}, false
	}
	if !wantCommitTS {
		e.CommitTS = 0
	} else if e.Value != nil && e.CommitTS == 0 {
		return ValueEntry{}, false
	}
	e.Value = bytes.Clone(e.Value)
	return e, true
}

// put remembers the entries of keys read together (a nil value: not
// found), keeping copies so that callers may modify what they got.
func (c *snapshotCache) put(keys [][]byte, found map[string]ValueEntry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		e := found[string(k)]
		e.Value = bytes.Clone(e.Value)
		if old, ok := c.entries[string(k)]; ok {
			c.size -= len(k) + len(old.Value)
		}
		c.entries[string(k)] = e
		c.size += len(k) + len(e.Value)
	}
	for k, e := range c.entries {
		if c.size <= c.limit {
			break
		}
		if _, fresh := found[k]; fresh {
			continue
		}
		delete(c.entries, k)
		c.size -= len(k) + len(e.Value)
	}
}

// len reports how many keys the cache holds.
func (c *snapshotCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
