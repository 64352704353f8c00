package transport_test

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// ExampleSendAsync issues several requests without waiting for each, and
// handles every answer on the caller's own goroutine by driving a RunLoop:
// the callbacks need no locks. With a Pool (or a Cluster's Sender over
// gRPC) batched requests cost no goroutine while in flight; this example's
// Sender is a plain function, so SendAsync runs it on a goroutine.
func ExampleSendAsync() {
	echo := transport.SenderFunc(func(_ context.Context, req *transport.Request) (*transport.Response, error) {
		key := req.Msg.(*kvrpcpb.RawGetRequest).Key
		return &transport.Response{Msg: &kvrpcpb.RawGetResponse{Value: append([]byte("value of "), key...)}}, nil
	})

	var loop transport.RunLoop
	got := make(map[string]string)
	keys := []string{"a", "b", "c"}
	for _, k := range keys {
		req := &transport.Request{Cmd: transport.CmdRawGet, Msg: &kvrpcpb.RawGetRequest{Key: []byte(k)}}
		transport.SendAsync(context.Background(), echo, req, transport.OnExecutor(&loop, func(resp *transport.Response, err error) {
			if err != nil {
				got[k] = err.Error()
				return
			}
			got[k] = string(resp.Msg.(*kvrpcpb.RawGetResponse).Value)
		}))
	}
	for n := 0; n < len(keys); {
		ran, err := loop.Exec(context.Background())
		if err != nil {
			panic(err)
		}
		n += ran
	}
	for _, k := range keys {
		fmt.Println(got[k])
	}
	// Output:
	// value of a
	// value of b
	// value of c
}
