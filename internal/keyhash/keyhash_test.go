package keyhash

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestFingerprint64MatchesFarmHash pins KeyHash to FarmHash's Fingerprint64 (the
// values a client computes with github.com/dgryski/go-farm, as client-go
// does), across every length branch: 0, 1..3, 4..7, 8..16, 17..32, 33..64
// and the 64-byte block loop.
func TestFingerprint64MatchesFarmHash(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want uint64
	}{
		{"", 0x9ae16a3b2f90404f},
		{"a", 0xb3454265b6df75e3},
		{"abc", 0x24a5b3a074e7f369},
		{"key1", 0xe04add2c864d18de},
		{"tikvgo!!", 0x76fa516333e4beaf},
		{"0123456789abcdef", 0x54b961e5dc834067},
		{"0123456789abcdefg", 0xa6ddff87a449d24a},
		{"the quick brown fox jumps over", 0x8f6ed08c84cfb435},
		{"the quick brown fox jumps over the lazy dog, twice!", 0x786d787d1358c590},
		{"the quick brown fox jumps over the lazy dog; the quick brown fox jumps over the lazy dog again and again", 0xc7dc76410d35ec2b},
	} {
		t.Run(fmt.Sprintf("len%d", len(tc.key)), func(t *testing.T) {
			assert.Equal(t, tc.want, Fingerprint64([]byte(tc.key)))
		})
	}
}
