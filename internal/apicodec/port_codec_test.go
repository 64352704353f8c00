package apicodec

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/pingcap/kvproto/pkg/apipb"
	"github.com/pingcap/kvproto/pkg/keyspacepb"

	"github.com/tikvgo/tikv/internal/codec"
	"github.com/tikvgo/tikv/kv"
)

// TestPortParseKeyspaceID ports client-go's TestParseKeyspaceID
// (internal/apicodec/codec_test.go). client-go reads the keyspace id out of
// any prefixed key; tikvgo's codec is bound to one keyspace, so the port
// checks the same inputs against the codec of keyspace 0x010203: keys with
// the raw or the txn mode byte and that id belong to it in their own mode
// (a bare 4-byte prefix included), while a key with a non-keyspace mode
// byte ('t', TiDB's table prefix) or shorter than the prefix is refused.
func TestPortParseKeyspaceID(t *testing.T) {
	raw, err := NewV2(kv.ModeRaw, 0x010203)
	if err != nil {
		t.Fatal(err)
	}
	txn, err := NewV2(kv.ModeTxn, 0x010203)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    *Codec
		key  []byte
		want []byte
	}{
		{txn, []byte{'x', 1, 2, 3}, []byte{}},
		{raw, []byte{'r', 1, 2, 3}, []byte{}},
		{txn, []byte{'x', 1, 2, 3, 1, 2, 3, 4}, []byte{1, 2, 3, 4}},
		{raw, []byte{'r', 1, 2, 3, 1, 2, 3, 4}, []byte{1, 2, 3, 4}},
	} {
		got, err := tc.c.DecodeKey(tc.key)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%v DecodeKey(%v) = %v, %v; want %v", tc.c.Mode(), tc.key, got, err, tc.want)
		}
		if !tc.c.InKeyspace(tc.key) {
			t.Errorf("%v InKeyspace(%v) = false", tc.c.Mode(), tc.key)
		}
	}
	for _, key := range [][]byte{{'t', 0, 0}, {'t', 0, 0, 1, 1, 2, 3}, {'x', 1, 2}, {'r', 1, 2}} {
		for _, c := range []*Codec{raw, txn} {
			if _, err := c.DecodeKey(key); !errors.Is(err, ErrOutOfKeyspace) {
				t.Errorf("%v DecodeKey(%v) = %v, want ErrOutOfKeyspace", c.Mode(), key, err)
			}
		}
	}
}

// TestPortDecodeKey ports client-go's TestDecodeKey
// (internal/apicodec/codec_test.go): under API v2 a raw ('r') or txn ('x')
// key loses its 4-byte prefix; under API v1 a key is returned whole, 't'
// prefix and all; under API v2 a 't' key is refused.
func TestPortDecodeKey(t *testing.T) {
	raw, _ := NewV2(kv.ModeRaw, 0x010203)
	txn, _ := NewV2(kv.ModeTxn, 0x010203)
	if k, err := raw.DecodeKey([]byte{'r', 1, 2, 3, 1, 2, 3, 4}); err != nil || !bytes.Equal(k, []byte{1, 2, 3, 4}) {
		t.Fatalf("v2 raw DecodeKey = %v, %v", k, err)
	}
	if k, err := txn.DecodeKey([]byte{'x', 1, 2, 3, 1, 2, 3, 4}); err != nil || !bytes.Equal(k, []byte{1, 2, 3, 4}) {
		t.Fatalf("v2 txn DecodeKey = %v, %v", k, err)
	}
	tKey := []byte{'t', 1, 2, 3, 1, 2, 3, 4}
	for _, mode := range []kv.KeyMode{kv.ModeRaw, kv.ModeTxn} {
		if k, err := NewV1(mode).DecodeKey(tKey); err != nil || !bytes.Equal(k, tKey) {
			t.Fatalf("v1 %v DecodeKey = %v, %v", mode, k, err)
		}
	}
	if k, err := txn.DecodeKey(tKey); !errors.Is(err, ErrOutOfKeyspace) || k != nil {
		t.Fatalf("v2 DecodeKey of a 't' key = %v, %v", k, err)
	}
}

// TestPortNewCodecV2 ports client-go's TestNewCodecV2
// (internal/apicodec/codec_v2_test.go): an id over 24 bits and an unknown
// key mode are refused; otherwise the prefix is the mode byte and the id in
// three big-endian bytes, and the keyspace's end (EncodeEnd of the empty
// key) carries into higher bytes, into the mode byte for the last id.
func TestPortNewCodecV2(t *testing.T) {
	if _, err := NewV2(kv.ModeRaw, math.MaxUint32); !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("id MaxUint32: %v", err)
	}
	if _, err := NewV2(kv.KeyMode(99), 0); !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("mode 99: %v", err)
	}
	for _, tc := range []struct {
		mode        kv.KeyMode
		id          uint32
		prefix, end []byte
	}{
		{kv.ModeRaw, 1<<24 - 2, []byte{'r', 255, 255, 254}, []byte{'r', 255, 255, 255}},
		{kv.ModeTxn, 1<<8 - 1, []byte{'x', 0, 0, 255}, []byte{'x', 0, 1, 0}},
		{kv.ModeTxn, 1<<16 - 1, []byte{'x', 0, 255, 255}, []byte{'x', 1, 0, 0}},
		{kv.ModeRaw, 1<<24 - 1, []byte{'r', 255, 255, 255}, []byte{'s', 0, 0, 0}},
	} {
		c, err := NewV2(tc.mode, tc.id)
		if err != nil {
			t.Fatalf("NewV2(%v, %d): %v", tc.mode, tc.id, err)
		}
		if got := c.EncodeKey(nil); !bytes.Equal(got, tc.prefix) {
			t.Errorf("NewV2(%v, %d) prefix %v, want %v", tc.mode, tc.id, got, tc.prefix)
		}
		if got := c.EncodeEnd(nil); !bytes.Equal(got, tc.end) {
			t.Errorf("NewV2(%v, %d) end %v, want %v", tc.mode, tc.id, got, tc.end)
		}
		if c.KeyspaceID() != tc.id || c.Mode() != tc.mode || !c.V2() {
			t.Errorf("NewV2(%v, %d) = id %d, mode %v", tc.mode, tc.id, c.KeyspaceID(), c.Mode())
		}
	}
}

// TestPortKeyspaceIdentityRejected ports client-go's
// TestNewCodecV2RejectsKeyspaceIdentity and TestNewCodecV2RejectsNilMeta
// (internal/apicodec/codec_v2_test.go): keyspace metadata in the API v3
// identity form, or none at all, must not become keyspace 0 (DEFAULT).
// In tikvgo the metadata is turned into the id NewV2 takes by KeyspaceIDOf.
func TestPortKeyspaceIdentityRejected(t *testing.T) {
	ident := &keyspacepb.KeyspaceMeta{Name: "v3", Keyspace: &keyspacepb.KeyspaceMeta_KeyspaceIdentity{
		KeyspaceIdentity: &apipb.KeyspaceIdentity{NamespaceId: 1, KeyspaceId: 2},
	}}
	if id, err := KeyspaceIDOf(ident); !errors.Is(err, kv.ErrAPIVersionMismatch) || id != 0 {
		t.Fatalf("identity meta: %d, %v", id, err)
	}
	if id, err := KeyspaceIDOf(nil); !errors.Is(err, kv.ErrProtocol) || id != 0 {
		t.Fatalf("nil meta: %d, %v", id, err)
	}
	if _, err := KeyspaceIDOf(&keyspacepb.KeyspaceMeta{Keyspace: &keyspacepb.KeyspaceMeta_Id{Id: MaxKeyspaceID + 1}}); !errors.Is(err, kv.ErrProtocol) {
		t.Fatalf("oversized id: %v", err)
	}
	for _, id := range []uint32{0, 7, MaxKeyspaceID} {
		got, err := KeyspaceIDOf(&keyspacepb.KeyspaceMeta{Keyspace: &keyspacepb.KeyspaceMeta_Id{Id: id}})
		if err != nil || got != id {
			t.Fatalf("KeyspaceIDOf(id %d) = %d, %v", id, got, err)
		}
	}
}

// TestPortGetKeyspaceID ports client-go's TestGetKeyspaceID
// (internal/apicodec/codec_v2_test.go): the codec reports the keyspace it
// was built for, and API v1 codecs report 0.
func TestPortGetKeyspaceID(t *testing.T) {
	c, err := NewV2(kv.ModeTxn, 4242)
	if err != nil || c.KeyspaceID() != 4242 {
		t.Fatalf("KeyspaceID = %d, %v", c.KeyspaceID(), err)
	}
	if NewV1(kv.ModeTxn).KeyspaceID() != 0 {
		t.Fatal("v1 codec reports a keyspace")
	}
}

// TestPortDecodeBucketKeys ports client-go's TestDecodeBucketKeys
// (internal/apicodec/codec_v2_test.go): bucket boundaries reported for a
// region that reaches past the keyspace on either side decode to the
// keyspace's own boundaries, framed by "" (the keyspace's start) and ""
// (its end), whichever way the region's edges are reported: keys of the
// previous keyspace, the keyspace's bare prefix, an empty end key, keys of
// the next keyspace.
func TestPortDecodeBucketKeys(t *testing.T) {
	c, err := NewV2(kv.ModeTxn, 5)
	if err != nil {
		t.Fatal(err)
	}
	prev, next := []byte{'x', 0, 0, 4}, []byte{'x', 0, 0, 6}
	enc := func(prefix []byte, k string) []byte { return codec.EncodeBytes(nil, append(bytes.Clone(prefix), k...)) }
	own := func(k string) []byte { return c.EncodeRegionKey([]byte(k)) }
	want := [][]byte{{}, []byte("a"), []byte("b"), []byte("c"), {}}
	for _, tc := range []struct {
		name string
		keys [][]byte
	}{
		{"neighbours on both sides", [][]byte{
			enc(prev, "a"), enc(prev, "b"), enc(prev, "c"),
			own("a"), own("b"), own("c"),
			enc(next, ""), enc(next, "a"), enc(next, "b"), enc(next, "c"),
		}},
		{"own start, empty end", [][]byte{
			enc(prev, "a"), enc(prev, "b"), enc(prev, "c"),
			own(""), own("a"), own("b"), own("c"),
			{},
		}},
		{"empty start, own start, empty end", [][]byte{
			{},
			enc(prev, "a"), enc(prev, "b"), enc(prev, "c"),
			own(""), own("a"), own("b"), own("c"),
			{},
		}},
	} {
		got, err := c.DecodeBucketKeys(tc.keys)
		if err != nil || !equalKeys(got, want) {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, want)
		}
	}

	// Inside the keyspace the boundaries come back as they are.
	got, err := c.DecodeBucketKeys([][]byte{own("b"), own("c"), own("d")})
	if err != nil || !equalKeys(got, [][]byte{[]byte("b"), []byte("c"), []byte("d")}) {
		t.Fatalf("inner region: %q, %v", got, err)
	}
	// API v1: raw keys pass through, transactional keys are decoded.
	rawKeys := [][]byte{[]byte("a"), []byte("b")}
	if got, _ := NewV1(kv.ModeRaw).DecodeBucketKeys(rawKeys); !equalKeys(got, rawKeys) {
		t.Fatalf("v1 raw: %q", got)
	}
	v1txn := NewV1(kv.ModeTxn)
	got, err = v1txn.DecodeBucketKeys([][]byte{{}, v1txn.EncodeRegionKey([]byte("m")), {}})
	if err != nil || !equalKeys(got, [][]byte{nil, []byte("m"), nil}) {
		t.Fatalf("v1 txn: %q, %v", got, err)
	}
	if _, err := v1txn.DecodeBucketKeys([][]byte{[]byte("not encoded")}); !errors.Is(err, codec.ErrInvalidEncoding) {
		t.Fatalf("v1 txn undecodable key: %v", err)
	}
}

func equalKeys(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
