package txn_test

import (
	"slices"
	"testing"

	"github.com/tikvgo/tikv/txn"
)

// scanMockKeys are the 26 keys "~scan_mock/a".."~scan_mock/z" of the
// ports below, the value of each its letter.
func scanMockKeys() (keys []string) {
	for ch := byte('a'); ch <= 'z'; ch++ {
		keys = append(keys, "~scan_mock/"+string(ch))
	}
	return keys
}

// TestPortScanMockMultipleRegionsAndReverse ports client-go's
// TestScanMultipleRegions and TestReverseScan
// (integration_tests/scan_mock_test.go): 26 committed keys over several
// regions, read with a scan batch of 10: forward from a returns a..z, and
// up to i returns a..h; reverse below z returns y..a, and within [a, i)
// returns h..a. Both transports.
func TestPortScanMockMultipleRegionsAndReverse(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		for _, split := range []string{"~scan_mock/f", "~scan_mock/m", "~scan_mock/t"} {
			if _, err := p.mock.SplitTxn([]byte(split)); err != nil {
				t.Fatal(err)
			}
		}
		keys := scanMockKeys()
		w := p.begin()
		for _, k := range keys {
			setAll(t, w, k, k[len(k)-1:])
		}
		if err := w.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		tx := p.begin(txn.WithTxnSnapshotOptions(txn.WithScanBatchSize(10)))
		defer func() { _ = tx.Rollback() }()
		ctx := t.Context()
		key := func(ch string) []byte { return []byte("~scan_mock/" + ch) }
		pairs := func(ks []string) (out []string) {
			for _, k := range ks {
				out = append(out, k+"="+k[len(k)-1:])
			}
			return out
		}
		reversed := func(ks []string) []string { r := slices.Clone(ks); slices.Reverse(r); return r }

		for _, c := range []struct {
			name string
			got  func() ([]string, error)
			want []string
		}{
			{"forward from a", func() ([]string, error) { return collect(tx.Iter(ctx, key("a"), key("~"))) }, pairs(keys)},
			{"forward [a, i)", func() ([]string, error) { return collect(tx.Iter(ctx, key("a"), key("i"))) }, pairs(keys[:8])},
			{"reverse below z", func() ([]string, error) { return collect(tx.IterReverse(ctx, key("z"), key(""))) }, pairs(reversed(keys[:25]))},
			{"reverse [a, i)", func() ([]string, error) { return collect(tx.IterReverse(ctx, key("i"), key("a"))) }, pairs(reversed(keys[:8]))},
		} {
			got, err := c.got()
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("%s:\n got %v, %v\nwant %v", c.name, got, err, c.want)
			}
		}
	})
}
