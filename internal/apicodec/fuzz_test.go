package apicodec

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/internal/codec"
	"github.com/tikvgo/tikv/kv"
)

// The fuzz targets below check the codec's security properties for any
// keyspace and any keys. Their seeds (testdata/fuzz/FuzzXxx) run as
// ordinary tests; `go test -run '^$' -fuzz=FuzzXxx -fuzztime=10s
// ./internal/apicodec` explores further.

// fuzzCodec builds the v2 codec the fuzzer's inputs name.
func fuzzCodec(t *testing.T, id uint32, txn bool) *Codec {
	t.Helper()
	mode := kv.ModeRaw
	if txn {
		mode = kv.ModeTxn
	}
	c, err := NewV2(mode, id%(MaxKeyspaceID+1))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzKeyRoundTrip: every key survives encoding and decoding, as a request
// key, as a range and as a region boundary.
func FuzzKeyRoundTrip(f *testing.F) {
	f.Add(uint32(1), false, []byte("k"), []byte("m"))
	f.Add(uint32(MaxKeyspaceID), true, []byte{}, []byte{0xff, 0xff})
	f.Add(uint32(0), true, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte{})
	f.Fuzz(func(t *testing.T, id uint32, txn bool, key, end []byte) {
		c := fuzzCodec(t, id, txn)
		got, err := c.DecodeKey(c.EncodeKey(key))
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("DecodeKey(EncodeKey(%q)) = %q, %v", key, got, err)
		}
		s, e, err := c.DecodeRange(c.EncodeKey(key), c.EncodeEnd(end))
		if err != nil || !bytes.Equal(s, key) || !bytes.Equal(e, end) {
			t.Fatalf("range [%q, %q) decoded to [%q, %q), %v", key, end, s, e, err)
		}
		if len(end) > 0 && bytes.Compare(key, end) >= 0 {
			return
		}
		r, err := c.DecodeRegion(&metapb.Region{Id: 1, StartKey: c.EncodeRegionKey(key), EndKey: c.EncodeRegionEnd(end)})
		if err != nil || !bytes.Equal(r.StartKey, key) || !bytes.Equal(r.EndKey, end) {
			t.Fatalf("region [%q, %q) decoded to %v, %v", key, end, r, err)
		}
	})
}

// FuzzRangeInKeyspace: an encoded range never leaves the keyspace and keeps
// its order, in request form and in region form (the bug fixed here:
// EncodeRegionEnd dropped the prefix of a bounded end).
func FuzzRangeInKeyspace(f *testing.F) {
	f.Add(uint32(1), false, []byte("a"), []byte("b"))
	f.Add(uint32(7), true, []byte{}, []byte{})
	f.Add(uint32(MaxKeyspaceID), false, []byte{0xff}, []byte{0xff, 0})
	f.Fuzz(func(t *testing.T, id uint32, txn bool, start, end []byte) {
		c := fuzzCodec(t, id, txn)
		lo, hi := c.prefix, c.prefixEnd
		s, e := c.EncodeKey(start), c.EncodeEnd(end)
		if bytes.Compare(s, lo) < 0 || bytes.Compare(s, hi) >= 0 || bytes.Compare(e, lo) <= 0 || bytes.Compare(e, hi) > 0 {
			t.Fatalf("[%q, %q) encoded to [%q, %q), outside [%q, %q)", start, end, s, e, lo, hi)
		}
		rlo, rhi := codec.EncodeBytes(nil, lo), codec.EncodeBytes(nil, hi)
		rs, re := c.EncodeRegionKey(start), c.EncodeRegionEnd(end)
		if bytes.Compare(rs, rlo) < 0 || bytes.Compare(rs, rhi) >= 0 || bytes.Compare(re, rlo) <= 0 || bytes.Compare(re, rhi) > 0 {
			t.Fatalf("region range [%q, %q) encoded to [%q, %q), outside the keyspace", start, end, rs, re)
		}
		if len(end) > 0 && bytes.Compare(start, end) < 0 && (bytes.Compare(s, e) >= 0 || bytes.Compare(rs, re) >= 0) {
			t.Fatalf("[%q, %q) lost its order: [%q, %q), region [%q, %q)", start, end, s, e, rs, re)
		}
		if len(end) == 0 && (!bytes.Equal(e, hi) || !bytes.Equal(re, rhi)) {
			t.Fatalf("an open end encoded to %q / %q, not the keyspace's end", e, re)
		}
	})
}

// FuzzForeignKeyRejected: a key TiKV returns decodes only if it carries the
// keyspace's prefix; anything else is an error, never the key as it is. A
// region wholly outside the keyspace is an error too.
func FuzzForeignKeyRejected(f *testing.F) {
	f.Add(uint32(1), false, []byte{'r', 0, 0, 2, 'k'})
	f.Add(uint32(1), true, []byte{'r', 0, 0, 1, 'k'})
	f.Add(uint32(1), false, []byte{'r', 0, 0})
	f.Add(uint32(0), true, []byte{})
	f.Fuzz(func(t *testing.T, id uint32, txn bool, wire []byte) {
		c := fuzzCodec(t, id, txn)
		got, err := c.DecodeKey(wire)
		ours := bytes.HasPrefix(wire, c.prefix)
		if ours != c.InKeyspace(wire) {
			t.Fatalf("InKeyspace(%q) = %v", wire, !ours)
		}
		switch {
		case ours && (err != nil || !bytes.Equal(got, wire[len(c.prefix):])):
			t.Fatalf("own key %q decoded to %q, %v", wire, got, err)
		case !ours && (!errors.Is(err, ErrOutOfKeyspace) || got != nil):
			t.Fatalf("foreign key %q decoded to %q, %v", wire, got, err)
		}
		if _, _, err := c.DecodeRange(wire, c.prefixEnd); ours == (err != nil) {
			t.Fatalf("range starting at %q: %v", wire, err)
		}
		if _, _, err := c.DecodeRange(c.prefix, nil); !errors.Is(err, ErrOutOfKeyspace) {
			t.Fatalf("an unbounded range end decoded: %v", err)
		}
		// A region ending at or before the keyspace's start, or starting at
		// or after its end, is not the keyspace's.
		if bytes.Compare(wire, c.prefix) <= 0 && len(wire) > 0 {
			r := &metapb.Region{Id: 1, EndKey: codec.EncodeBytes(nil, wire)}
			if _, err := c.DecodeRegion(r); !errors.Is(err, ErrOutOfKeyspace) {
				t.Fatalf("region ending at %q decoded: %v", wire, err)
			}
		}
		if bytes.Compare(wire, c.prefixEnd) >= 0 {
			r := &metapb.Region{Id: 1, StartKey: codec.EncodeBytes(nil, wire)}
			if _, err := c.DecodeRegion(r); !errors.Is(err, ErrOutOfKeyspace) {
				t.Fatalf("region starting at %q decoded: %v", wire, err)
			}
		}
	})
}
