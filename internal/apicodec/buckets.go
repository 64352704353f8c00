package apicodec

import (
	"bytes"
	"fmt"

	"github.com/tikvgo/tikv/internal/codec"
)

// DecodeBucketKeys turns a region's bucket boundaries, as PD reports them
// (stored form: memcomparable-encoded and, under API v2, prefixed), into
// logical keys, the way DecodeRegion turns its start and end:
//
//   - raw keys under API v1 are returned as they are;
//   - transactional keys under API v1 are decoded one by one;
//   - under API v2 the list is clamped to the keyspace, as client-go's
//     codecV2.DecodeBucketKeys does: a first key before the keyspace
//     becomes "" (the keyspace's start), a last key that is empty or at or
//     after the keyspace's end becomes "" (its end), keys of other
//     keyspaces in between are dropped, and the keyspace's own start is
//     not repeated after a clamped first key. The result is therefore
//     still sorted, starts with the region's logical start and ends with
//     its logical end, with no duplicate boundaries.
//
// A key that is not valid memcomparable encoding is an error wrapping
// codec.ErrInvalidEncoding.
func (c *Codec) DecodeBucketKeys(keys [][]byte) ([][]byte, error) {
	if !c.storedForm() {
		return keys, nil
	}
	out := make([][]byte, 0, len(keys))
	for i, key := range keys {
		var k []byte
		if len(key) > 0 {
			_, raw, err := codec.DecodeBytes(key)
			if err != nil {
				return nil, fmt.Errorf("bucket key %d: %w", i, err)
			}
			k = raw
		}
		if !c.V2() {
			out = append(out, k)
			continue
		}
		switch {
		case i == 0 && bytes.Compare(k, c.prefix) < 0:
			out = append(out, []byte{})
		case i == len(keys)-1 && (len(k) == 0 || bytes.Compare(k, c.prefixEnd) >= 0):
			out = append(out, []byte{})
		case bytes.HasPrefix(k, c.prefix):
			logical := k[len(c.prefix):]
			if len(logical) == 0 && len(out) > 0 && len(out[0]) == 0 {
				continue // the keyspace's start, already the first boundary
			}
			out = append(out, logical)
		}
	}
	return out, nil
}
