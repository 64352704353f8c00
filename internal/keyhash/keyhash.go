package keyhash

import (
	"encoding/binary"
	"math/bits"
)

// Fingerprint64 is the hash TiKV gives a key in the deadlock detector:
// FarmHash's 64-bit fingerprint of the raw key (TiKV's Key::gen_hash calls
// farmhash::fingerprint64 in components/txn_types/src/types.rs). Clients
// compare it with their own keys: client-go marks a Deadlock retryable when
// deadlock_key_hash is the fingerprint of one of the keys it is locking
// (txnkv/transaction/txn.go, hashInKeys), so it must be the same function,
// bit for bit. It is implemented here to keep the module free of a hash
// dependency; keyhash_test.go pins it to reference values.
func Fingerprint64(key []byte) uint64 {
	n := len(key)
	switch {
	case n <= 16:
		return fpShort(key)
	case n <= 32:
		return fpMedium(key)
	case n <= 64:
		return fpLong(key)
	default:
		return fpBlocks(key)
	}
}

// The three odd 64-bit multipliers of the CityHash / FarmHash family.
const (
	fpK0 uint64 = 0xc3a5c85c97cb3127
	fpK1 uint64 = 0xb492b66fbe98f273
	fpK2 uint64 = 0x9ae16a3b2f90404f
)

func le64(b []byte, at int) uint64 { return binary.LittleEndian.Uint64(b[at:]) }
func le32(b []byte, at int) uint64 { return uint64(binary.LittleEndian.Uint32(b[at:])) }

// rotr is a right rotation, the direction FarmHash's Rotate uses.
func rotr(v uint64, n int) uint64 { return bits.RotateLeft64(v, -n) }

func fold47(v uint64) uint64 { return v ^ v>>47 }

// mix2 combines two words with multiplier mul (FarmHash's HashLen16 with an
// explicit multiplier).
func mix2(u, v, mul uint64) uint64 {
	a := fold47((u ^ v) * mul)
	b := fold47((v ^ a) * mul)
	return b * mul
}

// fpShort hashes 0..16 bytes.
func fpShort(s []byte) uint64 {
	n := uint64(len(s))
	switch {
	case n >= 8:
		mul := fpK2 + 2*n
		first := le64(s, 0) + fpK2
		last := le64(s, len(s)-8)
		return mix2(rotr(last, 37)*mul+first, (rotr(first, 25)+last)*mul, mul)
	case n >= 4:
		mul := fpK2 + 2*n
		return mix2(n+le32(s, 0)<<3, le32(s, len(s)-4), mul)
	case n > 0:
		lo := uint32(s[0]) + uint32(s[n/2])<<8
		hi := uint32(n) + uint32(s[n-1])<<2
		return fold47(uint64(lo)*fpK2^uint64(hi)*fpK0) * fpK2
	default:
		return fpK2
	}
}

// fpMedium hashes 17..32 bytes.
func fpMedium(s []byte) uint64 {
	n := len(s)
	mul := fpK2 + 2*uint64(n)
	a := le64(s, 0) * fpK1
	b := le64(s, 8)
	c := le64(s, n-8) * mul
	d := le64(s, n-16) * fpK2
	return mix2(rotr(a+b, 43)+rotr(c, 30)+d, a+rotr(b+fpK2, 18)+c, mul)
}

// fpLong hashes 33..64 bytes: the 17..32 step over the outer words, then
// again with the inner ones folded in.
func fpLong(s []byte) uint64 {
	n := len(s)
	mul := fpK2 + 2*uint64(n)
	a := le64(s, 0) * fpK2
	b := le64(s, 8)
	c := le64(s, n-8) * mul
	d := le64(s, n-16) * fpK2
	y := rotr(a+b, 43) + rotr(c, 30) + d
	z := mix2(y, a+rotr(b+fpK2, 18)+c, mul)
	e := le64(s, 16) * mul
	f := le64(s, 24)
	g := (y + le64(s, n-32)) * mul
	h := (z + le64(s, n-24)) * mul
	return mix2(rotr(e+f, 43)+rotr(g, 30)+h, e+rotr(f+a, 18)+g, mul)
}

// pair is a 128-bit intermediate value.
type pair struct{ lo, hi uint64 }

// weak32 mixes the 32 bytes at s[at:] into seeds a and b.
func weak32(s []byte, at int, a, b uint64) pair {
	w, x, y, z := le64(s, at), le64(s, at+8), le64(s, at+16), le64(s, at+24)
	a += w
	b = rotr(b+a+z, 21)
	c := a
	a += x + y
	b += rotr(a, 44)
	return pair{a + z, b + c}
}

// fpBlocks hashes more than 64 bytes: 64-byte blocks through a 56-byte
// state, then the last 64 bytes (which may overlap the last block) with a
// multiplier derived from the state.
func fpBlocks(s []byte) uint64 {
	seed := uint64(81)
	n := len(s)
	var v, w pair
	x := seed*fpK2 + le64(s, 0)
	y := seed*fpK1 + 113
	z := fold47(y*fpK2+113) * fpK2

	// Process whole blocks while more than 64 bytes remain.
	at := 0
	for ; n-at > 64; at += 64 {
		x = rotr(x+y+v.lo+le64(s, at+8), 37) * fpK1
		y = rotr(y+v.hi+le64(s, at+48), 42) * fpK1
		x ^= w.hi
		y += v.lo + le64(s, at+40)
		z = rotr(z+w.lo, 33) * fpK1
		v = weak32(s, at, v.hi*fpK1, x+w.lo)
		w = weak32(s, at+32, z+w.hi, y+le64(s, at+16))
		x, z = z, x
	}

	last := n - 64
	mul := fpK1 + (z&0xff)<<1
	w.lo += uint64(n-1) & 63
	v.lo += w.lo
	w.lo += v.lo
	x = rotr(x+y+v.lo+le64(s, last+8), 37) * mul
	y = rotr(y+v.hi+le64(s, last+48), 42) * mul
	x ^= w.hi * 9
	y += v.lo*9 + le64(s, last+40)
	z = rotr(z+w.lo, 33) * mul
	v = weak32(s, last, v.hi*mul, x+w.lo)
	w = weak32(s, last+32, z+w.hi, y+le64(s, last+16))
	x, z = z, x
	return mix2(mix2(v.lo, w.lo, mul)+fold47(y)*fpK0+z, mix2(v.hi, w.hi, mul)+x, mul)
}
