package mocktikv_test

import (
	"context"
	"fmt"
	"log"

	"github.com/pingcap/kvproto/pkg/errorpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// Example serves a two-store cluster over gRPC on loopback, scripts a
// fault (the first RawGet meets a stale command) and watches the client
// retry through it.
func Example() {
	mock := mocktikv.NewCluster(mocktikv.WithStores(2), mocktikv.WithSplitKeys([]byte("m")))
	if err := mock.Serve(); err != nil {
		log.Fatal(err)
	}
	defer mock.Close()

	fault := mock.Inject(mocktikv.Fault{
		Cmd:   transport.CmdRawGet,
		Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{StaleCommand: &errorpb.StaleCommand{}}))},
	})

	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, mock.PDAddrs())
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	client := raw.NewClient(cluster)
	if err := client.Put(ctx, []byte("hello"), []byte("world")); err != nil {
		log.Fatal(err)
	}
	v, err := client.Get(ctx, []byte("hello"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s after %d injected fault\n", v, fault.Hits())
	// Output:
	// world after 1 injected fault
}
