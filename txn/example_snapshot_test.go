package txn_test

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/txn"
)

// ExampleNewSnapshot reads a committed row through a snapshot: a point
// read, a batch read and a scan, all at the snapshot's ts.
func ExampleNewSnapshot() {
	ctx := context.Background()
	mock := mocktikv.NewCluster()
	defer mock.Close()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	env := cluster.EnvFor(kv.ModeTxn)

	// Commit k1=v1 and k2=v2 in one transaction (the committer does this
	// in a real program).
	start, _ := cluster.Oracle().Now(ctx)
	keys := [][]byte{[]byte("k1"), []byte("k2")}
	prewrite := pipeline.Single(pipeline.Shard(env, pipeline.ByKey(func(*kvrpcpb.PrewriteRequest) []byte { return keys[0] }),
		pipeline.Retry(env, plans.KvPrewrite)))
	if _, err := prewrite(ctx, &kvrpcpb.PrewriteRequest{PrimaryLock: keys[0], StartVersion: start, LockTtl: 3000,
		Mutations: []*kvrpcpb.Mutation{
			{Op: kvrpcpb.Op_Put, Key: keys[0], Value: []byte("v1")},
			{Op: kvrpcpb.Op_Put, Key: keys[1], Value: []byte("v2")},
		}}); err != nil {
		panic(err)
	}
	commitTS, _ := cluster.Oracle().Now(ctx)
	commit := pipeline.Single(pipeline.Shard(env, pipeline.ByKey(func(*kvrpcpb.CommitRequest) []byte { return keys[0] }),
		pipeline.Retry(env, plans.KvCommit)))
	if _, err := commit(ctx, &kvrpcpb.CommitRequest{Keys: keys, StartVersion: start, CommitVersion: commitTS}); err != nil {
		panic(err)
	}

	ts, _ := cluster.Oracle().Now(ctx)
	snap := txn.NewSnapshot(env, nil, ts) // nil: no lock resolver; locks fail reads
	v, err := snap.Get(ctx, []byte("k1"))
	fmt.Println(string(v), err)
	vs, err := snap.BatchGet(ctx, [][]byte{[]byte("k2"), []byte("k3")})
	fmt.Printf("%q %v\n", vs, err)
	for p, err := range snap.Iter(ctx, []byte("k"), nil) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s=%s\n", p.Key, p.Value)
	}
	// Output:
	// v1 <nil>
	// ["v2" ""] <nil>
	// k1=v1
	// k2=v2
}
