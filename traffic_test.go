package tikv_test

import (
	"context"
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
)

// TestTrafficDetailsByZone covers client-go's zone / cross-AZ accounting
// (core-40): with the client in zone z1 and stores labelled z1..z3, a read
// served by the leader in z1 adds its request and response bytes to the
// call's TrafficDetails and none to the cross-zone counters; a follower
// read served in another zone adds the same bytes to both; a call without
// TrafficDetails is not measured. In process and over gRPC.
//
// It ports the local / cross-zone byte counts of client-go's
// TestStaleReadMetrics (internal/locate/region_request3_test.go); tikvgo has
// no stale-read hit/miss counters.
func TestTrafficDetailsByZone(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(t *testing.T) {
			var mock *mocktikv.Cluster
			if grpc {
				mock = mocktikv.Start(t, mocktikv.WithStores(3))
			} else {
				mock = mocktikv.NewCluster(mocktikv.WithStores(3))
				t.Cleanup(mock.Close)
			}
			for n := uint64(1); n <= 3; n++ {
				if err := mock.SetStoreLabels(n, map[string]string{"zone": "z" + string(rune('0'+n))}); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range mock.Regions() {
				if err := mock.TransferLeader(r.GetId(), 1); err != nil {
					t.Fatal(err)
				}
			}
			opts := []tikv.Option{tikv.WithZone("z1")}
			var addrs []string
			if grpc {
				addrs = mock.PDAddrs()
			} else {
				opts = append(opts, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
			}
			cluster, err := tikv.Connect(context.Background(), addrs, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			client := raw.NewClient(cluster)
			key, value := []byte("traffic/k"), []byte("a value of some length")
			if err := client.Put(context.Background(), key, value); err != nil {
				t.Fatal(err)
			}

			local := &middleware.TrafficDetails{}
			if _, err := client.Get(middleware.WithTrafficDetails(context.Background(), local), key); err != nil {
				t.Fatal(err)
			}
			if local.BytesSent() <= int64(len(key)) || local.BytesReceived() <= int64(len(value)) ||
				local.CrossZoneBytesSent() != 0 || local.CrossZoneBytesReceived() != 0 {
				t.Fatalf("leader read in the client's zone: sent %d, received %d, cross-zone %d/%d",
					local.BytesSent(), local.BytesReceived(), local.CrossZoneBytesSent(), local.CrossZoneBytesReceived())
			}

			cross := &middleware.TrafficDetails{}
			ctx := middleware.WithTrafficDetails(context.Background(), cross)
			if _, err := client.Get(ctx, key, raw.ReplicaRead(kv.ReplicaReadFollower)); err != nil {
				t.Fatal(err)
			}
			if cross.BytesSent() == 0 || cross.CrossZoneBytesSent() != cross.BytesSent() ||
				cross.CrossZoneBytesReceived() != cross.BytesReceived() || cross.BytesReceived() <= int64(len(value)) {
				t.Fatalf("follower read in another zone: sent %d, received %d, cross-zone %d/%d",
					cross.BytesSent(), cross.BytesReceived(), cross.CrossZoneBytesSent(), cross.CrossZoneBytesReceived())
			}
			if got := middleware.Location("z1", func(uint64) []*metapb.StoreLabel { return nil }, 1); got != middleware.AccessUnknown {
				t.Fatalf("a store without labels is %v, want unknown", got)
			}
		})
	}
}
