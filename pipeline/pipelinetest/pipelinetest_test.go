package pipelinetest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/pipeline/pipelinetest"
	"github.com/tikvgo/tikv/transport"
)

var rawGet = pipeline.Method[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse]{
	Cmd: transport.CmdRawGet, Idempotent: true, Read: true,
}

// kit is the usual wiring of the kit under an Env.
type kit struct {
	c    *pipelinetest.Cluster
	loc  *pipelinetest.Locator
	tikv *pipelinetest.Sender
	rec  *pipelinetest.Recorder
	env  *pipeline.Env
}

func newKit(opts ...pipelinetest.Option) *kit {
	c := pipelinetest.NewCluster(opts...)
	k := &kit{c: c, loc: pipelinetest.NewLocator(c), tikv: pipelinetest.NewSender(c), rec: pipelinetest.NewRecorder()}
	k.env = &pipeline.Env{Locator: k.loc, Sender: transport.Chain(k.tikv, k.rec.Middleware())}
	return k
}

// attempt builds the request the pipeline would send for key to r's
// leader.
func attempt(r *pdclient.Region, cmd transport.Cmd, msg transport.Message, attemptNo int) *transport.Request {
	leader := r.Leader()
	rctx := &kvrpcpb.Context{RegionId: r.ID(), RegionEpoch: r.Epoch(), Peer: leader}
	return &transport.Request{
		Cmd: cmd, Msg: cmd.WithContext(msg, rctx), Attempt: attemptNo,
		Target: transport.Target{StoreID: leader.GetStoreId(), Addr: pipelinetest.StoreAddr(leader.GetStoreId()), RegionID: r.ID(), Peer: leader},
	}
}

func regionErrorOf(t *testing.T, resp *transport.Response) *errorpb.Error {
	t.Helper()
	return resp.Msg.(interface{ GetRegionError() *errorpb.Error }).GetRegionError()
}

// TestStaleRoutingAfterSplit: a region cached before a split is rejected
// with EpochNotMatch naming both halves; the Locator takes them, routes
// the next attempt right without a load, and the attempt succeeds.
func TestStaleRoutingAfterSplit(t *testing.T) {
	ctx := context.Background()
	k := newKit(pipelinetest.WithStores(2), pipelinetest.WithSplits("m"))
	k.c.KV().Put("g", "v")
	stale, err := k.loc.Locate(ctx, []byte("g"))
	if err != nil || stale.ID() != 1 || len(k.loc.Loads()) != 1 {
		t.Fatalf("Locate = %v, %v after %v loads; want region 1 loaded once", stale, err, k.loc.Loads())
	}
	if id := k.c.Split("f", 0); id != 3 {
		t.Fatalf("split made region %d, want 3 (the next free id)", id)
	}
	get := &kvrpcpb.RawGetRequest{Key: []byte("g")}
	resp, err := k.tikv.Send(ctx, attempt(stale, transport.CmdRawGet, get, 0))
	if err != nil {
		t.Fatal(err)
	}
	enm := regionErrorOf(t, resp).GetEpochNotMatch()
	var current []string
	for _, m := range enm.GetCurrentRegions() {
		current = append(current, fmt.Sprintf("%d[%s,%s)v%d", m.Id, m.StartKey, m.EndKey, m.RegionEpoch.Version))
	}
	if want := []string{"1[,f)v2", "3[f,m)v2"}; !slices.Equal(current, want) {
		t.Fatalf("EpochNotMatch current regions = %v, want %v", current, want)
	}
	if k.loc.OnEpochNotMatch(stale, 1, enm.GetCurrentRegions()) {
		t.Fatal("OnEpochNotMatch said retry as is, for a request older than TiKV")
	}
	k.loc.ClearLoads()
	fresh, err := k.loc.Locate(ctx, []byte("g"))
	if err != nil || fresh.ID() != 3 || fresh.Leader().GetStoreId() != 1 || len(k.loc.Loads()) != 0 {
		t.Fatalf("re-locate = %v, %v after loads %v; want region 3 led from store 1, from the cache", fresh, err, k.loc.Loads())
	}
	resp, err = k.tikv.Send(ctx, attempt(fresh, transport.CmdRawGet, get, 1))
	if err != nil || regionErrorOf(t, resp) != nil || string(resp.Msg.(*kvrpcpb.RawGetResponse).Value) != "v" {
		t.Fatalf("after re-locating: %v, %v", resp, err)
	}
	if inv := k.loc.Invalidated(); len(inv) != 1 || inv[0] != stale.Ver() {
		t.Fatalf("invalidated %v, want the stale version %v", inv, stale.Ver())
	}
}

// TestStaleRoutingThroughAPlan: the same through pipeline.Retry and Shard:
// the stale attempt meets EpochNotMatch, the piece is re-split from the
// current regions TiKV named, and no load is needed.
func TestStaleRoutingThroughAPlan(t *testing.T) {
	k := newKit(pipelinetest.WithSplits("m"))
	k.c.KV().Put("g", "v")
	plan := pipeline.Single(pipeline.Shard(k.env, pipeline.ByKey((*kvrpcpb.RawGetRequest).GetKey), pipeline.Retry(k.env, rawGet)))
	get := &kvrpcpb.RawGetRequest{Key: []byte("g")}
	if _, err := plan(context.Background(), get); err != nil {
		t.Fatal(err)
	}
	k.c.Split("f", 9)
	k.rec.Reset()
	k.loc.ClearLoads()
	resp, err := plan(context.Background(), get)
	if err != nil || string(resp.Value) != "v" {
		t.Fatalf("get after the split = %v, %v", resp, err)
	}
	var got []string
	for _, a := range k.rec.Attempts() {
		got = append(got, a.String())
	}
	if want := []string{"1/1#0", "9/1#1R"}; !slices.Equal(got, want) {
		t.Fatalf("attempts %v, want %v", got, want)
	}
	if regionErrorOf(t, k.rec.Attempts()[0].Resp).GetEpochNotMatch() == nil {
		t.Fatalf("first attempt answered %v, want EpochNotMatch", k.rec.Attempts()[0].Resp.Msg)
	}
	if n := len(k.loc.Loads()); n != 0 {
		t.Fatalf("%d loads, want none: EpochNotMatch carried the new layout", n)
	}
}

// TestLeaderMoveAnswersNotLeader: after the truth's leader moves, the old
// leader answers NotLeader naming the new one; a follower serves a replica
// read; a write with replica_read set is still refused by a follower.
func TestLeaderMoveAnswersNotLeader(t *testing.T) {
	ctx := context.Background()
	k := newKit(pipelinetest.WithStores(3))
	r, _ := k.loc.Locate(ctx, []byte("k"))
	k.c.MoveLeader("k", 2)
	resp, err := k.tikv.Send(ctx, attempt(r, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("k")}, 0))
	if nl := regionErrorOf(t, resp).GetNotLeader(); err != nil || nl.GetLeader().GetStoreId() != 2 {
		t.Fatalf("stale leader answered %v, %v; want NotLeader naming store 2", resp, err)
	}
	follower := r.WithLeader(r.PeerOnStore(3))
	read := attempt(follower, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Context: &kvrpcpb.Context{ReplicaRead: true}, Key: []byte("k")}, 0)
	read.Msg.(*kvrpcpb.RawGetRequest).Context.ReplicaRead = true
	if resp, err := k.tikv.Send(ctx, read); err != nil || regionErrorOf(t, resp) != nil {
		t.Fatalf("replica read on a follower = %v, %v", resp, err)
	}
	write := attempt(follower, transport.CmdRawPut, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v")}, 0)
	write.Msg.(*kvrpcpb.RawPutRequest).Context.ReplicaRead = true
	if resp, err := k.tikv.Send(ctx, write); err != nil || regionErrorOf(t, resp).GetNotLeader() == nil {
		t.Fatalf("write on a follower = %v, %v; want NotLeader", resp, err)
	}
	if _, ok := k.c.KV().Get("k"); ok {
		t.Fatal("a refused write was applied")
	}
}

// TestDownStoreIsNotSentAndUnreachable: sends to a down store fail with a
// not-sent error; the failure report finds the store unreachable (and
// marks it slow); once the store is up again it is reachable. Through a
// plan, a read whose leader's store is down ends up on the new leader.
func TestDownStoreIsNotSentAndUnreachable(t *testing.T) {
	ctx := context.Background()
	k := newKit(pipelinetest.WithStores(3))
	k.c.KV().Put("k", "v")
	r, _ := k.loc.Locate(ctx, []byte("k"))
	k.c.SetStoreDown(1, true)
	_, err := k.tikv.Send(ctx, attempt(r, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("k")}, 0))
	if !errors.Is(err, transport.ErrNotSent) {
		t.Fatalf("send to a down store: %v, want an error wrapping transport.ErrNotSent", err)
	}
	if l := k.loc.ReportSendFailure(ctx, 1, err); l != pdclient.Unreachable {
		t.Fatalf("ReportSendFailure = %v, want unreachable", l)
	}
	h := k.loc.StoreHealth(1)
	if h.Liveness != pdclient.Unreachable || !h.Slow() || !errors.Is(h.LastFailure, transport.ErrNotSent) {
		t.Fatalf("health = %+v, want unreachable, slow, with the send failure", h)
	}
	if got := k.loc.StoreFailures(); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("store failures %v, want [1]", got)
	}

	k.c.MoveLeader("k", 2)
	plan := pipeline.Single(pipeline.Shard(k.env, pipeline.ByKey((*kvrpcpb.RawGetRequest).GetKey), pipeline.Retry(k.env, rawGet)))
	resp, err := plan(ctx, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	if err != nil || string(resp.Value) != "v" {
		t.Fatalf("get with store 1 down = %v, %v", resp, err)
	}
	if st := k.rec.Stores(); st[len(st)-1] != 2 || slices.Contains(st, 1) {
		t.Fatalf("attempts went to stores %v, want the unreachable store skipped and store 2 last", st)
	}

	k.c.SetStoreDown(1, false)
	if l := k.loc.StoreHealth(1).Liveness; l != pdclient.Reachable {
		t.Fatalf("liveness after the store came back = %v", l)
	}
}

// TestScriptedAnswersInOrder: a script's answers are used once each, in
// order, for the attempts its Match accepts; others pass through to the
// cluster; once the script is played out the cluster serves everything.
func TestScriptedAnswersInOrder(t *testing.T) {
	ctx := context.Background()
	k := newKit(pipelinetest.WithSplits("m"))
	k.c.KV().Put("a", "va")
	r1, _ := k.loc.Locate(ctx, []byte("a"))
	r2, _ := k.loc.Locate(ctx, []byte("x"))
	wire := errors.New("connection reset")
	k.tikv.Script(pipelinetest.And(pipelinetest.ForRegion(1), pipelinetest.ForCmd(transport.CmdRawGet)),
		pipelinetest.RegionError(&errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{}}),
		pipelinetest.Fail(wire),
		pipelinetest.NotSent("test"),
		pipelinetest.Reply(&kvrpcpb.RawGetResponse{Value: []byte("scripted")}),
	)
	k.tikv.Script(pipelinetest.ForAttempt(7), pipelinetest.Serve())
	if n := k.tikv.Pending(); n != 5 {
		t.Fatalf("pending = %d, want 5", n)
	}
	send := func(r *pdclient.Region, key string, n int) (*transport.Response, error) {
		return k.rec.Wrap(k.tikv).Send(ctx, attempt(r, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte(key)}, n))
	}
	// Region 2 is not scripted: the cluster answers.
	if resp, err := send(r2, "x", 0); err != nil || !resp.Msg.(*kvrpcpb.RawGetResponse).NotFound {
		t.Fatalf("unscripted region: %v, %v", resp, err)
	}
	if resp, _ := send(r1, "a", 0); regionErrorOf(t, resp).GetServerIsBusy() == nil {
		t.Fatalf("answer 1 = %v, want ServerIsBusy", resp.Msg)
	}
	if _, err := send(r1, "a", 1); !errors.Is(err, wire) || errors.Is(err, transport.ErrNotSent) {
		t.Fatalf("answer 2 = %v, want the wire error", err)
	}
	if _, err := send(r1, "a", 2); !errors.Is(err, transport.ErrNotSent) {
		t.Fatalf("answer 3 = %v, want not sent", err)
	}
	if resp, _ := send(r1, "a", 3); string(resp.Msg.(*kvrpcpb.RawGetResponse).Value) != "scripted" {
		t.Fatalf("answer 4 = %v", resp.Msg)
	}
	if resp, err := send(r1, "a", 7); err != nil || string(resp.Msg.(*kvrpcpb.RawGetResponse).Value) != "va" {
		t.Fatalf("Serve answer = %v, %v; want the cluster's value", resp, err)
	}
	if n := k.tikv.Pending(); n != 0 {
		t.Fatalf("pending = %d after the script played out", n)
	}
	if resp, err := send(r1, "a", 4); err != nil || string(resp.Msg.(*kvrpcpb.RawGetResponse).Value) != "va" {
		t.Fatalf("after the script: %v, %v; want the cluster's value", resp, err)
	}
	if n := k.rec.Len(); n != 7 {
		t.Fatalf("recorded %d attempts, want 7", n)
	}
}

// TestAlwaysAnswersEveryMatch: an Always rule answers every match, and a
// rule added first wins.
func TestAlwaysAnswersEveryMatch(t *testing.T) {
	ctx := context.Background()
	k := newKit(pipelinetest.WithStores(2))
	r, _ := k.loc.Locate(ctx, []byte("k"))
	k.tikv.Script(nil, pipelinetest.NotSent("first"))
	k.tikv.Always(pipelinetest.ForStore(1), pipelinetest.RegionError(&errorpb.Error{DiskFull: &errorpb.DiskFull{}}))
	req := attempt(r, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("k")}, 0)
	if _, err := k.tikv.Send(ctx, req); !errors.Is(err, transport.ErrNotSent) {
		t.Fatalf("first send: %v, want the scripted not-sent error", err)
	}
	for range 3 {
		if resp, err := k.tikv.Send(ctx, req); err != nil || regionErrorOf(t, resp).GetDiskFull() == nil {
			t.Fatalf("send = %v, %v; want DiskFull every time", resp, err)
		}
	}
	k.tikv.ClearScript()
	if resp, err := k.tikv.Send(ctx, req); err != nil || regionErrorOf(t, resp) != nil {
		t.Fatalf("after ClearScript: %v, %v", resp, err)
	}
}

// TestRecorderRecordsConcurrentAttempts: attempts sent from many
// goroutines at once are all recorded with their outcomes (run with
// -race).
func TestRecorderRecordsConcurrentAttempts(t *testing.T) {
	ctx := context.Background()
	k := newKit(pipelinetest.WithStores(2), pipelinetest.WithSplits("m"))
	r1, _ := k.loc.Locate(ctx, []byte("a"))
	r2, _ := k.loc.Locate(ctx, []byte("x"))
	sender := k.rec.Wrap(k.tikv)
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, key := r1, fmt.Sprintf("a%02d", i)
			if i%2 == 1 {
				r, key = r2, fmt.Sprintf("x%02d", i)
			}
			if _, err := sender.Send(ctx, attempt(r, transport.CmdRawPut, &kvrpcpb.RawPutRequest{Key: []byte(key), Value: []byte("v")}, i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	attempts := k.rec.Attempts()
	seen := map[int]bool{}
	for _, a := range attempts {
		if !a.Done || a.Err != nil || a.Resp == nil {
			t.Fatalf("attempt %v recorded without its outcome", a)
		}
		seen[a.Req.Attempt] = true
	}
	if len(attempts) != n || len(seen) != n || len(k.c.KV().Keys()) != n {
		t.Fatalf("recorded %d attempts (%d distinct), %d keys written; want %d", len(attempts), len(seen), len(k.c.KV().Keys()), n)
	}
	if got := len(k.rec.Filter(pipelinetest.ForRegion(2))); got != n/2 {
		t.Fatalf("%d attempts to region 2, want %d", got, n/2)
	}
	k.rec.Reset()
	if k.rec.Len() != 0 {
		t.Fatal("Reset kept attempts")
	}
}

// TestLocatorLoadsAndFeedback: misses are loaded once and recorded; a
// leader hint updates the cached region without a load; a hint naming a
// store the region has no peer on drops it; LoadRange loads only what is
// missing.
func TestLocatorLoadsAndFeedback(t *testing.T) {
	ctx := context.Background()
	k := newKit(pipelinetest.WithStores(3), pipelinetest.WithReplicas(2), pipelinetest.WithSplits("d", "m"))
	r, _ := k.loc.Locate(ctx, []byte("e"))
	if _, err := k.loc.Locate(ctx, []byte("f")); err != nil {
		t.Fatal(err)
	}
	if loads := k.loc.Loads(); len(loads) != 1 || loads[0].Op != "Locate" || string(loads[0].Key) != "e" {
		t.Fatalf("loads = %+v, want one Locate of e", loads)
	}
	if p := r.PeerOnStore(3); p != nil {
		t.Fatalf("2 replicas on stores 1 and 2, found a peer on 3: %v", p)
	}
	nr := k.loc.UpdateLeader(r, &metapb.Peer{StoreId: 2})
	if cached, _ := k.loc.Locate(ctx, []byte("e")); nr == nil || cached.Leader().GetStoreId() != 2 || len(k.loc.Loads()) != 1 {
		t.Fatalf("after a leader hint: %v, cached %v, loads %v", nr, cached, k.loc.Loads())
	}
	if got := k.loc.UpdateLeader(nr, &metapb.Peer{StoreId: 3}); got != nil {
		t.Fatalf("hint outside the region returned %v, want nil", got)
	}
	k.loc.ClearLoads()
	regions, err := k.loc.LoadRange(ctx, nil, nil, 0)
	if err != nil || len(regions) != 3 {
		t.Fatalf("LoadRange = %v, %v", regions, err)
	}
	if loads := k.loc.Loads(); len(loads) != 1 || loads[0].Op != "LoadRange" || len(loads[0].Key) != 0 {
		t.Fatalf("loads = %+v, want one LoadRange from the start", loads)
	}
	if _, err := k.loc.LocateByID(ctx, 42); !errors.Is(err, pdclient.ErrRegionNotFound) {
		t.Fatalf("LocateByID(42) = %v, want ErrRegionNotFound", err)
	}
	if _, err := k.loc.Store(ctx, 4); !errors.Is(err, pdclient.ErrStoreTombstone) {
		t.Fatalf("Store(4) = %v, want ErrStoreTombstone", err)
	}
}

// TestPDServesTheRegionCache: the real region cache over the kit's PD
// loads once, and after a split learns the new layout from the pipeline's
// feedback without asking PD again.
func TestPDServesTheRegionCache(t *testing.T) {
	c := pipelinetest.NewCluster(pipelinetest.WithSplits("m"))
	c.KV().Put("g", "v")
	pd := pipelinetest.NewPD(c)
	cache := pdclient.NewRegionCache(pd, pdclient.WithProber(c.Prober()))
	defer cache.Close()
	env := &pipeline.Env{Locator: cache, Sender: pipelinetest.NewSender(c)}
	plan := pipeline.Single(pipeline.Shard(env, pipeline.ByKey((*kvrpcpb.RawGetRequest).GetKey), pipeline.Retry(env, rawGet)))
	get := &kvrpcpb.RawGetRequest{Key: []byte("g")}
	if _, err := plan(context.Background(), get); err != nil {
		t.Fatal(err)
	}
	if n := pd.RegionLookups(); n != 1 {
		t.Fatalf("%d region lookups, want 1", n)
	}
	c.Split("f", 0)
	pd.ResetCounts()
	if resp, err := plan(context.Background(), get); err != nil || string(resp.Value) != "v" {
		t.Fatalf("get after split = %v, %v", resp, err)
	}
	if n := pd.RegionLookups(); n != 0 {
		t.Fatalf("%d region lookups after EpochNotMatch named the new regions, want 0", n)
	}
}

// TestRawKVServesCommands: the default handler's writes, deletes and
// scans, and its answer for a key outside the region.
func TestRawKVServesCommands(t *testing.T) {
	ctx := context.Background()
	k := newKit(pipelinetest.WithSplits("m"))
	r1, _ := k.loc.Locate(ctx, []byte("a"))
	send := func(cmd transport.Cmd, msg transport.Message) transport.Message {
		t.Helper()
		resp, err := k.tikv.Send(ctx, attempt(r1, cmd, msg, 0))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Msg
	}
	send(transport.CmdRawBatchPut, &kvrpcpb.RawBatchPutRequest{Pairs: []*kvrpcpb.KvPair{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte("2")}, {Key: []byte("c"), Value: []byte("3")}}})
	send(transport.CmdRawDelete, &kvrpcpb.RawDeleteRequest{Key: []byte("b")})
	scan := send(transport.CmdRawScan, &kvrpcpb.RawScanRequest{StartKey: []byte("a"), Limit: 10}).(*kvrpcpb.RawScanResponse)
	if len(scan.Kvs) != 2 || string(scan.Kvs[0].Key) != "a" || string(scan.Kvs[1].Key) != "c" {
		t.Fatalf("scan = %v", scan.Kvs)
	}
	rev := send(transport.CmdRawScan, &kvrpcpb.RawScanRequest{StartKey: []byte("m"), Reverse: true, Limit: 1}).(*kvrpcpb.RawScanResponse)
	if len(rev.Kvs) != 1 || string(rev.Kvs[0].Key) != "c" {
		t.Fatalf("reverse scan = %v", rev.Kvs)
	}
	put := send(transport.CmdRawPut, &kvrpcpb.RawPutRequest{Key: []byte("x"), Value: []byte("v")}).(*kvrpcpb.RawPutResponse)
	if put.GetRegionError().GetKeyNotInRegion() == nil {
		t.Fatalf("put outside the region = %v, want KeyNotInRegion", put)
	}
	get := send(transport.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("x")}).(*kvrpcpb.RawGetResponse)
	if get.Error == "" || get.RegionError != nil {
		t.Fatalf("get outside the region = %v, want an error in the body, as TiKV answers", get)
	}
	send(transport.CmdRawDeleteRange, &kvrpcpb.RawDeleteRangeRequest{StartKey: []byte("a"), EndKey: []byte("b")})
	if got := k.c.KV().Keys(); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("keys = %v, want [c]", got)
	}
}

// kindLog is an observe.Observer that keeps the kinds of events it sees.
type kindLog struct {
	mu    sync.Mutex
	kinds []string
}

func (l *kindLog) Start(ctx context.Context, _ observe.Call) context.Context { return ctx }
func (l *kindLog) End(context.Context, observe.Call, error)                  {}
func (l *kindLog) Event(_ context.Context, e observe.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.kinds = append(l.kinds, e.Kind.String())
}

// TestLocatorMissesReachTheObserver: a plan's cache miss over the Locator
// is reported to the call's observer as a miss then a load, as the region
// cache reports it; a hit reports nothing.
func TestLocatorMissesReachTheObserver(t *testing.T) {
	k := newKit()
	log := &kindLog{}
	k.env.Observer = log
	plan := pipeline.Single(pipeline.Shard(k.env, pipeline.ByKey((*kvrpcpb.RawGetRequest).GetKey), pipeline.Retry(k.env, rawGet)))
	for range 2 {
		if _, err := plan(context.Background(), &kvrpcpb.RawGetRequest{Key: []byte("k")}); err != nil {
			t.Fatal(err)
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	var cache []string
	for _, kind := range log.kinds {
		if kind == observe.CacheMiss.String() || kind == observe.CacheLoad.String() {
			cache = append(cache, kind)
		}
	}
	if want := []string{observe.CacheMiss.String(), observe.CacheLoad.String()}; !slices.Equal(cache, want) {
		t.Fatalf("cache events %v (all: %v), want %v for the first call only", cache, log.kinds, want)
	}
}

// TestEpochNotMatchNamesEveryMissedSplit: a request two splits behind is
// told of the current region and of the regions split off it since, as
// TiKV collects siblings: one per missed version, in key order.
func TestEpochNotMatchNamesEveryMissedSplit(t *testing.T) {
	ctx := context.Background()
	k := newKit(pipelinetest.WithSplits("m"))
	stale, _ := k.loc.Locate(ctx, []byte("a"))
	k.c.Split("d", 0) // 1 [,d) v2, 3 [d,m) v2
	k.c.Split("b", 0) // 1 [,b) v3, 4 [b,d) v3
	resp, err := k.tikv.Send(ctx, attempt(stale, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("a")}, 0))
	if err != nil {
		t.Fatal(err)
	}
	var current []string
	for _, m := range regionErrorOf(t, resp).GetEpochNotMatch().GetCurrentRegions() {
		current = append(current, fmt.Sprintf("%d[%s,%s)v%d", m.Id, m.StartKey, m.EndKey, m.RegionEpoch.Version))
	}
	if want := []string{"1[,b)v3", "4[b,d)v3", "3[d,m)v2"}; !slices.Equal(current, want) {
		t.Fatalf("current regions = %v, want %v", current, want)
	}
	k.loc.OnEpochNotMatch(stale, 1, regionErrorOf(t, resp).GetEpochNotMatch().GetCurrentRegions())
	k.loc.ClearLoads()
	regions, err := k.loc.LoadRange(ctx, nil, []byte("m"), 0)
	if err != nil || len(regions) != 3 || len(k.loc.Loads()) != 0 {
		t.Fatalf("LoadRange = %v, %v, loads %v; want the three regions from the cache", regions, err, k.loc.Loads())
	}
}
