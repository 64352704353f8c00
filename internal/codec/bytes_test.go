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

// FuzzBytesRoundTrip: for any two byte strings, each encoding decodes back
// to its input; the encodings concatenated decode one after the other (the
// encoding is prefix-free, which is what lets TiKV append a timestamp to an
// encoded key); and the encodings compare as the inputs do, so a range scan
// over encoded keys visits them in raw-key order.
func FuzzBytesRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), []byte("hello\x00"))
	f.Add([]byte{}, []byte{0})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{1, 2, 3, 4, 5, 6, 7})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ea, eb := EncodeBytes(nil, a), EncodeBytes(nil, b)
		for _, tc := range []struct{ in, enc []byte }{{a, ea}, {b, eb}} {
			rest, out, err := DecodeBytes(tc.enc)
			if err != nil || !bytes.Equal(out, tc.in) || len(rest) != 0 {
				t.Fatalf("round trip of %v: %v, rest %v, %v", tc.in, out, rest, err)
			}
		}
		rest, gotA, err := DecodeBytes(append(slices.Clone(ea), eb...))
		if err != nil || !bytes.Equal(gotA, a) || !bytes.Equal(rest, eb) {
			t.Fatalf("decoding %v followed by %v: %v, rest %v, %v", a, b, gotA, rest, err)
		}
		if got, want := bytes.Compare(ea, eb), bytes.Compare(a, b); got != want {
			t.Fatalf("Compare(%v, %v) = %d but their encodings compare %d", a, b, want, got)
		}
		// EncodeBytes appends: a non-empty destination keeps its bytes.
		if got := EncodeBytes([]byte("p"), a); !bytes.Equal(got, append([]byte("p"), ea...)) {
			t.Fatalf("EncodeBytes(%q, %v) = %v", "p", a, got)
		}
	})
}

// FuzzDecodeBytes: arbitrary input never panics the decoder. Input it
// rejects fails wrapping ErrInvalidEncoding; input it accepts was the
// canonical encoding of what it returned (the consumed bytes are exactly
// EncodeBytes of the result), so two different encodings never decode to
// the same key.
func FuzzDecodeBytes(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xF7})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 0xFF, 9, 0, 0, 0, 0, 0, 0, 0, 0xF8, 0xAA})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 1, 0xFA})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xF0})
	f.Fuzz(func(t *testing.T, in []byte) {
		rest, data, err := DecodeBytes(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidEncoding) || rest != nil || data != nil {
				t.Fatalf("DecodeBytes(%v) failed with %v, rest %v, data %v", in, err, rest, data)
			}
			return
		}
		consumed := in[:len(in)-len(rest)]
		if !bytes.Equal(rest, in[len(consumed):]) {
			t.Fatalf("DecodeBytes(%v): rest %v is not a suffix of the input", in, rest)
		}
		if enc := EncodeBytes(nil, data); !bytes.Equal(enc, consumed) {
			t.Fatalf("DecodeBytes(%v) accepted %v as %v, whose encoding is %v", in, consumed, data, enc)
		}
	})
}
