package integration_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
)

// TestRawPutGetDelete: a written pair reads back, an empty value is a
// value, and a deleted or never written key is kv.ErrNotFound.
func TestRawPutGetDelete(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, c := e.ctx(), e.raw()
	k, empty := e.rawKey("k"), e.rawKey("empty")
	if err := c.Put(ctx, k, []byte("v1")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := c.Put(ctx, empty, []byte{}); err != nil {
		t.Fatalf("Put empty value: %v", err)
	}
	if v, err := c.Get(ctx, k); err != nil || string(v) != "v1" {
		t.Fatalf("Get = %q, %v; want v1", v, err)
	}
	if v, err := c.Get(ctx, empty); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("Get of an empty value = %#v, %v; want a non-nil empty slice", v, err)
	}
	if err := c.Put(ctx, k, []byte("v2")); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	if v, err := c.Get(ctx, k); err != nil || string(v) != "v2" {
		t.Fatalf("Get after overwrite = %q, %v", v, err)
	}
	if err := c.Delete(ctx, k); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if v, err := c.Get(ctx, k); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get after Delete = %q, %v; want kv.ErrNotFound", v, err)
	}
	if _, err := c.Get(ctx, e.rawKey("never-written")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want kv.ErrNotFound", err)
	}
}

// TestRawBatch: BatchPut, BatchGet (missing keys nil, in the order asked,
// duplicates allowed) and BatchDelete over many keys.
func TestRawBatch(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, c := e.ctx(), e.raw()
	var keys, values [][]byte
	for i := range 50 {
		keys = append(keys, e.rawKey(fmt.Sprintf("b%03d", i)))
		values = append(values, fmt.Appendf(nil, "value-%d", i))
	}
	if err := c.BatchPut(ctx, keys, values); err != nil {
		t.Fatalf("BatchPut: %v", err)
	}
	ask := [][]byte{keys[7], e.rawKey("missing"), keys[0], keys[7], keys[49]}
	got, err := c.BatchGet(ctx, ask)
	if err != nil {
		t.Fatalf("BatchGet: %v", err)
	}
	want := [][]byte{values[7], nil, values[0], values[7], values[49]}
	if len(got) != len(want) {
		t.Fatalf("BatchGet returned %d values for %d keys", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) || (want[i] == nil) != (got[i] == nil) {
			t.Errorf("BatchGet[%d] (%q) = %q, want %q", i, ask[i], got[i], want[i])
		}
	}
	if err := c.BatchDelete(ctx, keys[:25]); err != nil {
		t.Fatalf("BatchDelete: %v", err)
	}
	got, err = c.BatchGet(ctx, keys)
	if err != nil {
		t.Fatalf("BatchGet after BatchDelete: %v", err)
	}
	for i, v := range got {
		if deleted := i < 25; deleted != (v == nil) {
			t.Errorf("key %q after deleting the first 25: %q", keys[i], v)
		}
	}
}

// TestRawScanAndReverseScan: Scan returns keys in order from start, up to
// the limit and before end; ReverseScan returns them from just below its
// start down to end, in descending order.
func TestRawScanAndReverseScan(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, c := e.ctx(), e.raw()
	if m := e.mock; m != nil {
		// Scans cross region boundaries on the mock; a real cluster's
		// regions are whatever they are.
		for _, s := range []string{"s03", "s07"} {
			if _, err := m.Split(e.rawKey(s)); err != nil {
				t.Fatalf("split: %v", err)
			}
		}
	}
	var keys [][]byte
	for i := range 10 {
		k := e.rawKey(fmt.Sprintf("s%02d", i))
		keys = append(keys, k)
		if err := c.Put(ctx, k, k); err != nil {
			t.Fatalf("Put %q: %v", k, err)
		}
	}
	collect := func(seq func(func(kv.KeyValue, error) bool)) [][]byte {
		var out [][]byte
		for pair, err := range seq {
			if err != nil {
				t.Fatalf("scan: %v", err)
			}
			if !bytes.Equal(pair.Key, pair.Value) {
				t.Fatalf("scan returned %q = %q", pair.Key, pair.Value)
			}
			out = append(out, pair.Key)
		}
		return out
	}
	end := prefixEnd(e.rawPrefix)
	if got := collect(c.Scan(ctx, e.rawPrefix, end, 100)); !slices.EqualFunc(got, keys, bytes.Equal) {
		t.Errorf("Scan all = %q, want %q", got, keys)
	}
	if got := collect(c.Scan(ctx, keys[2], keys[8], 4)); !slices.EqualFunc(got, keys[2:6], bytes.Equal) {
		t.Errorf("Scan [s02, s08) limit 4 = %q, want %q", got, keys[2:6])
	}
	rev := slices.Clone(keys)
	slices.Reverse(rev)
	if got := collect(c.ReverseScan(ctx, end, e.rawPrefix, 100)); !slices.EqualFunc(got, rev, bytes.Equal) {
		t.Errorf("ReverseScan all = %q, want %q", got, rev)
	}
	// ReverseScan(start, end): keys in [end, start), highest first.
	if got := collect(c.ReverseScan(ctx, keys[8], keys[1], 3)); !slices.EqualFunc(got, rev[2:5], bytes.Equal) {
		t.Errorf("ReverseScan [s01, s08) limit 3 = %q, want %q", got, rev[2:5])
	}
	for pair, err := range c.Scan(ctx, keys[2], keys[8], 100, raw.KeyOnly()) {
		if err != nil || len(pair.Value) != 0 {
			t.Fatalf("key-only Scan returned %q = %q, %v", pair.Key, pair.Value, err)
		}
	}
}

// TestRawDeleteRange: DeleteRange removes exactly [start, end).
func TestRawDeleteRange(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, c := e.ctx(), e.raw()
	var keys, values [][]byte
	for i := range 10 {
		keys = append(keys, e.rawKey(fmt.Sprintf("d%d", i)))
		values = append(values, []byte("x"))
	}
	if err := c.BatchPut(ctx, keys, values); err != nil {
		t.Fatalf("BatchPut: %v", err)
	}
	if err := c.DeleteRange(ctx, keys[3], keys[7]); err != nil {
		t.Fatalf("DeleteRange: %v", err)
	}
	got, err := c.BatchGet(ctx, keys)
	if err != nil {
		t.Fatalf("BatchGet: %v", err)
	}
	for i, v := range got {
		if deleted := i >= 3 && i < 7; deleted != (v == nil) {
			t.Errorf("key %q after DeleteRange [d3, d7): %q", keys[i], v)
		}
	}
}

// TestRawCompareAndSwap: in atomic mode a swap happens only when the
// current value is the expected one (nil: absent), and reports the value
// it found; outside atomic mode it is refused with raw.ErrNotAtomic.
func TestRawCompareAndSwap(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := e.ctx()
	c := e.raw(raw.WithAtomicForCAS(true))
	k := e.rawKey("cas")
	if old, swapped, err := c.CompareAndSwap(ctx, k, nil, []byte("a")); err != nil || !swapped || old != nil {
		t.Fatalf("CAS absent -> a = %q, %v, %v; want nil, true", old, swapped, err)
	}
	if old, swapped, err := c.CompareAndSwap(ctx, k, []byte("x"), []byte("b")); err != nil || swapped || string(old) != "a" {
		t.Fatalf("CAS x -> b on a = %q, %v, %v; want a, false", old, swapped, err)
	}
	if old, swapped, err := c.CompareAndSwap(ctx, k, []byte("a"), []byte("b")); err != nil || !swapped || string(old) != "a" {
		t.Fatalf("CAS a -> b = %q, %v, %v; want a, true", old, swapped, err)
	}
	if v, err := c.Get(ctx, k); err != nil || string(v) != "b" {
		t.Fatalf("Get after CAS = %q, %v", v, err)
	}
	if _, _, err := e.raw().CompareAndSwap(ctx, k, []byte("b"), []byte("c")); !errors.Is(err, raw.ErrNotAtomic) {
		t.Fatalf("CAS without atomic mode: %v, want raw.ErrNotAtomic", err)
	}
}

// TestRawTTL: a pair written with a TTL reports a remaining TTL no longer
// than it was given, and disappears once it expires; a pair without TTL
// reports none. The embedded mock runs V1TTL storage for it; a real
// cluster without TTL support skips.
func TestRawTTL(t *testing.T) {
	t.Parallel()
	e := setup(t, mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V1TTL))
	ctx, c := e.ctx(), e.raw()
	long, short, plain := e.rawKey("ttl-long"), e.rawKey("ttl-short"), e.rawKey("no-ttl")
	err := c.Put(ctx, long, []byte("v"), raw.TTL(time.Hour))
	var serverErr *kv.ServerError
	if e.mock == nil && errors.As(err, &serverErr) {
		t.Skipf("the cluster refuses TTLs (storage api-version without TTL): %v", err)
	}
	if err != nil {
		t.Fatalf("Put with TTL: %v", err)
	}
	if ttl, err := c.GetKeyTTL(ctx, long); err != nil || ttl <= 0 || ttl > time.Hour {
		t.Fatalf("GetKeyTTL = %v, %v; want in (0, 1h]", ttl, err)
	}
	if err := c.Put(ctx, plain, []byte("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if ttl, err := c.GetKeyTTL(ctx, plain); err != nil || ttl != 0 {
		t.Fatalf("GetKeyTTL of a pair without TTL = %v, %v; want 0", ttl, err)
	}
	if err := c.BatchPutWithTTL(ctx, [][]byte{short}, [][]byte{[]byte("v")}, []time.Duration{time.Second}); err != nil {
		t.Fatalf("BatchPutWithTTL: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.Get(ctx, short)
		if errors.Is(err, kv.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatalf("Get of the expiring pair: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("a pair with a 1s TTL still readable after 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := c.Get(ctx, long); err != nil {
		t.Fatalf("the 1h pair expired with the 1s one: %v", err)
	}
}
