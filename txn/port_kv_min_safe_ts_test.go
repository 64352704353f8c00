package txn_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/txn"
)

// kvStoreLabels are the stores of client-go's testKVSuite (tikv/kv_test.go):
// a TiKV store in zone z1 and a TiFlash store (engine=tiflash) in zone z2.
var kvStoreLabels = []map[string]string{
	{txn.ZoneLabelKey: "z1"},
	{txn.ZoneLabelKey: "z2", "engine": "tiflash"},
}

// runKVSafeTS runs body on the two stores of kvStoreLabels answering
// GetStoreSafeTS with 100 (TiKV) and 80 (TiFlash), as client-go's
// newStoreSafeTsMockClient does; PD knows no min resolved ts (answers 0)
// unless body injects one.
func runKVSafeTS(t *testing.T, body func(t *testing.T, c *minSafeTSCluster, tikvID, tiflashID uint64)) {
	runMinSafeTS(t, kvStoreLabels, func(t *testing.T, c *minSafeTSCluster) {
		tikvID, tiflashID := c.ids[0], c.ids[1]
		c.setSafeTS(tikvID, 100)
		c.setSafeTS(tiflashID, 80)
		body(t, c, tikvID, tiflashID)
	})
}

// TestPortMinSafeTsFromStores ports client-go's
// testKVSuite.TestMinSafeTsFromStores (tikv/kv_test.go): with PD knowing
// nothing, the stores are asked; the minimum is the TiFlash store's 80
// (never MaxUint64), and the TiKV store's own safe ts, 100, is what its
// zone z1 shows (client-go reads it with getSafeTS).
func TestPortMinSafeTsFromStores(t *testing.T) {
	runKVSafeTS(t, func(t *testing.T, c *minSafeTSCluster, tikvID, tiflashID uint64) {
		c.eventually("min safe ts from the stores", func() bool {
			ts := c.client.MinSafeTS()
			require.NotEqual(t, uint64(math.MaxUint64), ts)
			return ts == 80
		})
		assert.GreaterOrEqual(t, c.requests.Load(), int64(2), "both stores were asked")
		c.eventually("zone z1 is the TiKV store's safe ts", func() bool { return c.client.MinSafeTSInZone("z1") == 100 })
		assert.Equal(t, uint64(80), c.client.MinSafeTSInZone("z2"))
		assert.Equal(t, uint64(80), c.client.MinSafeTS())
	})
}

// TestPortMinSafeTsFromStoresWithAllZeros ports client-go's
// testKVSuite.TestMinSafeTsFromStoresWithAllZeros (client-go#1276): when
// every store answers 0, the minimum stays 0 and is never taken for
// MaxUint64 ("no store limits it").
func TestPortMinSafeTsFromStoresWithAllZeros(t *testing.T) {
	runKVSafeTS(t, func(t *testing.T, c *minSafeTSCluster, tikvID, tiflashID uint64) {
		c.setSafeTS(tikvID, 0)
		c.setSafeTS(tiflashID, 0)
		c.eventually("two refreshes", func() bool { return c.requests.Load() >= 4 })
		assert.Equal(t, uint64(0), c.client.MinSafeTS())
	})
}

// TestPortMinSafeTsFromStoresWithSomeZeros ports client-go's
// testKVSuite.TestMinSafeTsFromStoresWithSomeZeros (tikv#13675,
// client-go#615): a store answering 0 (no initialised peer) is left out,
// so the minimum is the other store's 100, not 0.
func TestPortMinSafeTsFromStoresWithSomeZeros(t *testing.T) {
	runKVSafeTS(t, func(t *testing.T, c *minSafeTSCluster, tikvID, tiflashID uint64) {
		c.setSafeTS(tiflashID, 0)
		c.eventually("two refreshes", func() bool { return c.requests.Load() >= 4 })
		c.eventually("min safe ts 100", func() bool { return c.client.MinSafeTS() == 100 })
	})
}

// TestPortMinSafeTsFromPD ports client-go's testKVSuite.TestMinSafeTsFromPD:
// PD's cluster-level min resolved ts (90) is taken as it is, and no store
// is asked.
func TestPortMinSafeTsFromPD(t *testing.T) {
	runKVSafeTS(t, func(t *testing.T, c *minSafeTSCluster, tikvID, tiflashID uint64) {
		c.mock.InjectMinResolvedTS(func([]uint64) (uint64, map[uint64]uint64) { return 90, nil })
		c.eventually("min safe ts from PD", func() bool {
			ts := c.client.MinSafeTS()
			require.NotEqual(t, uint64(math.MaxUint64), ts)
			return ts == 90
		})
		assert.Equal(t, int64(0), c.requests.Load(), "no store was asked")
		assert.Equal(t, uint64(90), c.client.MinSafeTS())
	})
}

// TestPortMinSafeTsFromPDByStores ports client-go's
// testKVSuite.TestMinSafeTsFromPDByStores: PD's cluster value is unusable
// (MaxUint64), so its per-store values (100+id) are used, and no store is
// asked; the minimum is the smaller store's.
func TestPortMinSafeTsFromPDByStores(t *testing.T) {
	runKVSafeTS(t, func(t *testing.T, c *minSafeTSCluster, tikvID, tiflashID uint64) {
		c.mock.InjectMinResolvedTS(func(ids []uint64) (uint64, map[uint64]uint64) {
			m := map[uint64]uint64{}
			for _, id := range ids {
				m[id] = 100 + id
			}
			return math.MaxUint64, m
		})
		c.eventually("min safe ts from PD's per-store values", func() bool {
			ts := c.client.MinSafeTS()
			require.NotEqual(t, uint64(math.MaxUint64), ts)
			return ts == 100+tikvID
		})
		assert.Equal(t, int64(0), c.requests.Load(), "no store was asked")
	})
}

// TestPortMinSafeTsFromMixed1 ports client-go's
// testKVSuite.TestMinSafeTsFromMixed1: PD knows the TiKV store (10) but not
// the TiFlash one (0), which is then asked (80); per zone, z1 is 10 and
// z2 80, and the cluster 10.
func TestPortMinSafeTsFromMixed1(t *testing.T) {
	runKVSafeTS(t, func(t *testing.T, c *minSafeTSCluster, tikvID, tiflashID uint64) {
		c.mock.InjectMinResolvedTS(func(ids []uint64) (uint64, map[uint64]uint64) {
			m := map[uint64]uint64{}
			for _, id := range ids {
				m[id] = 10
				if id == tiflashID {
					m[id] = 0
				}
			}
			return math.MaxUint64, m
		})
		c.eventually("z1 and the cluster at 10", func() bool {
			ts := c.client.MinSafeTSInZone("z1")
			require.NotEqual(t, uint64(math.MaxUint64), ts)
			return ts == 10 && c.client.MinSafeTS() == 10
		})
		assert.GreaterOrEqual(t, c.requests.Load(), int64(1), "the TiFlash store was asked")
		assert.Equal(t, uint64(10), c.client.MinSafeTS())
		assert.Equal(t, uint64(10), c.client.MinSafeTSInZone("z1"))
		assert.Equal(t, uint64(80), c.client.MinSafeTSInZone("z2"))
	})
}

// TestPortMinSafeTsFromMixed2 ports client-go's
// testKVSuite.TestMinSafeTsFromMixed2: PD knows the TiFlash store (10) and
// answers MaxUint64 for the TiKV one, which is then asked (100); z1 is 100,
// z2 10, the cluster 10.
func TestPortMinSafeTsFromMixed2(t *testing.T) {
	runKVSafeTS(t, func(t *testing.T, c *minSafeTSCluster, tikvID, tiflashID uint64) {
		c.mock.InjectMinResolvedTS(func(ids []uint64) (uint64, map[uint64]uint64) {
			m := map[uint64]uint64{}
			for _, id := range ids {
				m[id] = math.MaxUint64
				if id == tiflashID {
					m[id] = 10
				}
			}
			return math.MaxUint64, m
		})
		c.eventually("z2 and the cluster at 10", func() bool {
			ts := c.client.MinSafeTSInZone("z2")
			require.NotEqual(t, uint64(math.MaxUint64), ts)
			return ts == 10 && c.client.MinSafeTS() == 10
		})
		assert.GreaterOrEqual(t, c.requests.Load(), int64(1), "the TiKV store was asked")
		assert.Equal(t, uint64(10), c.client.MinSafeTS())
		assert.Equal(t, uint64(100), c.client.MinSafeTSInZone("z1"))
		assert.Equal(t, uint64(10), c.client.MinSafeTSInZone("z2"))
	})
}
