package main

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"go.uber.org/goleak"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/pipeline/pipelinetest"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCustomPlanTour runs the example end to end on the embedded mocktikv,
// over gRPC, and checks what it reports.
func TestCustomPlanTour(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, ""); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"[customplan/h, customplan/z): customplan/h=hh customplan/i=ii customplan/j=jj customplan/k=kk\n",
		"[customplan/a, customplan/c): customplan/a=aa customplan/b=bb\n",
		"[customplan/e, customplan/f): customplan/e=ee\n",
		"store 1 (", "store 2 (", "store 3 (",
		"split at customplan/b and customplan/g: 4 regions where there were 2",
		"batch scan after the split: 2 pairs",
		"observed calls: 2 BatchScan, 1 StoreSafeTS, 1 SplitRegions",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// connectMock starts a mocktikv over gRPC with the given split keys and
// returns the raw environment of a cluster connected to it.
func connectMock(t *testing.T, opts ...mocktikv.Option) (*mocktikv.Cluster, *tikv.Cluster) {
	t.Helper()
	mock := mocktikv.Start(t, opts...)
	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	return mock, cluster
}

// TestBatchScanOverMockTiKV: with regions [, c) [c, f) [f, ), the range
// [b, h) limited to 4 pairs gets 4 from regions that answer 1, 3 and 2
// pairs, in key order; under a high limit it gets all; ranges come back in the
// caller's order; the caller's request is not modified.
func TestBatchScanOverMockTiKV(t *testing.T) {
	_, cluster := connectMock(t, mocktikv.WithSplitKeys([]byte("c"), []byte("f")))
	client := raw.NewClient(cluster)
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d"), []byte("e"), []byte("f"), []byte("g"), []byte("h"), []byte("i"), []byte("j")}
	if err := client.BatchPut(t.Context(), keys, keys); err != nil {
		t.Fatal(err)
	}
	req := &kvrpcpb.RawBatchScanRequest{Ranges: []*kvrpcpb.KeyRange{
		{StartKey: []byte("i"), EndKey: nil},
		{StartKey: []byte("b"), EndKey: []byte("h")},
	}, EachLimit: 4}
	got, err := batchScan(cluster.EnvFor(kv.ModeRaw))(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if s := keysOf(got); !slices.Equal(s, []string{"ij", "bcde"}) {
		t.Fatalf("batch scan = %v", s)
	}
	if string(req.Ranges[0].StartKey) != "i" || len(req.Ranges) != 2 {
		t.Fatalf("the caller's request was modified: %v", req)
	}
	req.EachLimit = 100
	got, err = batchScan(cluster.EnvFor(kv.ModeRaw))(t.Context(), req)
	if err != nil || keysOf(got)[1] != "bcdefg" {
		t.Fatalf("batch scan under a high limit = %v, %v", keysOf(got), err)
	}
}

// TestStoreSafeTSOverMockTiKV: every store answers; a stopped store's
// result is its error while the others still answer, and the cluster's
// safe ts then names it.
func TestStoreSafeTSOverMockTiKV(t *testing.T) {
	mock, cluster := connectMock(t, mocktikv.WithStores(3))
	plan := storeSafeTS(cluster.EnvFor(kv.ModeRaw))
	res, err := plan(t.Context(), &kvrpcpb.StoreSafeTSRequest{KeyRange: &kvrpcpb.KeyRange{}})
	if err != nil || len(res) != 3 {
		t.Fatalf("results %v, %v", res, err)
	}
	if ts, err := minSafeTS(res); err != nil || ts == 0 {
		t.Fatalf("cluster safe ts %d, %v", ts, err)
	}
	if err := mock.StopStore(2); err != nil {
		t.Fatal(err)
	}
	res, err = plan(t.Context(), &kvrpcpb.StoreSafeTSRequest{KeyRange: &kvrpcpb.KeyRange{}})
	if err != nil || len(res) != 3 {
		t.Fatalf("results %v, %v", res, err)
	}
	if res[0].Err != nil || res[1].Err == nil || res[2].Err != nil {
		t.Fatalf("per-store errors: %v / %v / %v", res[0].Err, res[1].Err, res[2].Err)
	}
	if _, err := minSafeTS(res); err == nil || !strings.Contains(err.Error(), "store 2") {
		t.Fatalf("cluster safe ts with a store down: %v", err)
	}
}

// TestSplitRegionsOverMockTiKV: splitting at keys in two regions leaves the
// cluster with two more regions, at those keys.
func TestSplitRegionsOverMockTiKV(t *testing.T) {
	mock, cluster := connectMock(t, mocktikv.WithSplitKeys([]byte("m")))
	n, err := splitRegions(cluster.EnvFor(kv.ModeRaw))(t.Context(), &kvrpcpb.SplitRegionRequest{
		SplitKeys: [][]byte{[]byte("x"), []byte("c")}, IsRawKv: true,
	})
	if err != nil || n != 4 {
		t.Fatalf("split = %d, %v", n, err)
	}
	var starts []string
	for _, r := range mock.Regions() {
		starts = append(starts, string(r.GetStartKey()))
	}
	slices.Sort(starts)
	if !slices.Equal(starts, []string{"", "c", "m", "x"}) {
		t.Fatalf("region starts %q", starts)
	}
}

// kit wires the test kit: a cluster, its locator, a sender that serves
// the example's commands, and an attempt recorder.
func kit(t *testing.T, opts ...pipelinetest.Option) (*pipelinetest.Cluster, *pipelinetest.Sender, *pipelinetest.Recorder, *pipeline.Env) {
	t.Helper()
	c := pipelinetest.NewCluster(opts...)
	tikvSender := pipelinetest.NewSender(c, pipelinetest.WithHandler(serveExample(c)))
	rec := pipelinetest.NewRecorder()
	env := &pipeline.Env{Mode: kv.ModeRaw, Locator: pipelinetest.NewLocator(c), Sender: transport.Chain(tikvSender, rec.Middleware())}
	return c, tikvSender, rec, env
}

// serveExample answers what the kit's RawKV does not: RawBatchScan (per
// range, within the region, each_limit pairs at most, as TiKV's
// raw_batch_scan does), GetStoreSafeTS and SplitRegion.
func serveExample(c *pipelinetest.Cluster) pipelinetest.Handler {
	return func(ctx context.Context, req *transport.Request, region *pdclient.Region) (*transport.Response, error) {
		switch m := req.Msg.(type) {
		case *kvrpcpb.RawBatchScanRequest:
			resp := &kvrpcpb.RawBatchScanResponse{}
			keys := c.KV().Keys()
			slices.Sort(keys)
			for _, r := range m.Ranges {
				n := 0
				for _, k := range keys {
					if !inRange([]byte(k), r) || !region.Contains([]byte(k)) || (m.EachLimit > 0 && n >= int(m.EachLimit)) {
						continue
					}
					v, _ := c.KV().Get(k)
					resp.Kvs = append(resp.Kvs, &kvrpcpb.KvPair{Key: []byte(k), Value: []byte(v)})
					n++
				}
			}
			return &transport.Response{Msg: resp}, nil
		case *kvrpcpb.StoreSafeTSRequest:
			return &transport.Response{Msg: &kvrpcpb.StoreSafeTSResponse{SafeTs: 100 + req.Target.StoreID}}, nil
		case *kvrpcpb.SplitRegionRequest:
			resp := &kvrpcpb.SplitRegionResponse{}
			for _, k := range m.SplitKeys {
				c.Split(string(k), 0)
			}
			for range len(m.SplitKeys) + 1 {
				resp.Regions = append(resp.Regions, &metapb.Region{})
			}
			return &transport.Response{Msg: resp}, nil
		}
		return c.KV().Serve(ctx, req, region)
	}
}

// TestBatchScanWithTheKit: a range spanning three regions, one of which
// splits behind the cache's back, is scanned in one call; each region
// piece answers up to EachLimit pairs and the merge cuts the range back
// to EachLimit, in key order. The stale piece was re-split and resent.
func TestBatchScanWithTheKit(t *testing.T) {
	c, _, rec, env := kit(t, pipelinetest.WithSplits("d", "m"))
	for _, k := range []string{"a", "b", "c", "e", "f", "g", "n", "o", "p"} {
		c.KV().Put(k, strings.ToUpper(k))
	}
	plan := batchScan(env)
	req := &kvrpcpb.RawBatchScanRequest{Ranges: []*kvrpcpb.KeyRange{{StartKey: []byte("b"), EndKey: []byte("o")}}}
	if _, err := plan(t.Context(), req); !errors.Is(err, kv.ErrInvalidArgument) || rec.Len() != 0 {
		t.Fatalf("EachLimit 0: %v after %d attempts; want ErrInvalidArgument before any", err, rec.Len())
	}
	req.EachLimit = 4
	got, err := plan(t.Context(), req)
	if err != nil || keysOf(got)[0] != "bcef" {
		t.Fatalf("batch scan = %v, %v", keysOf(got), err)
	}
	// Region [d, m) splits at "f": the cached routing is stale.
	c.Split("f", 0)
	rec.Reset()
	req.EachLimit = 10
	got, err = plan(t.Context(), req)
	if err != nil || keysOf(got)[0] != "bcefgn" {
		t.Fatalf("batch scan after a split = %v, %v", keysOf(got), err)
	}
	// Three pieces; the stale one is answered EpochNotMatch and re-split
	// into the two halves, each sent once more.
	if rec.Len() != 5 {
		t.Fatalf("%d attempts after the split, want 5:\n%v", rec.Len(), rec.Attempts())
	}
}

// TestStoreSafeTSWithTheKit: the stores are asked in id order; a down
// store is that store's failure, not the call's.
func TestStoreSafeTSWithTheKit(t *testing.T) {
	c, _, _, env := kit(t, pipelinetest.WithStores(3))
	c.SetStoreDown(3, true)
	res, err := storeSafeTS(env)(t.Context(), &kvrpcpb.StoreSafeTSRequest{})
	if err != nil || len(res) != 3 {
		t.Fatalf("results %v, %v", res, err)
	}
	if res[0].Resp.GetSafeTs() != 101 || res[1].Resp.GetSafeTs() != 102 || res[2].Err == nil {
		t.Fatalf("results: %+v", res)
	}
	var unreachable *kv.StoreUnreachableError
	if !errors.As(res[2].Err, &unreachable) || unreachable.StoreID != 3 {
		t.Fatalf("store 3: %v", res[2].Err)
	}
	c.SetStoreDown(3, false)
	res, _ = storeSafeTS(env)(t.Context(), &kvrpcpb.StoreSafeTSRequest{})
	if ts, err := minSafeTS(res); err != nil || ts != 101 {
		t.Fatalf("cluster safe ts %d, %v", ts, err)
	}
}

// TestSplitRegionsWithTheKit: each region's keys go to its leader; after
// the leader moved, the first attempt gets NotLeader and the split is
// sent to the new leader.
func TestSplitRegionsWithTheKit(t *testing.T) {
	c, _, rec, env := kit(t, pipelinetest.WithStores(2), pipelinetest.WithSplits("m"))
	if _, err := env.Locator.Locate(t.Context(), []byte("a")); err != nil { // cache the leader on store 1
		t.Fatal(err)
	}
	c.MoveLeader("a", 2)
	n, err := splitRegions(env)(t.Context(), &kvrpcpb.SplitRegionRequest{SplitKeys: [][]byte{[]byte("x"), []byte("c")}, IsRawKv: true})
	if err != nil || n != 4 {
		t.Fatalf("split = %d, %v", n, err)
	}
	var leftStores []uint64
	for _, a := range rec.Attempts() {
		if a.Req.Target.RegionID == 1 {
			leftStores = append(leftStores, a.Req.Target.StoreID)
		}
	}
	if !slices.Equal(leftStores, []uint64{1, 2}) || len(c.Regions()) != 4 {
		t.Fatalf("attempts to region 1 went to stores %v; %d regions", leftStores, len(c.Regions()))
	}
}

func keysOf(ranges [][]*kvrpcpb.KvPair) []string {
	out := make([]string, len(ranges))
	for i, pairs := range ranges {
		for _, p := range pairs {
			out[i] += string(p.GetKey())
		}
	}
	return out
}
