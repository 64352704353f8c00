package pdclient_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/tikvgo/tikv/pdclient"
)

// Connect to PD, then share one region cache and one oracle across the
// process; close them before the PD client.
func ExampleConnect() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pd, err := pdclient.Connect(ctx, []string{"127.0.0.1:2379"})
	if err != nil {
		log.Fatal(err)
	}
	defer pd.Close()

	cache := pdclient.NewRegionCache(pd)
	defer cache.Close()
	oracle := pdclient.NewOracle(pd)
	defer oracle.Close()

	r, err := cache.Locate(ctx, []byte("some key"))
	if err != nil {
		log.Fatal(err)
	}
	store, err := cache.Store(ctx, r.Leader().GetStoreId())
	if err != nil {
		log.Fatal(err)
	}
	startTS, err := oracle.Now(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r, store.Addr, pdclient.GoTime(startTS))
}

func ExampleComposeTS() {
	ts := pdclient.ComposeTS(1_700_000_000_000, 7)
	fmt.Println(ts, pdclient.ExtractPhysical(ts), pdclient.ExtractLogical(ts))
	fmt.Println(pdclient.GoTime(ts).UTC())
	// Output:
	// 445644800000000007 1700000000000 7
	// 2023-11-14 22:13:20 +0000 UTC
}
