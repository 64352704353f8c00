package tikv_test

import (
	"context"
	"fmt"
	"log"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// ExampleWithForwarding reaches a leader the client is cut off from through
// a follower that forwards the requests to it (mocktikv's PartitionClient
// leaves the other stores' links to the leader up).
func ExampleWithForwarding() {
	mock := mocktikv.NewCluster(mocktikv.WithStores(3))
	if err := mock.Serve(); err != nil {
		log.Fatal(err)
	}
	defer mock.Close()

	forwarded := 0
	count := func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			resp, err := next.Send(ctx, req)
			if err == nil && req.Target.ForwardedHost != "" {
				forwarded++
			}
			return resp, err
		})
	}
	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, mock.PDAddrs(), tikv.WithForwarding(true), tikv.WithMiddleware(count))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	client := raw.NewClient(cluster)

	if err := client.Put(ctx, []byte("greeting"), []byte("hello")); err != nil {
		log.Fatal(err)
	}
	if err := mock.PartitionClient(1); err != nil { // store 1 leads the only region
		log.Fatal(err)
	}
	v, err := client.Get(ctx, []byte("greeting"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(v), "forwarded:", forwarded)
	// Output:
	// hello forwarded: 1
}
