package rangetask_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/rangetask"
)

// ExampleRunner runs a task over the whole transactional key space of a
// cluster with three regions, one region per handler call.
func ExampleRunner() {
	mock := mocktikv.NewCluster()
	defer mock.Close()
	for _, k := range []string{"g", "p"} {
		if _, err := mock.SplitTxn([]byte(k)); err != nil {
			log.Fatal(err)
		}
	}
	cluster, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	handler := func(ctx context.Context, r kv.KeyRange) (rangetask.Stat, error) {
		// A real task sends requests for r here (a lock scan, a checksum).
		return rangetask.Stat{CompletedRegions: 1}, nil
	}
	runner := rangetask.New("count-regions", cluster.EnvFor(kv.ModeTxn), handler,
		rangetask.WithConcurrency(1), rangetask.WithRegionsPerTask(1))
	st, err := runner.Run(context.Background(), nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("regions done:", st.CompletedRegions)
	// Output: regions done: 3
}
