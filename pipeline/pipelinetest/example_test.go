package pipelinetest_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"strings"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/pipeline/pipelinetest"
	"github.com/tikvgo/tikv/transport"
)

// rawBatchGet describes TiKV's RawBatchGet to the pipeline.
var rawBatchGet = pipeline.Method[*kvrpcpb.RawBatchGetRequest, *kvrpcpb.RawBatchGetResponse]{
	Cmd: transport.CmdRawBatchGet, Idempotent: true, Read: true,
}

// batchGetPlan is a plan of the caller's own: a batch read split by region
// (Shard), retried per region (Retry), whose parts are merged into one
// key-to-value map (Merge).
func batchGetPlan(env *pipeline.Env) pipeline.Plan[*kvrpcpb.RawBatchGetRequest, map[string]string] {
	split := pipeline.ByKeys((*kvrpcpb.RawBatchGetRequest).GetKeys, func(k []byte) []byte { return k },
		func(r *kvrpcpb.RawBatchGetRequest, keys [][]byte) *kvrpcpb.RawBatchGetRequest {
			return &kvrpcpb.RawBatchGetRequest{Context: r.Context, Keys: keys}
		}, pipeline.Limit[[]byte]{})
	parts := pipeline.Shard(env, split, pipeline.Retry(env, rawBatchGet))
	return pipeline.Merge(parts, func(_ context.Context, _ *kvrpcpb.RawBatchGetRequest, parts []pipeline.Part[*kvrpcpb.RawBatchGetRequest, *kvrpcpb.RawBatchGetResponse]) (map[string]string, error) {
		out := map[string]string{}
		for _, p := range parts {
			for _, kv := range p.Resp.GetPairs() {
				out[string(kv.Key)] = string(kv.Value)
			}
		}
		return out, nil
	})
}

// Example tests a plan without a cluster: a layout of two regions on two
// stores, a region split and a leader moved behind the client's back, and
// a TiKV scripted to answer StaleCommand once. The plan rides out both, and the recorder
// shows how: attempts as region/store#attempt, R marking a retry.
func Example() {
	c := pipelinetest.NewCluster(pipelinetest.WithStores(2), pipelinetest.WithSplits("m"))
	for _, k := range []string{"a", "g", "x"} {
		c.KV().Put(k, "v"+k)
	}
	loc, tikv, rec := pipelinetest.NewLocator(c), pipelinetest.NewSender(c), pipelinetest.NewRecorder()
	env := &pipeline.Env{Locator: loc, Sender: transport.Chain(tikv, rec.Middleware()), Concurrency: 1}
	plan := batchGetPlan(env)
	req := &kvrpcpb.RawBatchGetRequest{Keys: [][]byte{[]byte("a"), []byte("g"), []byte("x")}}

	// Region 1 [, m) splits at "f": the client still routes "a" and "g"
	// to region 1 at version 1. Region 2's leader moves to store 2, and
	// its first answer is scripted: StaleCommand.
	if _, err := plan(context.Background(), req); err != nil { // warm the cache
		log.Fatal(err)
	}
	c.Split("f", 0)
	c.MoveLeader("x", 2)
	tikv.Script(pipelinetest.ForRegion(2), pipelinetest.RegionError(&errorpb.Error{StaleCommand: &errorpb.StaleCommand{}}))
	rec.Reset()
	loc.ClearLoads()

	got, err := plan(context.Background(), req)
	if err != nil {
		log.Fatal(err)
	}
	var pairs []string
	for k, v := range got {
		pairs = append(pairs, k+"="+v)
	}
	slices.Sort(pairs)
	fmt.Println(strings.Join(pairs, " "))
	for _, a := range rec.Attempts() {
		fmt.Printf("%v: %s\n", a, outcome(a))
	}
	fmt.Println("cache misses:", len(loc.Loads()), "script left:", tikv.Pending())
	// Output:
	// a=va g=vg x=vx
	// 1/1#0: EpochNotMatch
	// 1/1#1R: ok
	// 3/1#1R: ok
	// 2/1#0: StaleCommand
	// 2/1#1R: NotLeader (store 2 leads)
	// 2/2#2R: ok
	// cache misses: 0 script left: 0
}

// outcome names an attempt's region error, or "ok".
func outcome(a pipelinetest.Attempt) string {
	if a.Err != nil {
		return a.Err.Error()
	}
	if e := a.Resp.Msg.(interface{ GetRegionError() *errorpb.Error }).GetRegionError(); e != nil {
		switch {
		case e.EpochNotMatch != nil:
			return "EpochNotMatch"
		case e.StaleCommand != nil:
			return "StaleCommand"
		case e.NotLeader != nil:
			return fmt.Sprintf("NotLeader (store %d leads)", e.NotLeader.GetLeader().GetStoreId())
		}
		return e.String()
	}
	return "ok"
}
