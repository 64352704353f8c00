package mocktikv

import (
	"fmt"
	"testing"

	"github.com/tikvgo/tikv/pdclient"
)

// TestMinResolvedTSInjectAndReport: PD's min-resolved-ts API answers the
// same over HTTP (pd/client/http) and in process: 0 for stores that never
// reported, what ReportMinResolvedTS computed from the stores' safe ts once
// they did, and an injected hook's answers (with the asked store ids)
// until it is removed.
func TestMinResolvedTSInjectAndReport(t *testing.T) {
	c := Start(t, WithStores(2))
	ctx := testCtx(t)
	ids := c.StoreIDs()
	readers := map[string]pdclient.MinResolvedTSReader{"http": newPDHTTPClient(t, c), "local": c.PD().(pdclient.MinResolvedTSReader)}
	for name, r := range readers {
		cluster, per := must2(r.GetMinResolvedTSByStoresIDs(ctx, ids))(t)
		eq(t, cluster, uint64(0), "%s: nothing reported", name)
		eq(t, fmt.Sprint(per), fmt.Sprintf("map[%d:0 %d:0]", ids[0], ids[1]), "%s: per store", name)
	}

	regions := c.Regions()
	noErr(t, c.SetSafeTS(regions[0].GetId(), 700))
	c.ReportMinResolvedTS()
	for name, r := range readers {
		cluster, per := must2(r.GetMinResolvedTSByStoresIDs(ctx, nil))(t)
		eq(t, cluster, uint64(700), "%s: reported", name)
		eq(t, len(per), 0, "%s: no per-store map for the cluster scope", name)
	}

	var asked []string
	c.InjectMinResolvedTS(func(storeIDs []uint64) (uint64, map[uint64]uint64) {
		asked = append(asked, fmt.Sprint(storeIDs))
		return 42, map[uint64]uint64{ids[0]: 43}
	})
	for name, r := range readers {
		cluster, per := must2(r.GetMinResolvedTSByStoresIDs(ctx, ids[:1]))(t)
		eq(t, cluster, uint64(42), "%s: injected", name)
		eq(t, per[ids[0]], uint64(43), "%s: injected per store", name)
	}
	eq(t, fmt.Sprint(asked), fmt.Sprintf("[[%d] [%d]]", ids[0], ids[0]), "the hook saw the asked ids")

	c.InjectMinResolvedTS(nil)
	for name, r := range readers {
		cluster, _ := must2(r.GetMinResolvedTSByStoresIDs(ctx, nil))(t)
		eq(t, cluster, uint64(700), "%s: hook removed", name)
	}
}
