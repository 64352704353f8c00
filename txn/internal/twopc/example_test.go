package twopc_test

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// A transactional client builds one Committer and one Group, commits each
// transaction's mutations with it, and closes the Group before the
// cluster, which waits for the secondaries still being committed.
func ExampleCommitter() {
	ctx := context.Background()
	mock := mocktikv.NewCluster(mocktikv.WithTxnSplitKeys([]byte("m")))
	defer mock.Close()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()

	group := twopc.NewGroup(ctx, nil)
	defer group.Close(ctx)
	committer, err := twopc.New(twopc.Config{Env: cluster.EnvFor(kv.ModeTxn), Oracle: cluster.Oracle(), Group: group})
	if err != nil {
		fmt.Println(err)
		return
	}

	startTS, err := cluster.Oracle().Now(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := committer.Commit(ctx, twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{
		{Key: []byte("apple"), Value: []byte("red"), Op: kvrpcpb.Op_Put},
		{Key: []byte("zucchini"), Value: []byte("green"), Op: kvrpcpb.Op_Put},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("committed after start: %v; primary %s; %d key left to the background\n",
		d.CommitTS > startTS, d.Primary, d.SecondaryKeys)
	// Output: committed after start: true; primary apple; 1 key left to the background
}
