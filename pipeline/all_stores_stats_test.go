package pipeline_test

import (
	"slices"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/pipeline"
)

// TestAllStoresRecordsCallStats: a store-level fan-out under a ctx-carried
// observe.CallStats records one attempt per store, each with its store and
// address and no region or peer, all of one call. Over gRPC and
// in-process.
func TestAllStoresRecordsCallStats(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(t *testing.T) {
			var mock *mocktikv.Cluster
			var cluster *tikv.Cluster
			var err error
			if grpc {
				mock = mocktikv.Start(t, mocktikv.WithStores(3))
				cluster, err = tikv.Connect(t.Context(), mock.PDAddrs())
			} else {
				mock = mocktikv.NewCluster(mocktikv.WithStores(3))
				defer mock.Close()
				cluster, err = tikv.Connect(t.Context(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			stats := &observe.CallStats{}
			plan := pipeline.AllStores(cluster.EnvFor(kv.ModeRaw), storeSafeTS)
			if _, err := plan(observe.WithCallStats(t.Context(), stats), &kvrpcpb.StoreSafeTSRequest{KeyRange: &kvrpcpb.KeyRange{}}); err != nil {
				t.Fatal(err)
			}
			acc := stats.Accesses()
			var ids []uint64
			for _, a := range acc {
				ids = append(ids, a.StoreID)
				if a.Cmd != "GetStoreSafeTS" || a.Addr == "" || a.RegionID != 0 || a.PeerID != 0 || a.Err != nil || a.Call != acc[0].Call {
					t.Errorf("access %+v", a)
				}
			}
			slices.Sort(ids)
			want := mock.StoreIDs()
			slices.Sort(want)
			if !slices.Equal(ids, want) || stats.RPCCount("GetStoreSafeTS") != 3 {
				t.Fatalf("attempts to stores %v (%s), want one to each of %v", ids, stats, want)
			}
		})
	}
}
