package txn

import (
	"fmt"
	"testing"
)

// TestSnapshotCacheBound: the cache never holds more than its limit past
// a put, keeps what was just put, and a disabled cache holds nothing.
func TestSnapshotCacheBound(t *testing.T) {
	c := newSnapshotCache(100)
	for i := range 50 {
		k := []byte(fmt.Sprintf("key%02d", i)) // 5 bytes
		c.put([][]byte{k}, map[string]ValueEntry{string(k): {Value: []byte("0123456789")}})
		if c.size > 100 {
			t.Fatalf("after %d puts the cache holds %d bytes, over its limit", i+1, c.size)
		}
		if _, ok := c.get(k, false); !ok {
			t.Fatalf("the entry just put (%s) was evicted", k)
		}
	}
	if n := c.len(); n != 6 {
		t.Fatalf("cache holds %d entries of 15 bytes under a 100-byte limit, want 6", n)
	}
	// One batch larger than the limit is kept whole: its entries are all
	// fresh.
	big := map[string]ValueEntry{}
	var keys [][]byte
	for i := range 10 {
		k := fmt.Sprintf("big%02d", i)
		keys = append(keys, []byte(k))
		big[k] = ValueEntry{Value: []byte("0123456789")}
	}
	c.put(keys, big)
	if n := c.len(); n != 10 {
		t.Fatalf("cache holds %d entries, want the 10 just put", n)
	}

	off := newSnapshotCache(0)
	off.put([][]byte{[]byte("k")}, map[string]ValueEntry{"k": {Value: []byte("v")}})
	if _, ok := off.get([]byte("k"), false); ok || off.len() != 0 {
		t.Fatal("a disabled cache remembered an entry")
	}
}
