package txn_test

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/txn"
)

// ExampleNewSafePointCache checks reads of a snapshot built by hand
// against PD's txn safe point, as a txn.Client does for its own: the
// cache of the cluster's keyspace, handed to the snapshot.
func ExampleNewSafePointCache() {
	ctx := context.Background()
	mock := mocktikv.NewCluster()
	defer mock.Close()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()

	ks := pdclient.GCStateKeyspace(cluster.KeyspaceID(), cluster.APIVersion() == kvrpcpb.APIVersion_V2)
	cache := txn.NewSafePointCache(cluster.PD(), ks, txn.SafePointCacheOptions{})
	defer cache.Close()

	ts, _ := cluster.Oracle().Now(ctx)
	fmt.Println("visible:", cache.CheckVisibility(ctx, ts) == nil)
	snap := txn.NewSnapshot(cluster.EnvFor(kv.ModeTxn), nil, ts, txn.WithSafePointChecker(cache))
	_, err = snap.Get(ctx, []byte("k"))
	fmt.Println(err)
	// Output:
	// visible: true
	// tikv: key not found
}
