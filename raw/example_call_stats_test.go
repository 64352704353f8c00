package raw_test

import (
	"context"
	"fmt"
	"log"

	"github.com/pingcap/kvproto/pkg/errorpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// Example_callStats collects what one raw call cost with a ctx-carried
// observe.CallStats (client-go's RegionRequestRuntimeStats and
// ReplicaAccessStats): here a Get whose first attempt finds its region
// moved, so it backs off, reloads the region and tries again.
func Example_callStats() {
	mock := mocktikv.NewCluster()
	defer mock.Close()
	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	client := raw.NewClient(cluster)
	if err := client.Put(ctx, []byte("k"), []byte("v")); err != nil {
		log.Fatal(err)
	}
	mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawGet, Steps: []mocktikv.Step{
		mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}})),
	}})

	stats := &observe.CallStats{}
	if _, err := client.Get(observe.WithCallStats(ctx, stats), []byte("k")); err != nil {
		log.Fatal(err)
	}
	fmt.Println("RawGet attempts:", stats.RPCCount("RawGet"))
	for _, a := range stats.Accesses() {
		fmt.Printf("attempt %d: store %d (%s) -> %q\n", a.Attempt, a.StoreID, a.Role, a.ErrKind)
	}
	fmt.Println("errors:", stats.Errors())
	// Output:
	// RawGet attempts: 2
	// attempt 0: store 1 (leader) -> "EpochNotMatch"
	// attempt 1: store 1 (leader) -> ""
	// errors: map[EpochNotMatch:1]
}
