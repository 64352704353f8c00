package admin_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/admin"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/txn"
)

// ExampleClient_SplitRegions splits the key space at "m", has PD scatter
// the new region and waits for the scatter.
func ExampleClient_SplitRegions() {
	mock := mocktikv.NewCluster(mocktikv.WithStores(3))
	defer mock.Close()
	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	a := admin.New(cluster)
	ids, err := a.SplitRegions(ctx, [][]byte{[]byte("m")}, true)
	if err != nil {
		log.Fatal(err)
	}
	if err := a.WaitScatterFinish(ctx, ids, nil); err != nil {
		log.Fatal(err)
	}
	r, err := a.RegionByKey(ctx, []byte("m"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d new region; the region of m starts at %q\n", len(ids), r.StartKey())
	// Output: 1 new region; the region of m starts at "m"
}

// ExampleClient_UnsafeDestroyRange destroys a range on every store.
func ExampleClient_UnsafeDestroyRange() {
	mock := mocktikv.NewCluster(mocktikv.WithStores(3))
	defer mock.Close()
	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	err = admin.New(cluster).UnsafeDestroyRange(ctx, []byte("table/42/"), []byte("table/43/"))
	fmt.Println("destroyed:", err == nil)
	// Output: destroyed: true
}

// ExampleClient_RegionProperties reads the MVCC statistics TiKV's debug
// service keeps for the region holding a key.
func ExampleClient_RegionProperties() {
	mock := mocktikv.NewCluster(mocktikv.WithStores(3))
	defer mock.Close()
	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	tc := txn.NewClient(cluster)
	defer tc.Close(ctx)
	err = tc.Update(ctx, func(ctx context.Context, tx *txn.Txn) error { return tx.Set([]byte("k"), []byte("v")) })
	if err != nil {
		log.Fatal(err)
	}

	a := admin.New(cluster)
	r, err := a.RegionByKey(ctx, []byte("k"))
	if err != nil {
		log.Fatal(err)
	}
	props, err := a.RegionProperties(ctx, r.ID())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("rows:", props["mvcc.num_rows"], "versions:", props["mvcc.num_versions"])
	// Output: rows: 1 versions: 1
}
