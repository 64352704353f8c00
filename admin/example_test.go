package admin_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/admin"
	"github.com/tikvgo/tikv/mocktikv"
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
