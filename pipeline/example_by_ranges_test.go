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
	"github.com/tikvgo/tikv/transport"
)

// ExampleByKeyRanges scans several key ranges in one call with
// RawBatchScan: ByKeyRanges cuts the ranges at region boundaries and sends
// one request per region, Shard runs them in parallel, and the parts come
// back in key order.
func ExampleByKeyRanges() {
	mock := mocktikv.NewCluster(mocktikv.WithStores(1), mocktikv.WithSplitKeys([]byte("k5")))
	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		log.Fatal(err)
	}
	defer mock.Close()
	defer cluster.Close()
	env := cluster.EnvFor(kv.ModeRaw)

	put := &kvrpcpb.RawBatchPutRequest{}
	for i := range 10 {
		put.Pairs = append(put.Pairs, &kvrpcpb.KvPair{Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")})
	}
	if _, err := plans.NewRaw(env).BatchPut(ctx, put); err != nil {
		log.Fatal(err)
	}

	rawBatchScan := pipeline.Method[*kvrpcpb.RawBatchScanRequest, *kvrpcpb.RawBatchScanResponse]{
		Cmd: transport.CmdRawBatchScan, Idempotent: true, Read: true,
	}
	byRanges := pipeline.ByKeyRanges(
		func(r *kvrpcpb.RawBatchScanRequest) []*kvrpcpb.KeyRange { return r.Ranges },
		func(r *kvrpcpb.RawBatchScanRequest, pieces []*kvrpcpb.KeyRange) *kvrpcpb.RawBatchScanRequest {
			c := *r
			c.Ranges = pieces
			return &c
		})
	batchScan := pipeline.Shard(env, byRanges, pipeline.Retry(env, rawBatchScan))

	// Out of order, and [k4, k7) crosses the region boundary at k5.
	parts, err := batchScan(ctx, &kvrpcpb.RawBatchScanRequest{EachLimit: 10, Ranges: []*kvrpcpb.KeyRange{
		{StartKey: []byte("k8"), EndKey: []byte("k9")},
		{StartKey: []byte("k1"), EndKey: []byte("k2")},
		{StartKey: []byte("k4"), EndKey: []byte("k7")},
	}})
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range parts {
		fmt.Printf("region [%q, %q), %d ranges:", p.Region.StartKey(), p.Region.EndKey(), len(p.Req.Ranges))
		for _, kv := range p.Resp.Kvs {
			fmt.Printf(" %s", kv.Key)
		}
		fmt.Println()
	}
	// Output:
	// region ["", "k5"), 2 ranges: k1 k4
	// region ["k5", ""), 2 ranges: k5 k6 k8
}
