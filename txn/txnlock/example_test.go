package txnlock_test

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/txn/txnlock"
)

// A transaction committed its primary and stopped before its secondary: a
// reader meets the secondary's lock, and the resolver commits it.
func Example() {
	ctx := context.Background()
	mock := mocktikv.NewCluster()
	defer mock.Close()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	env := cluster.EnvFor(kv.ModeTxn)
	oracle := cluster.Oracle()

	// The writer: prewrite p (primary) and s, commit p only.
	start, _ := oracle.Now(ctx)
	prewrite := pipeline.Single(pipeline.Shard(env, pipeline.ByKey((*kvrpcpb.PrewriteRequest).GetPrimaryLock),
		pipeline.Retry(env, plans.KvPrewrite)))
	if _, err := prewrite(ctx, &kvrpcpb.PrewriteRequest{PrimaryLock: []byte("p"), StartVersion: start, LockTtl: 3000,
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("p"), Value: []byte("1")},
			{Op: kvrpcpb.Op_Put, Key: []byte("s"), Value: []byte("2")}}}); err != nil {
		panic(err)
	}
	commitTS, _ := oracle.Now(ctx)
	commit := pipeline.Single(pipeline.Shard(env, pipeline.ByKey(func(r *kvrpcpb.CommitRequest) []byte { return r.Keys[0] }),
		pipeline.Retry(env, plans.KvCommit)))
	if _, err := commit(ctx, &kvrpcpb.CommitRequest{StartVersion: start, CommitVersion: commitTS, Keys: [][]byte{[]byte("p")}}); err != nil {
		panic(err)
	}

	// The reader, through the resolve-lock stage.
	resolver := txnlock.New(env, oracle)
	get := pipeline.Single(pipeline.Shard(env, pipeline.ByKey((*kvrpcpb.GetRequest).GetKey),
		pipeline.ResolveLocks(env, resolver.With(txnlock.Options{ForRead: true}), (*kvrpcpb.GetRequest).GetVersion, nil,
			pipeline.Retry(env, plans.KvGet), pipeline.ForReads())))
	readTS, _ := oracle.Now(ctx)
	resp, err := get(ctx, &kvrpcpb.GetRequest{Key: []byte("s"), Version: readTS})
	if err != nil {
		panic(err)
	}
	fmt.Printf("s = %s\n", resp.Value)
	// Output: s = 2
}
