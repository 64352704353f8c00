package pdclient_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
)

// TestConnectReadsMinResolvedTS: the PD Connect returns reads PD's
// min-resolved-ts HTTP API through the PD client's own service discovery
// (the mock serves it on PD's address), per cluster and per store, and
// refuses once closed.
func TestConnectReadsMinResolvedTS(t *testing.T) {
	mock := mocktikv.Start(t, mocktikv.WithStores(2))
	pd, err := pdclient.Connect(t.Context(), mock.PDAddrs())
	require.NoError(t, err)
	r, ok := pd.(pdclient.MinResolvedTSReader)
	require.True(t, ok, "Connect's PD reads PD's min resolved ts")

	ids := mock.StoreIDs()
	mock.SetMinResolvedTS(ids[0], 300)
	mock.SetMinResolvedTS(ids[1], 200)
	cluster, per, err := r.GetMinResolvedTSByStoresIDs(t.Context(), nil)
	require.NoError(t, err)
	require.Equal(t, uint64(200), cluster)
	require.Empty(t, per)
	scoped, per, err := r.GetMinResolvedTSByStoresIDs(t.Context(), ids[:1])
	require.NoError(t, err)
	require.Equal(t, uint64(300), scoped)
	require.Equal(t, map[uint64]uint64{ids[0]: 300}, per)

	pd.Close()
	_, _, err = r.GetMinResolvedTSByStoresIDs(t.Context(), nil)
	require.Error(t, err, "after Close")
}
