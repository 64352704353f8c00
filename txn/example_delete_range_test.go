package txn_test

import (
	"context"
	"fmt"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/txn"
)

// ExampleClient_DeleteRange empties a range that spans two regions and
// reports how many regions it deleted from.
func ExampleClient_DeleteRange() {
	ctx := context.Background()
	mock := mocktikv.NewCluster()
	defer mock.Close()
	if _, err := mock.SplitTxn([]byte("t/m")); err != nil {
		panic(err)
	}
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	client := txn.NewClient(cluster)
	defer client.Close(ctx)

	for _, keys := range [][]string{{"t/a", "t/x"}, {"u/a"}} {
		err := client.Update(ctx, func(ctx context.Context, t *txn.Txn) error {
			for _, k := range keys {
				if err := t.Set([]byte(k), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			panic(err)
		}
	}
	// Every key under "t/" goes, in both regions; "u/a" stays.
	regions, err := client.DeleteRange(ctx, []byte("t/"), []byte("t0"))
	fmt.Println(regions, err)
	tx, err := client.Begin(ctx)
	if err != nil {
		panic(err)
	}
	for p, err := range tx.Iter(ctx, nil, nil) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s\n", p.Key)
	}
	// Output:
	// 2 <nil>
	// u/a
}
