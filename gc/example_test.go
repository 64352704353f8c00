package gc_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/gc"
	"github.com/tikvgo/tikv/mocktikv"
)

// ExampleRun runs one GC round with the current timestamp as the safe
// point: PD's txn safe point and GC safe point both move there once
// every lock below it is settled.
func ExampleRun() {
	mock := mocktikv.NewCluster()
	defer mock.Close()
	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	safePoint, err := cluster.Oracle().Now(ctx)
	if err != nil {
		log.Fatal(err)
	}
	res, err := gc.Run(ctx, cluster, safePoint, gc.WithProgress(func(p gc.Progress) {
		if p.Phase != gc.PhaseResolveLocks || p.Regions.CompletedRegions == 0 {
			fmt.Println(p.Phase)
		}
	}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.TxnSafePoint == safePoint, res.GCSafePoint == safePoint, res.Regions.CompletedRegions)
	// Output:
	// advance-txn-safe-point
	// resolve-locks
	// advance-gc-safe-point
	// done
	// true true 1
}
