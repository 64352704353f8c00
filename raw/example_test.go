package raw_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
)

// Example runs the RawKV API against a mocktikv cluster served over gRPC on
// loopback; point tikv.Connect at PD's address to use a real cluster.
func Example() {
	mock := mocktikv.NewCluster(mocktikv.WithStores(2), mocktikv.WithSplitKeys([]byte("m")))
	if err := mock.Serve(); err != nil {
		log.Fatal(err)
	}
	defer mock.Close()

	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, mock.PDAddrs())
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	client := raw.NewClient(cluster)

	if err := client.BatchPut(ctx,
		[][]byte{[]byte("apple"), []byte("mango"), []byte("zucchini")},
		[][]byte{[]byte("red"), []byte("yellow"), []byte("green")}); err != nil {
		log.Fatal(err)
	}
	v, err := client.Get(ctx, []byte("mango"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("mango is %s\n", v)

	if _, err := client.Get(ctx, []byte("kiwi")); errors.Is(err, kv.ErrNotFound) {
		fmt.Println("no kiwi")
	}

	// Scan crosses the region boundary at "m" transparently.
	for pair, err := range client.Scan(ctx, []byte("a"), nil, 0) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s=%s\n", pair.Key, pair.Value)
	}
	// Output:
	// mango is yellow
	// no kiwi
	// apple=red
	// mango=yellow
	// zucchini=green
}

// ExampleClient_ReverseScan reads keys in descending order: start is the
// exclusive upper bound, end the inclusive lower bound.
func ExampleClient_ReverseScan() {
	mock := mocktikv.NewCluster(mocktikv.WithStores(1))
	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		log.Fatal(err)
	}
	defer mock.Close()
	defer cluster.Close()
	client := raw.NewClient(cluster)
	for _, k := range []string{"a", "b", "c", "d"} {
		if err := client.Put(ctx, []byte(k), []byte("v")); err != nil {
			log.Fatal(err)
		}
	}
	for pair, err := range client.ReverseScan(ctx, []byte("d"), []byte("a"), 2) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(pair.Key))
	}
	// Output:
	// c
	// b
}
