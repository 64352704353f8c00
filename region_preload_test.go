package tikv_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
)

// TestRegionPreload: with WithRegionPreload, Connect reads every region
// into the cache, so the first lookup of each region is a cache hit
// (client-go's EnablePreload); without it the first lookups miss. Both
// transports.
func TestRegionPreload(t *testing.T) {
	splits := [][]byte{[]byte("b"), []byte("d"), []byte("f")}
	keys := []string{"a", "c", "e", "g"}
	for _, grpc := range []bool{false, true} {
		for _, preload := range []bool{false, true} {
			t.Run(fmt.Sprintf("grpc=%v/preload=%v", grpc, preload), func(t *testing.T) {
				var opts []tikv.Option
				if preload {
					opts = append(opts, tikv.WithRegionPreload(kv.ModeRaw))
				}
				var cluster *tikv.Cluster
				var err error
				if grpc {
					mock := mocktikv.Start(t, mocktikv.WithSplitKeys(splits...))
					cluster, err = tikv.Connect(t.Context(), mock.PDAddrs(), opts...)
				} else {
					mock := mocktikv.NewCluster(mocktikv.WithSplitKeys(splits...))
					t.Cleanup(mock.Close)
					cluster, err = tikv.Connect(t.Context(), nil, append(opts, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))...)
				}
				require.NoError(t, err)
				t.Cleanup(func() { _ = cluster.Close() })
				cache := cluster.RegionCacheFor(kv.ModeRaw)
				before := cache.Hits()
				for _, k := range keys {
					r, err := cache.Locate(context.Background(), []byte(k))
					require.NoError(t, err)
					require.True(t, r.Contains([]byte(k)))
				}
				hits := cache.Hits() - before
				if preload {
					require.Equal(t, uint64(len(keys)), hits, "every region was preloaded")
				} else {
					require.Zero(t, hits, "nothing cached before the first lookups")
				}
			})
		}
	}
}
