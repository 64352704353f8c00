package transport_test

import (
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
)

// ExampleDescribe describes an RPC the built-in table lacks (here a
// hypothetical newer point read with the shape of KvGet), so that it can be
// bound to a pipeline.Method and sent through pipeline.Retry.
func ExampleDescribe() {
	cmd, err := transport.Describe[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](transport.CmdDesc{
		Name:    "ExampleKvGetV2",
		KeyMode: kv.ModeTxn,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mode, _ := cmd.KeyMode()
	fmt.Println(cmd, cmd.FullMethod(), mode, cmd.IsWrite(), cmd.HasContext(), cmd.Batchable())

	// A second, agreeing description returns the same command.
	again, _ := transport.Describe[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](transport.CmdDesc{
		Name: "ExampleKvGetV2", KeyMode: kv.ModeTxn,
	})
	fmt.Println(again == cmd)
	// Output:
	// ExampleKvGetV2 /tikvpb.Tikv/ExampleKvGetV2 txn false true false
	// true
}
