package pipeline_test

import (
	"context"
	"fmt"
	"log"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
)

// ExampleAllStores asks every TiKV store for its safe ts (the ts below
// which all its regions are resolved), the way a client computes the
// cluster's minimum for stale reads. Each store has its own outcome: a
// store that fails does not hide the others' answers.
func ExampleAllStores() {
	mock := mocktikv.NewCluster(mocktikv.WithStores(3))
	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		log.Fatal(err)
	}
	defer mock.Close()
	defer cluster.Close()

	// GetStoreSafeTS: a store-level read, safe to send again.
	safeTS := pipeline.AllStores(cluster.EnvFor(kv.ModeRaw), plans.GetStoreSafeTS,
		pipeline.StoreFilter(pipeline.TiKVStores), pipeline.Named("StoreSafeTS"))

	// An empty key range means every region of the store.
	results, err := safeTS(ctx, &kvrpcpb.StoreSafeTSRequest{KeyRange: &kvrpcpb.KeyRange{}})
	if err != nil {
		log.Fatal(err) // the stores could not be listed, or ctx ended
	}
	for _, r := range results {
		if r.Err != nil {
			fmt.Printf("store %d: %v\n", r.Store.ID, r.Err)
			continue
		}
		fmt.Printf("store %d answered\n", r.Store.ID)
	}
	// Output:
	// store 1 answered
	// store 2 answered
	// store 3 answered
}
