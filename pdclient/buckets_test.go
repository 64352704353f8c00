package pdclient

import (
	"context"
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"
)

func TestRegionsCarryBuckets(t *testing.T) {
	pd := newFakePD()
	pd.buckets = map[uint64]*metapb.Buckets{1: {RegionId: 1, Version: 3, Keys: [][]byte{[]byte(""), []byte("f"), []byte("")}}}
	pd.setRegions(region(1, "", "m", 1, 1, 1), region(2, "m", "", 1, 1, 1))
	c := NewRegionCache(pd)
	defer c.Close()
	r, err := c.Locate(context.Background(), []byte("a"))
	if err != nil || r.BucketVersion() != 3 || len(r.Buckets().GetKeys()) != 3 {
		t.Fatalf("region %v (buckets %v), %v", r, r.Buckets(), err)
	}

	// Newer buckets from TiKV replace the cached ones; older ones do not.
	c.UpdateBuckets(r, &metapb.Buckets{Version: 2})
	if got, _ := c.Locate(context.Background(), []byte("a")); got.BucketVersion() != 3 {
		t.Fatalf("older buckets applied: version %d", got.BucketVersion())
	}
	c.UpdateBuckets(r, &metapb.Buckets{Version: 5, Keys: [][]byte{[]byte("")}})
	got, _ := c.Locate(context.Background(), []byte("a"))
	if got.BucketVersion() != 5 || got.Ver() != r.Ver() {
		t.Fatalf("newer buckets not applied: %v", got.Buckets())
	}

	// Regions learnt from EpochNotMatch keep the old buckets until PD
	// sends new ones (client-go).
	split := []*metapb.Region{region(1, "", "g", 2, 1, 1), region(3, "g", "m", 2, 1, 1)}
	c.OnEpochNotMatch(got, 1, split)
	left, _ := c.Locate(context.Background(), []byte("a"))
	if left.Ver().Version != 2 || left.BucketVersion() != 5 {
		t.Fatalf("region after split = %v, buckets %v", left.Ver(), left.Buckets())
	}
}

// TestLoadRangeFallsBackToScanRegions ports client-go's
// TestBatchScanRegionsFallback (internal/locate/region_cache_test.go): a
// PD without BatchScanRegions (Unimplemented) is scanned with ScanRegions.
func TestLoadRangeFallsBackToScanRegions(t *testing.T) {
	pd := newFakePD(region(1, "", "g", 1, 1, 1), region(2, "g", "p", 1, 1, 1), region(3, "p", "", 1, 1, 1))
	pd.oldPD = true
	c := NewRegionCache(pd)
	defer c.Close()
	rs, err := c.LoadRange(context.Background(), nil, nil, 0)
	if err != nil || len(rs) != 3 {
		t.Fatalf("LoadRange = %d regions, %v", len(rs), err)
	}
	if pd.count("ScanRegions") == 0 {
		t.Fatal("the old PD's ScanRegions was not used")
	}
}
