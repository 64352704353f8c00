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

// Example composes a plan of its own from the library's pieces: a key-only
// count of the keys in a range, paged region by region with Stream and
// retried per region by Retry. Plans are built once and reused.
func Example() {
	mock := mocktikv.NewCluster(mocktikv.WithStores(2), mocktikv.WithSplitKeys([]byte("k050")))
	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		log.Fatal(err)
	}
	defer mock.Close()
	defer cluster.Close()

	env := cluster.EnvFor(kv.ModeRaw)
	// Fill the range with the compiled raw plans.
	raw := plans.NewRaw(env)
	req := &kvrpcpb.RawBatchPutRequest{}
	for i := range 100 {
		req.Pairs = append(req.Pairs, &kvrpcpb.KvPair{Key: fmt.Appendf(nil, "k%03d", i), Value: []byte("v")})
	}
	if _, err := raw.BatchPut(ctx, req); err != nil {
		log.Fatal(err)
	}

	// The custom plan: RawScan with key_only, 16 keys per RPC.
	countKeys := pipeline.Stream(env, pipeline.Cursor[*kvrpcpb.RawScanRequest, *kvrpcpb.RawScanResponse]{
		Bounds: func(r *kvrpcpb.RawScanRequest) ([]byte, []byte, bool, int) { return r.StartKey, r.EndKey, false, 0 },
		With: func(r *kvrpcpb.RawScanRequest, lower, upper []byte, limit int) *kvrpcpb.RawScanRequest {
			return &kvrpcpb.RawScanRequest{StartKey: lower, EndKey: upper, Limit: uint32(limit), KeyOnly: true}
		},
		Count: func(r *kvrpcpb.RawScanResponse) int { return len(r.Kvs) },
		Last:  func(r *kvrpcpb.RawScanResponse) []byte { return r.Kvs[len(r.Kvs)-1].Key },
	}, pipeline.Retry(env, plans.RawScan), pipeline.PageSize(16))

	total, pages, regions := 0, 0, map[uint64]bool{}
	for part, err := range countKeys(ctx, &kvrpcpb.RawScanRequest{StartKey: []byte("k"), EndKey: []byte("l")}) {
		if err != nil {
			log.Fatal(err)
		}
		total += len(part.Resp.Kvs)
		pages++
		regions[part.Region.ID()] = true
	}
	fmt.Printf("%d keys in %d pages from %d regions\n", total, pages, len(regions))
	// Output:
	// 100 keys in 8 pages from 2 regions
}
