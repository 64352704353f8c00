package txn_test

import (
	"context"
	"fmt"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/txn"
)

// ExampleWithAsyncCommit commits one transaction with async commit (its
// commit phase runs in the background) and one with 1PC (TiKV commits it
// at prewrite), and reads both back.
func ExampleWithAsyncCommit() {
	ctx := context.Background()
	mock := mocktikv.NewCluster()
	defer mock.Close()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	client := txn.NewClient(cluster)
	defer client.Close(ctx)

	for key, opt := range map[string]txn.BeginOption{"async": txn.WithAsyncCommit(true), "onepc": txn.WithOnePC(true)} {
		t, err := client.Begin(ctx, opt)
		if err != nil {
			panic(err)
		}
		if err := t.Set([]byte(key), []byte("committed")); err != nil {
			panic(err)
		}
		if err := t.Commit(ctx); err != nil {
			panic(err)
		}
	}
	r, _ := client.Begin(ctx)
	vals, err := r.BatchGet(ctx, [][]byte{[]byte("async"), []byte("onepc")})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s %s\n", vals[0], vals[1])
	// Output: committed committed
}
