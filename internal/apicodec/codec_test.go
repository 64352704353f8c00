package apicodec

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"
	"go.uber.org/goleak"

	"github.com/tikvgo/tikv/internal/codec"
	"github.com/tikvgo/tikv/kv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestV2Keys(t *testing.T) {
	c, err := NewV2(kv.ModeRaw, 0x010203)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.EncodeKey([]byte("k")); !bytes.Equal(got, []byte{'r', 1, 2, 3, 'k'}) {
		t.Fatalf("EncodeKey = %v", got)
	}
	if got := c.EncodeEnd(nil); !bytes.Equal(got, []byte{'r', 1, 2, 4}) {
		t.Fatalf("EncodeEnd(nil) = %v", got)
	}
	if k, err := c.DecodeKey([]byte{'r', 1, 2, 3, 'z'}); err != nil || string(k) != "z" {
		t.Fatalf("DecodeKey = %q, %v", k, err)
	}
	if _, err := c.DecodeKey([]byte{'x', 1, 2, 3, 'z'}); !errors.Is(err, ErrOutOfKeyspace) {
		t.Fatalf("foreign key decoded: %v", err)
	}
	txn, _ := NewV2(kv.ModeTxn, 7)
	if txn.EncodeKey(nil)[0] != 'x' {
		t.Fatal("txn prefix")
	}
	if _, err := NewV2(kv.ModeRaw, MaxKeyspaceID+1); !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("oversized keyspace id: %v", err)
	}
}

// TestRegionClamping: region boundaries decode to logical keys clamped to
// the keyspace; a region wholly outside it is refused. Ports the region
// cases of client-go's TestDecodeEpochNotMatch
// (internal/apicodec/codec_v2_test.go).
func TestRegionClamping(t *testing.T) {
	c, _ := NewV2(kv.ModeRaw, 5)
	enc := func(b []byte) []byte { return codec.EncodeBytes(nil, b) }
	in := func(k string) []byte { return enc(append([]byte{'r', 0, 0, 5}, k...)) }
	for _, tc := range []struct {
		name       string
		start, end []byte
		want       [2]string
		outside    bool
	}{
		{"inside", in("b"), in("m"), [2]string{"b", "m"}, false},
		{"covers the keyspace", nil, nil, [2]string{"", ""}, false},
		{"starts before", enc([]byte("a")), in("m"), [2]string{"", "m"}, false},
		{"ends after", in("m"), enc([]byte("z")), [2]string{"m", ""}, false},
		{"starts at the prefix", enc([]byte{'r', 0, 0, 5}), in("m"), [2]string{"", "m"}, false},
		{"before the keyspace", enc([]byte("a")), enc([]byte{'r', 0, 0, 5}), [2]string{}, true},
		{"after the keyspace", enc([]byte{'r', 0, 0, 6}), nil, [2]string{}, true},
	} {
		r, err := c.DecodeRegion(&metapb.Region{Id: 1, StartKey: tc.start, EndKey: tc.end})
		if tc.outside {
			if !errors.Is(err, ErrOutOfKeyspace) {
				t.Errorf("%s: %v, want out of keyspace", tc.name, err)
			}
			continue
		}
		if err != nil || string(r.StartKey) != tc.want[0] || string(r.EndKey) != tc.want[1] {
			t.Errorf("%s: [%q, %q), %v; want %q", tc.name, r.GetStartKey(), r.GetEndKey(), err, tc.want)
		}
	}
	if got := c.EncodeRegionKey([]byte("b")); !bytes.Equal(got, in("b")) {
		t.Fatalf("EncodeRegionKey = %v", got)
	}
	if got := c.EncodeRegionEnd(nil); !bytes.Equal(got, enc([]byte{'r', 0, 0, 6})) {
		t.Fatalf("EncodeRegionEnd(nil) = %v", got)
	}
}

func TestV1(t *testing.T) {
	raw := NewV1(kv.ModeRaw)
	r := &metapb.Region{StartKey: []byte("a"), EndKey: []byte("b")}
	if got, _ := raw.DecodeRegion(r); got != r || string(raw.EncodeRegionKey([]byte("a"))) != "a" {
		t.Fatal("raw v1 must be the identity")
	}
	txn := NewV1(kv.ModeTxn)
	enc := txn.EncodeRegionKey([]byte("a"))
	if !bytes.Equal(enc, codec.EncodeBytes(nil, []byte("a"))) || string(txn.EncodeKey([]byte("a"))) != "a" {
		t.Fatal("txn v1 encodes region keys only")
	}
	got, err := txn.DecodeRegion(&metapb.Region{StartKey: enc})
	if err != nil || string(got.StartKey) != "a" {
		t.Fatalf("txn v1 decode = %v, %v", got, err)
	}
}
