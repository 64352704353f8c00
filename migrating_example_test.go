package tikv_test

import (
	"context"
	"errors"
	"fmt"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/txn"
)

// Example_migratingRaw is docs/migrating.md's RawKV example: client-go's
// rawkv.Client calls, with a missing key as kv.ErrNotFound and a scan as
// an iterator. It runs against an embedded mocktikv.
func Example_migratingRaw() {
	ctx := context.Background()
	mock := mocktikv.NewCluster()
	defer mock.Close()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()

	client := raw.NewClient(cluster)
	for _, k := range []string{"a", "b", "c"} {
		if err := client.Put(ctx, []byte(k), []byte("v"+k)); err != nil {
			panic(err)
		}
	}
	if _, err := client.Get(ctx, []byte("missing")); errors.Is(err, kv.ErrNotFound) {
		fmt.Println("missing: not found")
	}
	for pair, err := range client.Scan(ctx, []byte("a"), []byte("z"), 10) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s=%s\n", pair.Key, pair.Value)
	}
	// Output:
	// missing: not found
	// a=va
	// b=vb
	// c=vc
}

// Example_migratingTxn is docs/migrating.md's transaction example: a
// read-modify-write with txn.Client.Update, which re-runs the function on
// a retryable conflict and reports an undetermined commit as such.
func Example_migratingTxn() {
	ctx := context.Background()
	mock := mocktikv.NewCluster()
	defer mock.Close()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	client := txn.NewClient(cluster)
	defer client.Close(ctx)

	for range 3 {
		err := client.Update(ctx, func(ctx context.Context, t *txn.Txn) error {
			v, err := t.Get(ctx, []byte("counter"))
			if err != nil && !errors.Is(err, kv.ErrNotFound) {
				return err
			}
			return t.Set([]byte("counter"), append(v, '+'))
		})
		if errors.Is(err, kv.ErrUndetermined) {
			fmt.Println("undetermined: read it back before acting")
		} else if err != nil {
			panic(err)
		}
	}
	t, err := client.Begin(ctx)
	if err != nil {
		panic(err)
	}
	v, err := t.Get(ctx, []byte("counter"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("counter=%s\n", v)
	_ = t.Rollback()
	// Output:
	// counter=+++
}
