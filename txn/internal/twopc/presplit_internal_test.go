package twopc

import (
	"fmt"
	"slices"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// preSplitKeys cuts at the mutation whose bytes reach the piece size and
// counts again from zero (client-go's preSplitRegion), and never picks
// the region's start key, which TiKV would refuse.
func TestPreSplitKeys(t *testing.T) {
	muts := make([]*kvrpcpb.Mutation, 10)
	for i := range muts {
		muts[i] = &kvrpcpb.Mutation{Key: fmt.Appendf(nil, "k%d", i), Value: []byte("vvvvvvvv")} // 10 bytes
	}
	cases := []struct {
		name  string
		start string
		size  int
		want  []string
	}{
		{"every third", "", 30, []string{"k2", "k5", "k8"}},
		{"one piece", "", 101, nil},
		{"reaches size at the last key", "", 100, []string{"k9"}},
		{"each key, start skipped", "k0", 10, []string{"k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"}},
	}
	for _, tc := range cases {
		var got []string
		for _, k := range preSplitKeys(muts, []byte(tc.start), tc.size) {
			got = append(got, string(k))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
