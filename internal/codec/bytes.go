// Package codec holds the key encodings TiKV and PD use, shared by the
// client (pdclient's region codec) and mocktikv.
package codec

import (
	"errors"
	"fmt"
)

// Memcomparable byte encoding (TiKV's codec::bytes, TiDB's EncodeBytes): the
// input is cut into groups of 8 bytes; each group is written padded with
// zeros to 8 bytes and followed by a marker byte 0xFF minus the number of
// padding bytes. The last group is always padded (an input whose length is a
// multiple of 8 ends with an all-padding group), so the encoding of a is a
// prefix of the encoding of b only when a == b, and encoded keys sort as the
// raw keys do. Transactional keys are stored, and region boundaries
// reported by PD, in this form.
const (
	groupSize = 8
	marker    = 0xFF
	pad       = 0x00
)

// ErrInvalidEncoding is wrapped by DecodeBytes for input that is not a
// memcomparable encoding.
var ErrInvalidEncoding = errors.New("codec: invalid memcomparable encoding")

// EncodeBytes appends the memcomparable encoding of data to b.
func EncodeBytes(b, data []byte) []byte {
	groups := len(data)/groupSize + 1
	out := append(b, make([]byte, 0, groups*(groupSize+1))...)
	for i := 0; i <= len(data); i += groupSize {
		n := min(len(data)-i, groupSize)
		out = append(out, data[i:i+n]...)
		for range groupSize - n {
			out = append(out, pad)
		}
		out = append(out, byte(marker-(groupSize-n)))
	}
	return out
}

// DecodeBytes decodes one memcomparable-encoded value from the front of b,
// returning the rest of b and the decoded bytes.
func DecodeBytes(b []byte) (rest, data []byte, err error) {
	for {
		if len(b) < groupSize+1 {
			return nil, nil, fmt.Errorf("%w: %d bytes left, want a full group", ErrInvalidEncoding, len(b))
		}
		group, m := b[:groupSize], b[groupSize]
		b = b[groupSize+1:]
		padCount := int(marker - m)
		if padCount > groupSize {
			return nil, nil, fmt.Errorf("%w: marker %#x", ErrInvalidEncoding, m)
		}
		real := groupSize - padCount
		data = append(data, group[:real]...)
		if padCount == 0 {
			continue
		}
		for _, p := range group[real:] {
			if p != pad {
				return nil, nil, fmt.Errorf("%w: non-zero padding", ErrInvalidEncoding)
			}
		}
		if data == nil {
			data = []byte{}
		}
		return b, data, nil
	}
}
