package txn_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/txn"
)

// ExampleTxn_LockKeys increments a counter in a pessimistic transaction:
// LockKeys locks the key in TiKV and returns its latest committed value,
// so the commit cannot meet a write conflict on it. A second transaction
// that will not wait fails at once while the lock is held.
func ExampleTxn_LockKeys() {
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

	key := []byte("counter")
	t, err := client.Begin(ctx, txn.WithPessimistic())
	if err != nil {
		panic(err)
	}
	lc := &txn.LockCtx{ReturnValues: true}
	if err := t.LockKeys(ctx, lc, key); err != nil {
		panic(err)
	}
	n := 0
	if v := lc.Values[string(key)]; v.Exists {
		n, _ = strconv.Atoi(string(v.Value))
	}

	other, _ := client.Begin(ctx, txn.WithPessimistic())
	err = other.LockKeys(ctx, &txn.LockCtx{Wait: txn.LockNoWait}, key)
	fmt.Println("other:", errors.Is(err, kv.ErrLockAcquireFailAndNoWait))
	_ = other.Rollback()

	if err := t.Set(key, []byte(strconv.Itoa(n+1))); err != nil {
		panic(err)
	}
	if err := t.Commit(ctx); err != nil {
		panic(err)
	}
	r, _ := client.Begin(ctx)
	v, _ := r.Get(ctx, key)
	fmt.Println("counter:", string(v))
	// Output:
	// other: true
	// counter: 1
}
