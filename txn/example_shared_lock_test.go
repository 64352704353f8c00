package txn_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/txn"
)

// ExampleLockCtx_inShareMode locks a parent row in share mode from two
// transactions at once, each inserting a child that needs the parent to
// stay: neither blocks the other, while a transaction that would change
// the parent cannot lock it until both ended. Each transaction first locks
// a key of its own exclusively (its child), since a key locked in share
// mode can never be a transaction's primary.
func ExampleLockCtx_inShareMode() {
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

	parent := []byte("parent/1")
	var children []*txn.Txn
	for _, child := range []string{"child/a", "child/b"} {
		t, err := client.Begin(ctx, txn.WithPessimistic())
		if err != nil {
			panic(err)
		}
		if err := t.LockKeys(ctx, nil, []byte(child)); err != nil { // the primary
			panic(err)
		}
		if err := t.LockKeys(ctx, &txn.LockCtx{InShareMode: true}, parent); err != nil {
			panic(err)
		}
		if err := t.Set([]byte(child), []byte("parent/1")); err != nil {
			panic(err)
		}
		children = append(children, t)
	}

	deleter, _ := client.Begin(ctx, txn.WithPessimistic())
	err = deleter.LockKeys(ctx, &txn.LockCtx{Wait: txn.LockNoWait}, parent)
	fmt.Println("exclusive lock while shared:", errors.Is(err, kv.ErrLockAcquireFailAndNoWait))
	_ = deleter.Rollback()

	// A key locked in share mode is not written by its holder.
	err = children[0].LockKeys(ctx, nil, parent)
	fmt.Println("upgrade refused:", errors.Is(err, txn.ErrSharedLockUpgrade))

	for _, t := range children {
		if err := t.Commit(ctx); err != nil {
			panic(err)
		}
	}
	r, _ := client.Begin(ctx)
	v, _ := r.Get(ctx, []byte("child/b"))
	fmt.Println("child/b ->", string(v))
	// Output:
	// exclusive lock while shared: true
	// upgrade refused: true
	// child/b -> parent/1
}
