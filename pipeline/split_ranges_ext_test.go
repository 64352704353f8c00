package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
)

// TestByKeyRangesAfterSplit: a multi-range RawBatchScan planned with a
// region cache that missed a split is re-split by ByKeyRanges and still
// returns every key once, in key order.
func TestByKeyRangesAfterSplit(t *testing.T) {
	mock := mocktikv.NewCluster(mocktikv.WithStores(2), mocktikv.WithSplitKeys([]byte("k5")))
	defer mock.Close()
	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	env := cluster.EnvFor(kv.ModeRaw)
	put := &kvrpcpb.RawBatchPutRequest{}
	var want []string
	for i := range 10 {
		k := fmt.Sprintf("k%d", i)
		put.Pairs = append(put.Pairs, &kvrpcpb.KvPair{Key: []byte(k), Value: []byte("v")})
		if i != 3 && i != 9 {
			want = append(want, k)
		}
	}
	if _, err := plans.NewRaw(env).BatchPut(ctx, put); err != nil {
		t.Fatal(err)
	}
	scan := pipeline.Shard(env,
		pipeline.ByKeyRanges(
			func(r *kvrpcpb.RawBatchScanRequest) []*kvrpcpb.KeyRange { return r.Ranges },
			func(r *kvrpcpb.RawBatchScanRequest, pieces []*kvrpcpb.KeyRange) *kvrpcpb.RawBatchScanRequest {
				c := *r
				c.Ranges = pieces
				return &c
			}),
		pipeline.Retry(env, pipeline.Method[*kvrpcpb.RawBatchScanRequest, *kvrpcpb.RawBatchScanResponse]{
			Cmd: transport.CmdRawBatchScan, Idempotent: true, Read: true,
		}))
	req := &kvrpcpb.RawBatchScanRequest{EachLimit: 100, Ranges: []*kvrpcpb.KeyRange{
		{StartKey: []byte("k4"), EndKey: []byte("k9")},
		{StartKey: []byte("k0"), EndKey: []byte("k3")},
	}}
	keys := func() ([]string, int) {
		t.Helper()
		parts, err := scan(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range parts {
			for _, kv := range p.Resp.Kvs {
				got = append(got, string(kv.Key))
			}
		}
		return got, len(parts)
	}
	if got, n := keys(); !slices.Equal(got, want) || n != 2 {
		t.Fatalf("before the split: %v in %d parts, want %v in 2", got, n, want)
	}
	// The cache still has [k5, ) as one region.
	if _, err := mock.Split([]byte("k7")); err != nil {
		t.Fatal(err)
	}
	if got, n := keys(); !slices.Equal(got, want) || n != 3 {
		t.Fatalf("after the split: %v in %d parts, want %v in 3", got, n, want)
	}
}
