package codec

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEncodeBytesKnownValues(t *testing.T) {
	// Values from TiKV's codec::bytes tests.
	for _, tc := range []struct {
		in, want []byte
	}{
		{[]byte{}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0xF7}},
		{[]byte{1, 2, 3}, []byte{1, 2, 3, 0, 0, 0, 0, 0, 0xFA}},
		{[]byte{1, 2, 3, 0}, []byte{1, 2, 3, 0, 0, 0, 0, 0, 0xFB}},
		{[]byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0xF7}},
		{[]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 0xFF, 9, 0, 0, 0, 0, 0, 0, 0, 0xF8}},
	} {
		if got := EncodeBytes(nil, tc.in); !bytes.Equal(got, tc.want) {
			t.Errorf("EncodeBytes(%v) = %v, want %v", tc.in, got, tc.want)
		}
		rest, got, err := DecodeBytes(append(tc.want, 0xAA))
		if err != nil || !bytes.Equal(got, tc.in) || !bytes.Equal(rest, []byte{0xAA}) {
			t.Errorf("DecodeBytes(%v) = %v, rest %v, %v", tc.want, got, rest, err)
		}
	}
}

func TestEncodeBytesKeepsOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([][]byte, 500)
	for i := range keys {
		k := make([]byte, r.IntN(20))
		for j := range k {
			k[j] = byte(r.IntN(4)) // few symbols: many shared prefixes
		}
		keys[i] = k
	}
	slices.SortFunc(keys, bytes.Compare)
	for i := 1; i < len(keys); i++ {
		a, b := EncodeBytes(nil, keys[i-1]), EncodeBytes(nil, keys[i])
		if want := bytes.Compare(keys[i-1], keys[i]); bytes.Compare(a, b) != want {
			t.Fatalf("order of %v, %v not kept", keys[i-1], keys[i])
		}
	}
}

func TestDecodeBytesRejectsGarbage(t *testing.T) {
	for _, in := range [][]byte{
		{1, 2, 3},
		{0, 0, 0, 0, 0, 0, 0, 0, 0xF0},
		{1, 0, 0, 0, 0, 0, 0, 1, 0xFA},
	} {
		if _, _, err := DecodeBytes(in); !errors.Is(err, ErrInvalidEncoding) {
			t.Errorf("DecodeBytes(%v) = %v, want ErrInvalidEncoding", in, err)
		}
	}
}

func FuzzBytesRoundTrip(f *testing.F) {
	f.Add([]byte("hello"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		rest, out, err := DecodeBytes(EncodeBytes(nil, in))
		if err != nil || !bytes.Equal(out, in) || len(rest) != 0 {
			t.Fatalf("round trip of %v: %v, %v, %v", in, out, rest, err)
		}
	})
}
