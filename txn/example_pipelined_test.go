package txn_test

import (
	"context"
	"fmt"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/txn"
)

// A pipelined transaction writes more keys than it could buffer: its
// buffer is flushed to TiKV in generations while it writes, and Commit
// commits the primary, then resolves the rest in the background.
func ExampleWithPipelined() {
	mock := mocktikv.NewCluster()
	defer mock.Close()
	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	client := txn.NewClient(cluster)
	defer client.Close(ctx)

	// Flush every 1000 keys (the default is 10000 keys and 16 MiB).
	t, err := client.Begin(ctx, txn.WithPipelined(txn.PipelinedOptions{MinFlushKeys: 1000, MinFlushSize: 1}))
	if err != nil {
		panic(err)
	}
	for i := range 5000 {
		if err := t.Set(fmt.Appendf(nil, "row%05d", i), []byte("v")); err != nil {
			panic(err)
		}
	}
	// Reads see the transaction's own flushed writes.
	v, err := t.Get(ctx, []byte("row00042"))
	fmt.Println(string(v), err, t.Generation() > 0)
	if err := t.Commit(ctx); err != nil {
		panic(err)
	}
	fmt.Println(t.CommitDetails().Keys)
	// Output:
	// v <nil> true
	// 5000
}
