package kv

import (
	"bytes"
	"testing"
)

// TestPrefixNextKey ports client-go kv/key_test.go TestPrefixNextKey: a
// key of 0xff bytes only has no prefix successor, and PrefixNextKey
// returns the end of the key space (empty).
func TestPrefixNextKey(t *testing.T) {
	for _, k := range [][]byte{{0xff}, {0xff, 0xff}, {0xff, 0xff, 0xff, 0xff}} {
		if got := PrefixNextKey(k); len(got) != 0 {
			t.Errorf("PrefixNextKey(%x) = %x, want empty", k, got)
		}
	}
}

// PrefixNextKey is a tight bound: every key with the prefix sorts below
// it and the first key without the prefix is not below it; the input is
// not modified.
func TestPrefixNextKeyBounds(t *testing.T) {
	cases := []struct{ in, want []byte }{
		{[]byte("abc"), []byte("abd")},
		{[]byte{0x01, 0xff}, []byte{0x02}},
		{[]byte{0x01, 0xfe, 0xff, 0xff}, []byte{0x01, 0xff}},
		{nil, nil},
	}
	for _, c := range cases {
		in := bytes.Clone(c.in)
		got := PrefixNextKey(in)
		if !bytes.Equal(got, c.want) {
			t.Errorf("PrefixNextKey(%x) = %x, want %x", c.in, got, c.want)
		}
		if !bytes.Equal(in, c.in) {
			t.Errorf("PrefixNextKey modified its argument: %x", in)
		}
		if len(c.in) > 0 && len(got) > 0 {
			longest := append(bytes.Clone(c.in), 0xff, 0xff, 0xff)
			if CmpKey(longest, got) >= 0 {
				t.Errorf("%x has the prefix %x but is not below %x", longest, c.in, got)
			}
		}
	}
}

// NextKey appends a zero byte to a copy; CmpKey is bytewise order.
func TestNextKeyAndCmpKey(t *testing.T) {
	k := []byte("k")
	next := NextKey(k)
	if !bytes.Equal(next, []byte("k\x00")) || string(k) != "k" {
		t.Fatalf("NextKey(k) = %q (k now %q)", next, k)
	}
	if CmpKey(k, next) != -1 || CmpKey(next, k) != 1 || CmpKey(k, []byte("k")) != 0 {
		t.Fatalf("CmpKey order wrong")
	}
	if CmpKey(nil, []byte{}) != 0 {
		t.Fatalf("nil and empty keys differ")
	}
}
