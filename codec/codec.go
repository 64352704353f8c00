// Package codec exports the memcomparable encodings TiKV, PD and TiDB
// build keys with (client-go's util/codec), for programs that construct or
// read keys themselves: TiDB-format row and index keys read through the
// transactional client, or region boundaries taken straight from PD (the
// region cache already hands out decoded boundaries).
//
// Every encoding sorts as the values do: comparing two encoded byte
// strings with bytes.Compare orders them as their values, which is what
// lets a key made of several encoded parts scan in the right order. The
// Desc variants reverse the order. Decoders take the value from the front
// of their input and return the rest, so a key's parts decode one after
// another; input that is too short or malformed is an error wrapping
// ErrInvalidEncoding.
//
// Plain (non-comparable) varints are encoding/binary's AppendVarint and
// Varint.
package codec

import (
	"encoding/binary"
	"fmt"
	"math"

	icodec "github.com/tikvgo/tikv/internal/codec"
)

// ErrInvalidEncoding is wrapped by every decoder of the package for input
// that is not an encoding of its kind. It is the error the region codec
// reports too, so errors.Is matches either.
var ErrInvalidEncoding = icodec.ErrInvalidEncoding

// EncodeBytes appends the memcomparable encoding of data to b: data in
// groups of 8 bytes, each padded with zeros and followed by 0xFF minus its
// padding. Transactional keys are stored, and region boundaries reported,
// in this form.
func EncodeBytes(b, data []byte) []byte { return icodec.EncodeBytes(b, data) }

// DecodeBytes decodes one EncodeBytes value from the front of b, returning
// the rest of b and the value.
func DecodeBytes(b []byte) (rest, data []byte, err error) { return icodec.DecodeBytes(b) }

// signBit flips an int64's sign so that its two's complement sorts as an
// unsigned number: negative values below non-negative ones.
const signBit = 1 << 63

// EncodeIntToCmpUint maps v to a uint64 that sorts as v does.
func EncodeIntToCmpUint(v int64) uint64 { return uint64(v) ^ signBit }

// DecodeCmpUintToInt is EncodeIntToCmpUint's inverse.
func DecodeCmpUintToInt(u uint64) int64 { return int64(u ^ signBit) }

// EncodeInt appends v as 8 bytes that sort as v does (TiDB's row handles
// and table ids in keys).
func EncodeInt(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(b, EncodeIntToCmpUint(v))
}

// EncodeIntDesc appends v as 8 bytes that sort in v's reverse order.
func EncodeIntDesc(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(b, ^EncodeIntToCmpUint(v))
}

// DecodeInt decodes an EncodeInt value from the front of b.
func DecodeInt(b []byte) (rest []byte, v int64, err error) {
	rest, u, err := DecodeUint(b)
	return rest, DecodeCmpUintToInt(u), err
}

// DecodeIntDesc decodes an EncodeIntDesc value from the front of b.
func DecodeIntDesc(b []byte) (rest []byte, v int64, err error) {
	rest, u, err := DecodeUint(b)
	return rest, DecodeCmpUintToInt(^u), err
}

// EncodeUint appends v as 8 big-endian bytes.
func EncodeUint(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// EncodeUintDesc appends v as 8 bytes that sort in v's reverse order.
func EncodeUintDesc(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, ^v) }

// DecodeUint decodes an EncodeUint value from the front of b.
func DecodeUint(b []byte) (rest []byte, v uint64, err error) {
	if len(b) < 8 {
		return nil, 0, fmt.Errorf("%w: %d bytes left, want 8", ErrInvalidEncoding, len(b))
	}
	return b[8:], binary.BigEndian.Uint64(b), nil
}

// DecodeUintDesc decodes an EncodeUintDesc value from the front of b.
func DecodeUintDesc(b []byte) (rest []byte, v uint64, err error) {
	rest, u, err := DecodeUint(b)
	return rest, ^u, err
}

// The comparable varint format (TiDB's): one tag byte, then the value's
// significant bytes, big-endian. Tags 0..7 are negative values of 8-tag
// bytes (more bytes, smaller value); 8..247 are the values 0..239 on their
// own; 248..255 are larger non-negative values of tag-247 bytes. Tags thus
// sort as the values they introduce.
const (
	negativeTagEnd   = 8
	positiveTagStart = 0xFF - 8
	// maxInline is the largest value carried by the tag byte alone.
	maxInline = positiveTagStart - negativeTagEnd
)

// EncodeComparableUvarint appends v in the comparable varint format: one
// byte up to 239, else a tag and the fewest bytes that hold v.
func EncodeComparableUvarint(b []byte, v uint64) []byte {
	if v <= maxInline {
		return append(b, byte(v)+negativeTagEnd)
	}
	n := 1
	for n < 8 && v>>(8*n) != 0 {
		n++
	}
	return appendLow(append(b, byte(positiveTagStart+n)), v, n)
}

// EncodeComparableVarint appends v in the comparable varint format:
// non-negative values as EncodeComparableUvarint; a negative value as a
// tag and its n low bytes, for the fewest n with v >= -(2^(8n) - 1) (so
// that the all-ones fill of the decoder restores it; -256 takes two
// bytes, as in TiDB).
func EncodeComparableVarint(b []byte, v int64) []byte {
	if v >= 0 {
		return EncodeComparableUvarint(b, uint64(v))
	}
	n := 1
	for n < 8 && v < -int64(uint64(1)<<(8*n)-1) {
		n++
	}
	return appendLow(append(b, byte(negativeTagEnd-n)), uint64(v), n)
}

// appendLow appends the n low bytes of v, most significant first.
func appendLow(b []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// DecodeComparableUvarint decodes an EncodeComparableUvarint value from
// the front of b. A negative value's tag is an error.
func DecodeComparableUvarint(b []byte) (rest []byte, v uint64, err error) {
	if len(b) == 0 {
		return nil, 0, fmt.Errorf("%w: no bytes left for a comparable uvarint", ErrInvalidEncoding)
	}
	tag := b[0]
	switch {
	case tag < negativeTagEnd:
		return nil, 0, fmt.Errorf("%w: tag %d is a negative value's", ErrInvalidEncoding, tag)
	case tag <= positiveTagStart:
		return b[1:], uint64(tag - negativeTagEnd), nil
	}
	return readBytes(b[1:], int(tag)-positiveTagStart, 0)
}

// DecodeComparableVarint decodes an EncodeComparableVarint value from the
// front of b. Unlike client-go's, it also consumes the tag of a value held
// in the tag byte alone, so decoding a sequence of values works.
func DecodeComparableVarint(b []byte) (rest []byte, v int64, err error) {
	if len(b) == 0 {
		return nil, 0, fmt.Errorf("%w: no bytes left for a comparable varint", ErrInvalidEncoding)
	}
	tag := b[0]
	switch {
	case tag >= negativeTagEnd && tag <= positiveTagStart:
		return b[1:], int64(tag) - negativeTagEnd, nil
	case tag < negativeTagEnd:
		rest, u, err := readBytes(b[1:], negativeTagEnd-int(tag), math.MaxUint64)
		if err == nil && u <= math.MaxInt64 {
			err = fmt.Errorf("%w: negative tag %d holds a non-negative value", ErrInvalidEncoding, tag)
		}
		if err != nil {
			return nil, 0, err
		}
		return rest, int64(u), nil
	}
	rest, u, err := readBytes(b[1:], int(tag)-positiveTagStart, 0)
	if err == nil && u > math.MaxInt64 {
		err = fmt.Errorf("%w: %d overflows int64", ErrInvalidEncoding, u)
	}
	if err != nil {
		return nil, 0, err
	}
	return rest, int64(u), nil
}

// readBytes shifts n big-endian bytes of b into fill (all ones for a
// negative value, zero otherwise).
func readBytes(b []byte, n int, fill uint64) ([]byte, uint64, error) {
	if len(b) < n {
		return nil, 0, fmt.Errorf("%w: %d bytes left, want %d", ErrInvalidEncoding, len(b), n)
	}
	v := fill
	for _, c := range b[:n] {
		v = v<<8 | uint64(c)
	}
	return b[n:], v, nil
}
