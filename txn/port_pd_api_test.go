package txn_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tikvgo/tikv/txn"
)

// pdAPIDC is the zone of the store in client-go's apiTestSuite
// (integration_tests/pd_api_test.go).
const pdAPIDC = "testDC"

// runPDAPI runs body on one store labelled zone=testDC answering
// GetStoreSafeTS with 150, client-go's apiTestSuite set-up (there against
// a real TiKV with the store's address faked).
func runPDAPI(t *testing.T, body func(t *testing.T, c *minSafeTSCluster, id uint64)) {
	runMinSafeTS(t, []map[string]string{{txn.ZoneLabelKey: pdAPIDC}}, func(t *testing.T, c *minSafeTSCluster) {
		c.setSafeTS(c.ids[0], 150)
		body(t, c, c.ids[0])
	})
}

// TestPortGetStoresMinResolvedTS ports client-go's
// apiTestSuite.TestGetStoresMinResolvedTS: for a zone scope the client asks
// PD for the stores' min resolved ts (injected as 100, client-go's
// InjectPDMinResolvedTS) and takes it without asking the store. client-go
// picks the zone through its TxnScope config; here MinSafeTSInZone.
func TestPortGetStoresMinResolvedTS(t *testing.T) {
	runPDAPI(t, func(t *testing.T, c *minSafeTSCluster, id uint64) {
		c.mock.InjectMinResolvedTSValue(100)
		c.eventually("zone min safe ts from PD", func() bool { return c.client.MinSafeTSInZone(pdAPIDC) == 100 })
		assert.Equal(t, int64(0), c.requests.Load(), "the store was not asked")
	})
}

// TestPortDCLabelClusterMinResolvedTS ports client-go's
// apiTestSuite.TestDCLabelClusterMinResolvedTS: PD's cluster value (100)
// is the cluster's min safe ts with no store asked; once PD knows nothing
// (0, a PD without the API), the zone's min safe ts comes from the store
// (150).
func TestPortDCLabelClusterMinResolvedTS(t *testing.T) {
	runPDAPI(t, func(t *testing.T, c *minSafeTSCluster, id uint64) {
		c.mock.InjectMinResolvedTSValue(100)
		c.eventually("cluster min safe ts from PD", func() bool { return c.client.MinSafeTS() == 100 })
		assert.Equal(t, int64(0), c.requests.Load(), "the store was not asked")

		c.mock.InjectMinResolvedTSValue(0)
		c.eventually("zone min safe ts from the store", func() bool { return c.client.MinSafeTSInZone(pdAPIDC) == 150 })
		assert.GreaterOrEqual(t, c.requests.Load(), int64(1), "the store was asked")
	})
}

// TestPortInitClusterMinResolvedTSZero ports client-go's
// apiTestSuite.TestInitClusterMinResolvedTSZero: while neither PD nor the
// store knows a resolved ts (both 0) the min safe ts is 0, never
// MaxUint64; PD's 100 then moves it to 100; and with PD back to 0 the
// store's 150 moves it on (the fallback to the store, and no going back).
func TestPortInitClusterMinResolvedTSZero(t *testing.T) {
	runPDAPI(t, func(t *testing.T, c *minSafeTSCluster, id uint64) {
		c.setSafeTS(id, 0)
		c.mock.InjectMinResolvedTSValue(0)
		c.eventually("the store was asked twice", func() bool { return c.requests.Load() >= 2 })
		assert.Equal(t, uint64(0), c.client.MinSafeTS())

		c.mock.InjectMinResolvedTSValue(100)
		c.eventually("min safe ts from PD", func() bool { return c.client.MinSafeTS() == 100 })

		c.mock.InjectMinResolvedTSValue(0)
		c.setSafeTS(id, 150)
		c.eventually("min safe ts from the store", func() bool { return c.client.MinSafeTS() == 150 })
	})
}

// TestMinSafeTSFromReportedResolvedTS: without injection PD answers what
// the stores reported (mocktikv's ReportMinResolvedTS, TiKV's periodic
// report): once the store reported its safe ts, the client takes it from
// PD and stops asking the store.
func TestMinSafeTSFromReportedResolvedTS(t *testing.T) {
	runPDAPI(t, func(t *testing.T, c *minSafeTSCluster, id uint64) {
		c.eventually("from the store before any report", func() bool { return c.client.MinSafeTS() == 150 })
		regions := c.mock.Regions()
		for _, r := range regions {
			if err := c.mock.SetSafeTS(r.GetId(), 500); err != nil {
				t.Fatal(err)
			}
		}
		c.mock.ReportMinResolvedTS()
		c.eventually("from PD after the report", func() bool { return c.client.MinSafeTS() == 500 })
		before := c.requests.Load()
		c.refreshes(3)
		assert.Equal(t, before, c.requests.Load(), "the store is not asked while PD knows its resolved ts")
	})
}
