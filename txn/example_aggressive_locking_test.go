package txn_test

import (
	"context"
	"fmt"
	"strconv"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/txn"
)

// ExampleTxn_StartAggressiveLocking runs a statement in aggressive
// ("fair") locking: it locks the key at the ts it read at, and a write
// committed after that ts does not fail the lock but is reported with it.
// The statement then runs again at a newer ts; the lock it kept serves
// the new attempt without another request, and Done keeps it for the
// commit.
func ExampleTxn_StartAggressiveLocking() {
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

	key := []byte("stock")
	t, err := client.Begin(ctx, txn.WithPessimistic())
	if err != nil {
		panic(err)
	}
	// Another transaction writes the key after t began.
	w, _ := client.Begin(ctx)
	_ = w.Set(key, []byte("9"))
	if err := w.Commit(ctx); err != nil {
		panic(err)
	}

	if err := t.StartAggressiveLocking(); err != nil {
		panic(err)
	}
	readTS := t.StartTS() // the statement's first attempt reads at the start ts
	var stock int
	for attempt := 1; ; attempt++ {
		lc := &txn.LockCtx{AtForUpdateTS: readTS, ReturnValues: true}
		if err := t.LockKeys(ctx, lc, key); err != nil {
			panic(err)
		}
		v := lc.Values[string(key)]
		if v.LockedWithConflictTS == 0 {
			stock, _ = strconv.Atoi(string(v.Value))
			break
		}
		fmt.Printf("attempt %d: locked over a newer write\n", attempt)
		if err := t.RetryAggressiveLocking(ctx); err != nil {
			panic(err)
		}
		if readTS, err = client.CurrentTimestamp(ctx); err != nil {
			panic(err)
		}
	}
	if err := t.DoneAggressiveLocking(ctx); err != nil {
		panic(err)
	}
	_ = t.Set(key, []byte(strconv.Itoa(stock-1)))
	if err := t.Commit(ctx); err != nil {
		panic(err)
	}
	r, _ := client.Begin(ctx)
	v, _ := r.Get(ctx, key)
	fmt.Println("stock:", string(v))
	// Output:
	// attempt 1: locked over a newer write
	// stock: 8
}
