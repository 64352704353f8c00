package mocktikv

import (
	"context"
	"maps"
	"slices"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/pdclient"
)

// PD's min-resolved-ts API in process: the same answers PD's HTTP API
// serves over the network (pd_http.go), for clients connected to the
// in-process PD, which has no HTTP address.
var _ pdclient.MinResolvedTSReader = localPD{}

// MinResolvedTSHook answers PD's min-resolved-ts API in place of the
// values the stores reported: storeIDs are the stores asked about (nil for
// the cluster-level question, which wants no per-store map). It plays the
// part of client-go's InjectPDMinResolvedTS failpoint and of the hooked
// GetMinResolvedTSByStoresIDs of its kv_test.go: a test can make PD answer
// 0 (a PD without the feature, or stores not reported yet), MaxUint64 (a
// cluster without stores) or any value, per store.
type MinResolvedTSHook func(storeIDs []uint64) (cluster uint64, perStore map[uint64]uint64)

// InjectMinResolvedTS makes PD answer its min-resolved-ts API, over HTTP
// and in process, with f; nil restores the reported values (SetMinResolvedTS,
// ReportMinResolvedTS).
func (c *Cluster) InjectMinResolvedTS(f MinResolvedTSHook) {
	m := c.pdMisc
	m.mu.Lock()
	defer m.mu.Unlock()
	m.minResolvedHook = f
}

// InjectMinResolvedTSValue makes PD answer ts for the cluster and for
// every store asked about: client-go's InjectPDMinResolvedTS failpoint
// (return(ts)). ts 0 is a PD that knows no min resolved ts.
func (c *Cluster) InjectMinResolvedTSValue(ts uint64) {
	c.InjectMinResolvedTS(func(ids []uint64) (uint64, map[uint64]uint64) {
		if len(ids) == 0 {
			return ts, nil
		}
		per := make(map[uint64]uint64, len(ids))
		for _, id := range ids {
			per[id] = ts
		}
		return ts, per
	})
}

// injectedMinResolvedTS asks the hook, if any; ok reports whether there
// was one.
func (c *Cluster) injectedMinResolvedTS(storeIDs []uint64) (cluster uint64, perStore map[uint64]uint64, ok bool) {
	m := c.pdMisc
	m.mu.Lock()
	f := m.minResolvedHook
	m.mu.Unlock()
	if f == nil {
		return 0, nil, false
	}
	cluster, perStore = f(slices.Clone(storeIDs))
	return cluster, maps.Clone(perStore), true
}

// ReportMinResolvedTS makes every serving store report its resolved ts to
// PD now, as TiKV's resolved-ts worker does periodically
// (ReportMinResolvedTS): the store's safe ts over all its regions, what
// GetStoreSafeTS answers. Until a store reports, PD knows 0 for it, and
// clients fall back to asking the store.
func (c *Cluster) ReportMinResolvedTS() {
	c.mu.RLock()
	var ids []uint64
	for _, id := range c.order {
		if c.stores[id].meta.State != metapb.StoreState_Tombstone {
			ids = append(ids, id)
		}
	}
	c.mu.RUnlock()
	for _, id := range ids {
		ts := c.storeSafeTS(id, &kvrpcpb.StoreSafeTSRequest{KeyRange: &kvrpcpb.KeyRange{}}).GetSafeTs()
		c.SetMinResolvedTS(id, ts)
	}
}

// GetMinResolvedTSByStoresIDs is the in-process PD's min-resolved-ts API
// (pd/client/http's method of the same name): with no store ids the
// cluster's min resolved ts alone, else the listed stores' and their
// minimum.
func (p localPD) GetMinResolvedTSByStoresIDs(ctx context.Context, storeIDs []uint64) (cluster uint64, perStore map[uint64]uint64, err error) {
	err = p.call(ctx, "GetMinResolvedTSByStoresIDs", func() error {
		cluster, perStore = p.c.MinResolvedTS(storeIDs...)
		if len(storeIDs) == 0 {
			perStore = nil
		}
		return nil
	})
	return cluster, perStore, err
}
