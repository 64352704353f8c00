package pdclient

import (
	"context"
	"testing"
)

// TestRegionCacheCountsHits: lookups answered from the cache are counted,
// by key, end key and id; those that asked PD are not.
func TestRegionCacheCountsHits(t *testing.T) {
	ctx := context.Background()
	pd := newFakePD(threeRegions()...)
	c := newTestCache(t, pd)

	_, err := c.Locate(ctx, []byte("a"))
	must.NoError(t, err)
	must.Equal(t, uint64(0), c.Hits())
	for _, key := range []string{"", "a", "azzz"} {
		_, err = c.Locate(ctx, []byte(key))
		must.NoError(t, err)
	}
	_, err = c.LocateByID(ctx, 1)
	must.NoError(t, err)
	must.Equal(t, uint64(4), c.Hits())
	must.Equal(t, 1, pd.count("GetRegion"))
	_, err = c.Locate(ctx, []byte("b")) // a miss
	must.NoError(t, err)
	must.Equal(t, uint64(4), c.Hits())
}
