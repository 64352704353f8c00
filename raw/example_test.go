package raw_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

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

// exampleClient connects a client to an in-process mocktikv cluster with
// the given options; stop releases both.
func exampleClient(mockOpts []mocktikv.Option, opts ...raw.Option) (client *raw.Client, stop func()) {
	mock := mocktikv.NewCluster(mockOpts...)
	cluster, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		log.Fatal(err)
	}
	return raw.NewClient(cluster, opts...), func() {
		cluster.Close()
		mock.Close()
	}
}

// ExampleNewClient configures a client: a default column family and atomic
// mode, and derives a second client with other options from it.
func ExampleNewClient() {
	client, stop := exampleClient(nil, raw.WithColumnFamily("write"), raw.WithAtomicForCAS(true))
	defer stop()
	ctx := context.Background()
	if err := client.Put(ctx, []byte("k"), []byte("in write")); err != nil {
		log.Fatal(err)
	}
	// Per-call options override the client's.
	v, err := client.Get(ctx, []byte("k"), raw.ColumnFamily("write"), raw.RequestSource("example"))
	fmt.Printf("%s %v\n", v, err)
	_, err = client.With(raw.WithColumnFamily("")).Get(ctx, []byte("k"))
	fmt.Println(errors.Is(err, kv.ErrNotFound))
	// Output:
	// in write <nil>
	// true
}

// ExampleClient_CompareAndSwap creates a key only if it is absent (nil
// previous value), then swaps it; a failed swap reports the current value.
func ExampleClient_CompareAndSwap() {
	client, stop := exampleClient(nil, raw.WithAtomicForCAS(true))
	defer stop()
	ctx := context.Background()
	key := []byte("leader")

	old, swapped, err := client.CompareAndSwap(ctx, key, nil, []byte("node-1"))
	fmt.Println(old == nil, swapped, err)
	old, swapped, _ = client.CompareAndSwap(ctx, key, nil, []byte("node-2"))
	fmt.Printf("%s %v\n", old, swapped)
	old, swapped, _ = client.CompareAndSwap(ctx, key, old, []byte("node-2"))
	fmt.Printf("%s %v\n", old, swapped)

	// An unknown outcome is never retried blindly.
	if _, _, err := client.CompareAndSwap(ctx, key, []byte("node-2"), []byte("node-3")); errors.Is(err, kv.ErrUndetermined) {
		fmt.Println("re-read the key to learn whether the swap happened")
	}
	// Output:
	// true true <nil>
	// node-1 false
	// node-1 true
}

// ExampleClient_GetKeyTTL writes with a TTL, which needs a TTL-enabled store
// (API V1TTL or V2), and reads it back.
func ExampleClient_GetKeyTTL() {
	client, stop := exampleClient([]mocktikv.Option{mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V1TTL)})
	defer stop()
	ctx := context.Background()
	if err := client.Put(ctx, []byte("session"), []byte("token"), raw.TTL(time.Minute)); err != nil {
		log.Fatal(err)
	}
	ttl, err := client.GetKeyTTL(ctx, []byte("session"))
	fmt.Println(ttl > 58*time.Second && ttl <= time.Minute, err)

	_ = client.Put(ctx, []byte("config"), []byte("forever"))
	ttl, err = client.GetKeyTTL(ctx, []byte("config"))
	fmt.Println(ttl, err)

	_, err = client.GetKeyTTL(ctx, []byte("missing"))
	fmt.Println(errors.Is(err, kv.ErrNotFound))
	// Output:
	// true <nil>
	// 0s <nil>
	// true
}

// ExampleClient_Checksum compares a range on two sides: the checksum is
// independent of how the range is split into regions.
func ExampleClient_Checksum() {
	client, stop := exampleClient([]mocktikv.Option{mocktikv.WithSplitKeys([]byte("m"))})
	defer stop()
	ctx := context.Background()
	keys := [][]byte{[]byte("apple"), []byte("mango"), []byte("zucchini")}
	if err := client.BatchPut(ctx, keys, keys); err != nil {
		log.Fatal(err)
	}
	sum, err := client.Checksum(ctx, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d pairs, %d bytes\n", sum.TotalKvs, sum.TotalBytes)
	// Output:
	// 3 pairs, 36 bytes
}

// ExampleClient_Scan reads keys only, with a limit.
func ExampleClient_Scan() {
	client, stop := exampleClient(nil)
	defer stop()
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c", "d"} {
		_ = client.Put(ctx, []byte(k), []byte("a large value"))
	}
	for pair, err := range client.Scan(ctx, []byte("b"), nil, 2, raw.KeyOnly()) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(pair.Key), pair.Value == nil)
	}
	// Output:
	// b true
	// c true
}
