package tikv_test

import (
	"context"
	"fmt"
	"log"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// ExampleConnect opens a cluster connection with a client-wide middleware
// and runs one call with an extra interceptor attached to its context.
func ExampleConnect() {
	mock := mocktikv.NewCluster(mocktikv.WithStores(2))
	if err := mock.Serve(); err != nil {
		log.Fatal(err)
	}
	defer mock.Close()

	logCmd := func(tag string) transport.Middleware {
		return func(next transport.Sender) transport.Sender {
			return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
				fmt.Printf("%s: %s attempt %d\n", tag, req.Cmd, req.Attempt)
				return next.Send(ctx, req)
			})
		}
	}

	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, mock.PDAddrs(), tikv.WithMiddleware(logCmd("client")))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	client := raw.NewClient(cluster)
	callCtx := middleware.WithInterceptors(ctx, logCmd("call"))
	if err := client.Put(callCtx, []byte("greeting"), []byte("hello")); err != nil {
		log.Fatal(err)
	}
	// Output:
	// client: RawPut attempt 0
	// call: RawPut attempt 0
}
