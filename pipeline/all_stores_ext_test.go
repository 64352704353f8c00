package pipeline_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
)

var storeSafeTS = pipeline.Method[*kvrpcpb.StoreSafeTSRequest, *kvrpcpb.StoreSafeTSResponse]{
	Cmd: transport.CmdStoreSafeTS, Idempotent: true, Read: true,
}

// TestAllStoresOverGRPC: GetStoreSafeTS reaches every store of a real gRPC
// cluster; with one store stopped, that store's result is an error (its
// health check fails, so it is not retried until the budget runs out)
// while the others answer.
func TestAllStoresOverGRPC(t *testing.T) {
	mock := mocktikv.Start(t, mocktikv.WithStores(3))
	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs())
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	env := cluster.EnvFor(kv.ModeRaw)
	env.BackoffBudget = 5 * time.Second // a bound for the test, should the health check not tell
	plan := pipeline.AllStores(env, storeSafeTS)
	req := &kvrpcpb.StoreSafeTSRequest{KeyRange: &kvrpcpb.KeyRange{}}

	results, err := plan(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, r := range results {
		ids = append(ids, r.Store.ID)
		if r.Err != nil {
			t.Errorf("store %d: %v", r.Store.ID, r.Err)
		}
	}
	want := mock.StoreIDs()
	slices.Sort(want)
	if !slices.Equal(ids, want) || len(ids) != 3 {
		t.Fatalf("results for stores %v, want %v", ids, want)
	}

	stopped := want[1]
	if err := mock.StopStore(stopped); err != nil {
		t.Fatal(err)
	}
	results, err = plan(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Store.ID != stopped {
			if r.Err != nil {
				t.Errorf("store %d: %v, want its answer", r.Store.ID, r.Err)
			}
			continue
		}
		var ue *kv.StoreUnreachableError
		if !errors.As(r.Err, &ue) || ue.StoreID != stopped {
			t.Errorf("stopped store %d: err %v, want *kv.StoreUnreachableError", stopped, r.Err)
		}
	}
}
