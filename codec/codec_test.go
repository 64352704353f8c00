package codec_test

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/tikvgo/tikv/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var ints = []int64{math.MinInt64, math.MinInt64 + 1, -1 << 40, -65536, -65535, -257, -256, -255, -1, 0, 1, 239, 240, 255, 256, 65535, 1 << 40, math.MaxInt64 - 1, math.MaxInt64}

// Every encoding round-trips, leaves what follows it, and sorts as the
// values do (the Desc ones in reverse).
func TestNumberEncodingsRoundTripAndSort(t *testing.T) {
	type enc struct {
		name   string
		encode func(int64) []byte
		decode func([]byte) ([]byte, int64, error)
		desc   bool
		nonNeg bool
	}
	for _, e := range []enc{
		{"Int", func(v int64) []byte { return codec.EncodeInt(nil, v) }, codec.DecodeInt, false, false},
		{"IntDesc", func(v int64) []byte { return codec.EncodeIntDesc(nil, v) }, codec.DecodeIntDesc, true, false},
		{"Uint", func(v int64) []byte { return codec.EncodeUint(nil, uint64(v)) }, func(b []byte) ([]byte, int64, error) {
			r, u, err := codec.DecodeUint(b)
			return r, int64(u), err
		}, false, true},
		{"UintDesc", func(v int64) []byte { return codec.EncodeUintDesc(nil, uint64(v)) }, func(b []byte) ([]byte, int64, error) {
			r, u, err := codec.DecodeUintDesc(b)
			return r, int64(u), err
		}, true, true},
		{"ComparableVarint", func(v int64) []byte { return codec.EncodeComparableVarint(nil, v) }, codec.DecodeComparableVarint, false, false},
		{"ComparableUvarint", func(v int64) []byte { return codec.EncodeComparableUvarint(nil, uint64(v)) }, func(b []byte) ([]byte, int64, error) {
			r, u, err := codec.DecodeComparableUvarint(b)
			return r, int64(u), err
		}, false, true},
	} {
		var encoded [][]byte
		for _, v := range ints {
			if e.nonNeg && v < 0 {
				continue
			}
			b := e.encode(v)
			rest, got, err := e.decode(append(bytes.Clone(b), "tail"...))
			if err != nil || got != v || string(rest) != "tail" {
				t.Errorf("%s(%d) = %x: decoded %d, rest %q, %v", e.name, v, b, got, rest, err)
			}
			encoded = append(encoded, b)
		}
		cmp := bytes.Compare
		if e.desc {
			cmp = func(a, b []byte) int { return bytes.Compare(b, a) }
		}
		if !slices.IsSortedFunc(encoded, cmp) {
			t.Errorf("%s does not sort as the values: %x", e.name, encoded)
		}
		for i := 1; i < len(encoded); i++ {
			if bytes.Equal(encoded[i-1], encoded[i]) {
				t.Errorf("%s: two values encode to %x", e.name, encoded[i])
			}
		}
	}
}

// The byte layouts are TiDB's (client-go's util/codec), so keys built here
// match keys TiDB and client-go build.
func TestNumberEncodingsLayout(t *testing.T) {
	for _, tc := range []struct {
		got, want []byte
	}{
		{codec.EncodeInt(nil, 0), []byte{0x80, 0, 0, 0, 0, 0, 0, 0}},
		{codec.EncodeInt(nil, -1), []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{codec.EncodeIntDesc(nil, 0), []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{codec.EncodeUint(nil, 258), []byte{0, 0, 0, 0, 0, 0, 1, 2}},
		{codec.EncodeUintDesc(nil, 0), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{codec.EncodeComparableUvarint(nil, 0), []byte{8}},
		{codec.EncodeComparableUvarint(nil, 239), []byte{247}},
		{codec.EncodeComparableUvarint(nil, 240), []byte{248, 240}},
		{codec.EncodeComparableUvarint(nil, 256), []byte{249, 1, 0}},
		{codec.EncodeComparableUvarint(nil, math.MaxUint64), []byte{255, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{codec.EncodeComparableVarint(nil, -1), []byte{7, 0xff}},
		{codec.EncodeComparableVarint(nil, -255), []byte{7, 0x01}},
		{codec.EncodeComparableVarint(nil, -256), []byte{6, 0xff, 0x00}},
		{codec.EncodeComparableVarint(nil, math.MinInt64), []byte{0, 0x80, 0, 0, 0, 0, 0, 0, 0}},
		{codec.EncodeBytes(nil, []byte("abc")), []byte{'a', 'b', 'c', 0, 0, 0, 0, 0, 0xfa}},
		{codec.EncodeBytes([]byte("t"), nil), []byte{'t', 0, 0, 0, 0, 0, 0, 0, 0, 0xf7}},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("encoded %x, want %x", tc.got, tc.want)
		}
	}
}

// Short or malformed input is an error wrapping ErrInvalidEncoding, never
// a panic or a wrong value.
func TestNumberDecodingErrors(t *testing.T) {
	bad := []struct {
		name string
		err  error
	}{
		{"Int short", second(codec.DecodeInt([]byte{1, 2, 3}))},
		{"IntDesc short", second(codec.DecodeIntDesc(nil))},
		{"Uint short", second(codec.DecodeUint([]byte{1}))},
		{"UintDesc short", second(codec.DecodeUintDesc([]byte{1, 2, 3, 4, 5, 6, 7}))},
		{"Uvarint empty", second(codec.DecodeComparableUvarint(nil))},
		{"Uvarint negative tag", second(codec.DecodeComparableUvarint([]byte{7, 0xff}))},
		{"Uvarint short", second(codec.DecodeComparableUvarint([]byte{250, 1}))},
		{"Varint empty", second(codec.DecodeComparableVarint(nil))},
		{"Varint short", second(codec.DecodeComparableVarint([]byte{5, 1}))},
		{"Varint overflow", second(codec.DecodeComparableVarint(codec.EncodeComparableUvarint(nil, math.MaxUint64)))},
		{"Varint negative tag, positive value", second(codec.DecodeComparableVarint([]byte{0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}))},
		{"Bytes short", third(codec.DecodeBytes([]byte{'a', 0xff}))},
	}
	for _, b := range bad {
		if !errors.Is(b.err, codec.ErrInvalidEncoding) {
			t.Errorf("%s: %v, want ErrInvalidEncoding", b.name, b.err)
		}
	}
}

func second[A, B any](_ A, _ B, err error) error { return err }
func third[A, B any](_ A, _ B, err error) error  { return err }

// FuzzComparableVarint: every int64 round-trips, and encodings sort as
// the values.
func FuzzComparableVarint(f *testing.F) {
	for _, v := range ints {
		f.Add(v, v+1)
	}
	f.Fuzz(func(t *testing.T, a, b int64) {
		ea, eb := codec.EncodeComparableVarint(nil, a), codec.EncodeComparableVarint(nil, b)
		if _, got, err := codec.DecodeComparableVarint(ea); err != nil || got != a {
			t.Fatalf("%d: decoded %d, %v", a, got, err)
		}
		want := 0
		if a < b {
			want = -1
		} else if a > b {
			want = 1
		}
		if got := bytes.Compare(ea, eb); got != want {
			t.Fatalf("compare(%d, %d) = %d on %x, %x", a, b, got, ea, eb)
		}
	})
}
