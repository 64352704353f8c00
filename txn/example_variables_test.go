package txn_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// ExampleWithKillSignal stops a transaction from another goroutine (a
// SQL layer's KILL): once the flag holds a signal, the transaction's
// reads and its prewrite fail with a *kv.QueryInterruptedError carrying
// it, and what was prewritten is rolled back.
func ExampleWithKillSignal() {
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

	var killed atomic.Uint32
	tx, err := client.Begin(ctx, txn.WithKillSignal(&killed), txn.WithBackoffWeight(4))
	if err != nil {
		panic(err)
	}
	if err := tx.Set([]byte("k"), []byte("v")); err != nil {
		panic(err)
	}
	killed.Store(1) // another goroutine would do this
	err = tx.Commit(ctx)
	var qi *kv.QueryInterruptedError
	fmt.Println(errors.Is(err, kv.ErrQueryInterrupted), errors.As(err, &qi) && qi.Signal == 1)
	// Output: true true
}

// ExampleSnapshot_SetRuntimeStats collects what a snapshot's reads cost:
// attempts per command, backoffs per policy and TiKV's exec details.
func ExampleSnapshot_SetRuntimeStats() {
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

	err = client.Update(ctx, func(ctx context.Context, tx *txn.Txn) error {
		return tx.Set([]byte("k"), []byte("v"))
	})
	if err != nil {
		panic(err)
	}
	ts, _ := client.CurrentTimestamp(ctx)
	snap := client.Snapshot(ts)
	stats := &txn.SnapshotRuntimeStats{}
	snap.SetRuntimeStats(stats)
	if _, err := snap.Get(ctx, []byte("k")); err != nil {
		panic(err)
	}
	fmt.Println(stats.RPCCount(transport.CmdGet), stats.ScanDetail().ProcessedKeys)
	// Output: 1 1
}
