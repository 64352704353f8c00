package txn_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/txn"
)

// ExampleWithStaleRead reads from the nearest replica: a stale read at a
// ts every replica has reached (here the cluster's min safe ts) is served
// by a follower without asking the leader; a follower read goes through
// the leader's read index; a read ts PD never handed out is refused.
func ExampleWithStaleRead() {
	ctx := context.Background()
	mock := mocktikv.NewCluster(mocktikv.WithStores(3))
	defer mock.Close()
	for id, z := range map[uint64]string{1: "east", 2: "west", 3: "north"} {
		_ = mock.SetStoreLabels(id, map[string]string{"zone": z})
	}
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	client := txn.NewClient(cluster)
	defer client.Close(ctx)

	if err := client.Update(ctx, func(ctx context.Context, t *txn.Txn) error {
		return t.Set([]byte("k"), []byte("v"))
	}); err != nil {
		panic(err)
	}
	west := []*metapb.StoreLabel{{Key: "zone", Value: "west"}}

	// Wait for the stores' safe ts to pass the commit, then read there.
	ts, _ := client.CurrentTimestamp(ctx)
	for client.MinSafeTS() < ts {
		time.Sleep(10 * time.Millisecond) // refreshed every 2 s, at once on first use
	}
	snap := client.Snapshot(client.MinSafeTS(), txn.WithStaleRead(), txn.WithMatchStoreLabels(west))
	v, err := snap.Get(ctx, []byte("k"))
	fmt.Println("stale read:", string(v), err)

	// A read-only transaction at a stale ts reads the same way.
	t, _ := client.Begin(ctx, txn.WithStaleReadTS(ts), txn.WithTxnSnapshotOptions(txn.WithMatchStoreLabels(west)))
	v, err = t.Get(ctx, []byte("k"))
	fmt.Println("stale txn:", string(v), err)
	_ = t.Rollback()

	// A follower read sees everything committed before it.
	now, _ := client.CurrentTimestamp(ctx)
	v, err = client.Snapshot(now, txn.WithReplicaRead(kv.ReplicaReadFollower)).Get(ctx, []byte("k"))
	fmt.Println("follower read:", string(v), err)

	_, err = client.Snapshot(now+1<<40, txn.WithStaleRead()).Get(ctx, []byte("k"))
	var future *pdclient.FutureTSReadError
	fmt.Println("future ts refused:", errors.As(err, &future))
	// Output:
	// stale read: v <nil>
	// stale txn: v <nil>
	// follower read: v <nil>
	// future ts refused: true
}
