package mocktikv

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// dialStore returns a TiKV client for one store of a served cluster.
func dialStore(t *testing.T, c *Cluster, storeID uint64) tikvpb.TikvClient {
	t.Helper()
	conn := must(grpc.NewClient(c.StoreAddr(storeID), grpc.WithTransportCredentials(insecure.NewCredentials())))(t)
	t.Cleanup(func() { conn.Close() })
	return tikvpb.NewTikvClient(conn)
}

// leaderCtx is the Context a well-behaved client builds for key: the
// region's id and epoch, addressed to its leader.
func leaderCtx(c *Cluster, key string) *kvrpcpb.Context {
	r, leader := c.RegionByKey([]byte(key))
	return &kvrpcpb.Context{RegionId: r.Id, RegionEpoch: r.RegionEpoch, Peer: leader}
}

// peerCtx addresses the region containing key on storeID.
func peerCtx(c *Cluster, key string, storeID uint64) *kvrpcpb.Context {
	r, _ := c.RegionByKey([]byte(key))
	return &kvrpcpb.Context{RegionId: r.Id, RegionEpoch: r.RegionEpoch, Peer: peerOnStore(r, storeID)}
}

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func rawGetRPC(t *testing.T, cli tikvpb.TikvClient, rctx *kvrpcpb.Context, key string) *kvrpcpb.RawGetResponse {
	t.Helper()
	return must(cli.RawGet(timeout(t), &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte(key)}))(t)
}

func wantRegionError(t *testing.T, got, want *errorpb.Error) {
	t.Helper()
	if got == nil {
		t.Fatalf("no region error, want %v", want)
	}
	if got.Message == "" {
		t.Errorf("region error %v has no message", got)
	}
	got = cloneErr(got)
	got.Message = ""
	eqProto(t, got, want, "region error")
}

func cloneErr(e *errorpb.Error) *errorpb.Error {
	cp := *e
	return &cp
}

func TestStoreNotMatch(t *testing.T) {
	c := Start(t, WithStores(2))
	cli := dialStore(t, c, 1)
	// Addressed to store 2's peer but delivered to store 1.
	resp := rawGetRPC(t, cli, peerCtx(c, "a", 2), "a")
	wantRegionError(t, resp.RegionError, &errorpb.Error{StoreNotMatch: &errorpb.StoreNotMatch{RequestStoreId: 2, ActualStoreId: 1}})
	eq(t, resp.Error, "", "error")

	// No peer at all: store id 0 does not match either.
	r, _ := c.RegionByKey(nil)
	resp = rawGetRPC(t, cli, &kvrpcpb.Context{RegionId: r.Id, RegionEpoch: r.RegionEpoch}, "a")
	wantRegionError(t, resp.RegionError, &errorpb.Error{StoreNotMatch: &errorpb.StoreNotMatch{RequestStoreId: 0, ActualStoreId: 1}})
}

func TestRegionNotFound(t *testing.T) {
	c := Start(t)
	cli := dialStore(t, c, 1)
	rctx := leaderCtx(c, "a")
	rctx.RegionId = 999
	resp := rawGetRPC(t, cli, rctx, "a")
	wantRegionError(t, resp.RegionError, &errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{RegionId: 999}})

	// Writes look the region up before checking the store.
	rctx.Peer = &metapb.Peer{Id: 1, StoreId: 7}
	put := must(cli.RawPut(timeout(t), &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte("a"), Value: []byte("v")}))(t)
	wantRegionError(t, put.RegionError, &errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{RegionId: 999}})
}

func TestMismatchPeerID(t *testing.T) {
	c := Start(t)
	cli := dialStore(t, c, 1)
	rctx := leaderCtx(c, "a")
	want := rctx.Peer.Id
	rctx.Peer = &metapb.Peer{Id: want + 100, StoreId: 1}
	resp := rawGetRPC(t, cli, rctx, "a")
	wantRegionError(t, resp.RegionError, &errorpb.Error{MismatchPeerId: &errorpb.MismatchPeerId{RequestPeerId: want + 100, StorePeerId: want}})
}

func TestNotLeader(t *testing.T) {
	c := Start(t, WithStores(2))
	r, leader := c.RegionByKey(nil)
	follower := uint64(1)
	if leader.StoreId == 1 {
		follower = 2
	}
	cli := dialStore(t, c, follower)
	resp := rawGetRPC(t, cli, peerCtx(c, "a", follower), "a")
	wantRegionError(t, resp.RegionError, &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: r.Id, Leader: leader}})

	// Replica reads are served by followers; writes never are.
	rctx := peerCtx(c, "a", follower)
	rctx.ReplicaRead = true
	resp = rawGetRPC(t, cli, rctx, "a")
	if resp.RegionError != nil || !resp.NotFound {
		t.Fatalf("replica read on a follower: %v", resp)
	}
	put := must(cli.RawPut(timeout(t), &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte("a"), Value: []byte("v")}))(t)
	wantRegionError(t, put.RegionError, &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: r.Id, Leader: leader}})

	// After a transfer the follower serves and the old leader redirects.
	noErr(t, c.TransferLeader(r.Id, follower))
	resp = rawGetRPC(t, cli, peerCtx(c, "a", follower), "a")
	if resp.RegionError != nil {
		t.Fatalf("new leader: %v", resp.RegionError)
	}
	_, newLeader := c.RegionByKey(nil)
	resp = rawGetRPC(t, dialStore(t, c, leader.StoreId), peerCtx(c, "a", leader.StoreId), "a")
	wantRegionError(t, resp.RegionError, &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: r.Id, Leader: newLeader}})

	if err := c.TransferLeader(r.Id, 99); err == nil {
		t.Fatal("transfer to a store without a peer: want an error")
	}
}

func TestEpochNotMatch(t *testing.T) {
	c := Start(t, WithSplitKeys([]byte("m")))
	cli := dialStore(t, c, 1)
	stale := leaderCtx(c, "c") // region [, m) before the splits

	// Split [, m) at f, then [f, m) at i: the original region keeps [i, m)
	// and its version goes from 1 to 3.
	leftID := must(c.Split([]byte("f")))(t)
	midID := must(c.Split([]byte("i")))(t)
	regions := c.Regions()
	eq(t, len(regions), 4, "regions")
	eq(t, regions[0].Id, leftID, "[, f)")
	eq(t, regions[1].Id, midID, "[f, i)")
	eq(t, regions[2].Id, stale.RegionId, "[i, m) keeps the id")
	eq(t, regions[2].RegionEpoch.Version, uint64(3), "version after two splits")

	// The stale request names the original region: TiKV answers with it and
	// the siblings to its left, one per missing version, which here are all
	// the pieces of the old range [, m).
	resp := rawGetRPC(t, cli, stale, "c")
	wantRegionError(t, resp.RegionError, &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{
		CurrentRegions: []*metapb.Region{regions[2], regions[1], regions[0]},
	}})
	// A request one version behind gets the region and one sibling.
	oneBehind := leaderCtx(c, "j")
	oneBehind.RegionEpoch = &metapb.RegionEpoch{ConfVer: 1, Version: 2}
	resp = rawGetRPC(t, cli, oneBehind, "j")
	wantRegionError(t, resp.RegionError, &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{
		CurrentRegions: []*metapb.Region{regions[2], regions[1]},
	}})

	// A request with a newer version fails too, with the region alone.
	newer := leaderCtx(c, "j")
	newer.RegionEpoch = &metapb.RegionEpoch{ConfVer: newer.RegionEpoch.ConfVer, Version: 9}
	resp = rawGetRPC(t, cli, newer, "j")
	wantRegionError(t, resp.RegionError, &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{
		CurrentRegions: []*metapb.Region{regions[2]},
	}})

	// conf_ver is not compared for normal requests.
	confOnly := leaderCtx(c, "j")
	confOnly.RegionEpoch = &metapb.RegionEpoch{ConfVer: 42, Version: confOnly.RegionEpoch.Version}
	if resp := rawGetRPC(t, cli, confOnly, "j"); resp.RegionError != nil {
		t.Fatalf("conf_ver mismatch: %v", resp.RegionError)
	}
}

func TestKeyNotInRegion(t *testing.T) {
	c := Start(t, WithSplitKeys([]byte("m")))
	cli := dialStore(t, c, 1)
	r, _ := c.RegionByKey(nil)
	rctx := leaderCtx(c, "a")
	want := &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{Key: []byte("x"), RegionId: r.Id, StartKey: r.StartKey, EndKey: r.EndKey}}

	put := must(cli.RawPut(timeout(t), &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte("x"), Value: []byte("v")}))(t)
	wantRegionError(t, put.RegionError, want)

	bput := must(cli.RawBatchPut(timeout(t), &kvrpcpb.RawBatchPutRequest{Context: rctx, Pairs: []*kvrpcpb.KvPair{
		{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("x"), Value: []byte("2")},
	}}))(t)
	wantRegionError(t, bput.RegionError, want)
	// Nothing of a rejected batch is written.
	eq(t, rawGetRPC(t, cli, rctx, "a").NotFound, true, "a after a rejected batch")

	scan := must(cli.RawScan(timeout(t), &kvrpcpb.RawScanRequest{Context: rctx, StartKey: []byte("x"), Limit: 10}))(t)
	wantRegionError(t, scan.RegionError, want)

	// The range may end at the region's end, not beyond it.
	dr := must(cli.RawDeleteRange(timeout(t), &kvrpcpb.RawDeleteRangeRequest{Context: rctx, StartKey: []byte("a"), EndKey: []byte("x")}))(t)
	wantRegionError(t, dr.RegionError, want)
	dr = must(cli.RawDeleteRange(timeout(t), &kvrpcpb.RawDeleteRangeRequest{Context: rctx, StartKey: []byte("a"), EndKey: []byte("m")}))(t)
	if dr.RegionError != nil || dr.Error != "" {
		t.Fatalf("delete range up to the region end: %v", dr)
	}

	// A point read outside the region is not a region error in TiKV: the
	// snapshot refuses it and the failure comes back as a plain error.
	get := rawGetRPC(t, cli, rctx, "x")
	if get.RegionError != nil || get.Error == "" {
		t.Fatalf("out-of-region RawGet: got %v, want a string error", get)
	}
}

func TestClusterIDMismatch(t *testing.T) {
	c := Start(t)
	cli := dialStore(t, c, 1)
	rctx := leaderCtx(c, "a")
	rctx.ClusterId = c.ClusterID() + 1
	_, err := cli.RawGet(timeout(t), &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("a")})
	eq(t, status.Code(err), codes.InvalidArgument, "code")
	rctx.ClusterId = c.ClusterID()
	if resp := rawGetRPC(t, cli, rctx, "a"); resp.RegionError != nil {
		t.Fatalf("matching cluster id: %v", resp.RegionError)
	}
}

// TestUnimplementedCommand: a command without a handler answers
// UNIMPLEMENTED; KvGC is one in TiKV too (GC runs autonomously).
func TestUnimplementedCommand(t *testing.T) {
	c := Start(t)
	cli := dialStore(t, c, 1)
	_, err := cli.KvGC(timeout(t), &kvrpcpb.GCRequest{Context: leaderCtx(c, "a"), SafePoint: 1})
	eq(t, status.Code(err), codes.Unimplemented, "code")
}

// respRegionError returns a response's region_error.
func respRegionError(t testing.TB, resp transport.Message) *errorpb.Error {
	t.Helper()
	f := messageField(resp, "RegionError")
	if !f.IsValid() {
		t.Fatalf("%T has no region error", resp)
	}
	return f.Interface().(*errorpb.Error)
}

// followerStore returns a store holding a follower of the region containing
// key.
func followerStore(c *Cluster, key string) uint64 {
	r, leader := c.RegionByKey([]byte(key))
	for _, p := range r.Peers {
		if p.StoreId != leader.GetStoreId() {
			return p.StoreId
		}
	}
	return 0
}

// bigPut is a RawPut whose encoded size is exactly size bytes.
func bigPut(rctx *kvrpcpb.Context, key string, size int) *kvrpcpb.RawPutRequest {
	req := &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte(key)}
	n := size - req.Size()
	for {
		req.Value = make([]byte, n)
		switch d := req.Size() - size; {
		case d == 0:
			return req
		default:
			n -= d
		}
	}
}

// TestRegionErrorsOverEveryTransport produces each region error the mock
// answers with, over unary gRPC, BatchCommands and the in-process Sender:
// the three must agree exactly.
func TestRegionErrorsOverEveryTransport(t *testing.T) {
	type reqFor func(t *testing.T, c *Cluster) (storeID uint64, cmd transport.Cmd, req transport.Message, want *errorpb.Error)
	rawGet := func(rctx *kvrpcpb.Context, key string) transport.Message {
		return &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte(key)}
	}
	cases := []struct {
		name string
		req  reqFor
	}{
		{"StoreNotMatch", func(t *testing.T, c *Cluster) (uint64, transport.Cmd, transport.Message, *errorpb.Error) {
			return 1, transport.CmdRawGet, rawGet(peerCtx(c, "a", 2), "a"),
				&errorpb.Error{StoreNotMatch: &errorpb.StoreNotMatch{RequestStoreId: 2, ActualStoreId: 1}}
		}},
		{"RegionNotFound", func(t *testing.T, c *Cluster) (uint64, transport.Cmd, transport.Message, *errorpb.Error) {
			rctx := leaderCtx(c, "a")
			rctx.RegionId = 999
			return rctx.Peer.StoreId, transport.CmdRawGet, rawGet(rctx, "a"),
				&errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{RegionId: 999}}
		}},
		{"MismatchPeerId", func(t *testing.T, c *Cluster) (uint64, transport.Cmd, transport.Message, *errorpb.Error) {
			rctx := leaderCtx(c, "a")
			real := rctx.Peer.Id
			rctx.Peer = &metapb.Peer{Id: real + 50, StoreId: rctx.Peer.StoreId}
			return rctx.Peer.StoreId, transport.CmdRawGet, rawGet(rctx, "a"),
				&errorpb.Error{MismatchPeerId: &errorpb.MismatchPeerId{RequestPeerId: real + 50, StorePeerId: real}}
		}},
		{"NotLeader with leader", func(t *testing.T, c *Cluster) (uint64, transport.Cmd, transport.Message, *errorpb.Error) {
			r, leader := c.RegionByKey([]byte("a"))
			f := followerStore(c, "a")
			return f, transport.CmdRawGet, rawGet(peerCtx(c, "a", f), "a"),
				&errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: r.Id, Leader: leader}}
		}},
		{"NotLeader without leader", func(t *testing.T, c *Cluster) (uint64, transport.Cmd, transport.Message, *errorpb.Error) {
			r, _ := c.RegionByKey([]byte("a"))
			noErr(t, c.RemoveLeader(r.Id))
			return 1, transport.CmdRawPut, &kvrpcpb.RawPutRequest{Context: peerCtx(c, "a", 1), Key: []byte("a")},
				&errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: r.Id}}
		}},
		{"EpochNotMatch", func(t *testing.T, c *Cluster) (uint64, transport.Cmd, transport.Message, *errorpb.Error) {
			stale := leaderCtx(c, "z")
			must(c.Split([]byte("t")))(t)
			right, _ := c.RegionByKey([]byte("z"))
			left, _ := c.RegionByKey([]byte("m"))
			return stale.Peer.StoreId, transport.CmdRawGet, rawGet(stale, "z"),
				&errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: []*metapb.Region{right, left}}}
		}},
		{"KeyNotInRegion", func(t *testing.T, c *Cluster) (uint64, transport.Cmd, transport.Message, *errorpb.Error) {
			rctx := leaderCtx(c, "a")
			r, _ := c.RegionByKey([]byte("a"))
			return rctx.Peer.StoreId, transport.CmdRawPut, &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte("x")},
				&errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{Key: []byte("x"), RegionId: r.Id, StartKey: r.StartKey, EndKey: r.EndKey}}
		}},
		{"DataIsNotReady", func(t *testing.T, c *Cluster) (uint64, transport.Cmd, transport.Message, *errorpb.Error) {
			r, _ := c.RegionByKey([]byte("a"))
			f := followerStore(c, "a")
			noErr(t, c.SetSafeTS(r.Id, 100))
			rctx := peerCtx(c, "a", f)
			rctx.StaleRead = true
			return f, transport.CmdGet, &kvrpcpb.GetRequest{Context: rctx, Key: []byte("a"), Version: 101},
				&errorpb.Error{DataIsNotReady: &errorpb.DataIsNotReady{RegionId: r.Id, PeerId: rctx.Peer.Id, SafeTs: 100}}
		}},
		{"RaftEntryTooLarge", func(t *testing.T, c *Cluster) (uint64, transport.Cmd, transport.Message, *errorpb.Error) {
			rctx := leaderCtx(c, "a")
			return rctx.Peer.StoreId, transport.CmdRawPut, bigPut(rctx, "a", raftEntryMaxSize+1),
				&errorpb.Error{RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{RegionId: rctx.RegionId, EntrySize: raftEntryMaxSize + 1}}
		}},
		{"ServerIsBusy via fault", func(t *testing.T, c *Cluster) (uint64, transport.Cmd, transport.Message, *errorpb.Error) {
			busy := &errorpb.Error{Message: "busy", ServerIsBusy: &errorpb.ServerIsBusy{Reason: "scheduler is busy", BackoffMs: 5}}
			c.Inject(Fault{Cmd: transport.CmdRawGet, Steps: []Step{Times(1, RegionError(busy))}})
			rctx := leaderCtx(c, "a")
			return rctx.Peer.StoreId, transport.CmdRawGet, rawGet(rctx, "a"),
				&errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{Reason: "scheduler is busy", BackoffMs: 5}}
		}},
	}
	for _, tc := range cases {
		for _, v := range allVias {
			t.Run(tc.name+"/"+string(v), func(t *testing.T) {
				c := Start(t, WithStores(2), WithSplitKeys([]byte("m")))
				store, cmd, req, want := tc.req(t, c)
				resp, err := callVia(timeout(t), t, c, v, store, cmd, req)
				skipWithoutMethod(t, v, cmd, err)
				noErr(t, err)
				wantRegionError(t, respRegionError(t, resp), want)
			})
		}
	}
}

// TestReplicaReadOnLearner: learners serve replica and stale reads like
// followers, and redirect everything else to the leader.
func TestReplicaReadOnLearner(t *testing.T) {
	c := Start(t)
	r, leader := c.RegionByKey(nil)
	learner := must(c.AddStore())(t)
	noErr(t, c.AddLearner(r.Id, learner))
	r, _ = c.RegionByKey(nil)
	eq(t, peerOnStore(r, learner).Role, metapb.PeerRole_Learner, "role")

	cases := []struct {
		name          string
		replica, stal bool
		write         bool
		wantNotLeader bool
	}{
		{"leader read", false, false, false, true},
		{"replica read", true, false, false, false},
		{"stale read", false, true, false, false},
		{"write with replica_read", true, false, true, true},
	}
	for _, tc := range cases {
		for _, v := range allVias {
			t.Run(tc.name+"/"+string(v), func(t *testing.T) {
				rctx := peerCtx(c, "a", learner)
				rctx.ReplicaRead, rctx.StaleRead = tc.replica, tc.stal
				var resp transport.Message
				var err error
				if tc.write {
					resp, err = rawPutVia(timeout(t), t, c, v, rctx, "a", "v")
				} else {
					resp, err = callVia(timeout(t), t, c, v, learner, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("a")})
				}
				noErr(t, err)
				if tc.wantNotLeader {
					wantRegionError(t, respRegionError(t, resp), &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: r.Id, Leader: leader}})
				} else if e := respRegionError(t, resp); e != nil {
					t.Fatalf("served by the learner: got %v", e)
				}
			})
		}
	}
}

// TestStaleReadSafeTS checks the stale-read rule peer by peer (the
// envelope check, independently of the read command's engine): a follower
// or learner serves a stale read at ts only if its safe ts >= ts; a leader
// always serves (it falls back to a leader read); replica reads and reads
// without a timestamp are not judged by safe ts.
func TestStaleReadSafeTS(t *testing.T) {
	c := NewCluster(WithStores(2))
	r, leader := c.RegionByKey(nil)
	follower := followerStore(c, "a")
	learner := must(c.AddStore())(t)
	noErr(t, c.AddLearner(r.Id, learner))
	r, _ = c.RegionByKey(nil)
	noErr(t, c.SetSafeTS(r.Id, 100))

	notReady := func(store uint64) *errorpb.Error {
		return &errorpb.Error{DataIsNotReady: &errorpb.DataIsNotReady{RegionId: r.Id, PeerId: peerOnStore(r, store).Id, SafeTs: 100}}
	}
	get := func(store uint64, stale, replica bool, ts uint64) transport.Message {
		rctx := peerCtx(c, "a", store)
		rctx.StaleRead, rctx.ReplicaRead = stale, replica
		return &kvrpcpb.GetRequest{Context: rctx, Key: []byte("a"), Version: ts}
	}
	cases := []struct {
		name  string
		store uint64
		cmd   transport.Cmd
		req   transport.Message
		want  *errorpb.Error
	}{
		{"follower at safe ts", follower, transport.CmdGet, get(follower, true, false, 100), nil},
		{"follower above safe ts", follower, transport.CmdGet, get(follower, true, false, 101), notReady(follower)},
		{"learner above safe ts", learner, transport.CmdGet, get(learner, true, false, 101), notReady(learner)},
		{"leader above safe ts", leader.StoreId, transport.CmdGet, get(leader.StoreId, true, false, 101), nil},
		{"replica read above safe ts", follower, transport.CmdGet, get(follower, false, true, 101), nil},
		{"batch get above safe ts", follower, transport.CmdBatchGet,
			&kvrpcpb.BatchGetRequest{Context: get(follower, true, false, 0).(*kvrpcpb.GetRequest).Context, Version: 101}, notReady(follower)},
		{"scan above safe ts", follower, transport.CmdScan,
			&kvrpcpb.ScanRequest{Context: get(follower, true, false, 0).(*kvrpcpb.GetRequest).Context, Version: 101}, notReady(follower)},
		{"raw read has no ts", follower, transport.CmdRawGet,
			&kvrpcpb.RawGetRequest{Context: get(follower, true, false, 0).(*kvrpcpb.GetRequest).Context, Key: []byte("a")}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := c.checkEnvelope(tc.store, tc.cmd, tc.req)
			if tc.want == nil {
				if got != nil {
					t.Fatalf("got %v, want the read served", got)
				}
				return
			}
			wantRegionError(t, got, tc.want)
		})
	}

	// By default the safe ts follows the TSO: a stale read at any
	// timestamp PD has issued is served.
	c.ResetSafeTS(r.Id)
	ts := c.currentTS()
	if got := c.checkEnvelope(follower, transport.CmdGet, get(follower, true, false, ts)); got != nil {
		t.Fatalf("stale read at a fresh TSO with the default safe ts: %v", got)
	}
	if err := c.SetSafeTS(999, 1); err == nil {
		t.Fatal("SetSafeTS of an unknown region: want an error")
	}
}

// TestRaftEntryTooLarge: a write whose entry exceeds raft-entry-max-size is
// refused after the header checks and before anything is applied; reads are
// not limited.
func TestRaftEntryTooLarge(t *testing.T) {
	c := NewCluster()
	rctx := leaderCtx(c, "a")
	send := func(req transport.Message, cmd transport.Cmd) transport.Message {
		return must(callVia(timeout(t), t, c, viaSender, 1, cmd, req))(t)
	}

	if e := respRegionError(t, send(bigPut(rctx, "a", raftEntryMaxSize), transport.CmdRawPut)); e != nil {
		t.Fatalf("entry of exactly the limit: %v", e)
	}
	eq(t, len(rawGetVia(t, c, viaSender, 1, rctx, "a").Value), len(bigPut(rctx, "a", raftEntryMaxSize).Value), "value at the limit")

	over := bigPut(rctx, "b", raftEntryMaxSize+10)
	wantRegionError(t, respRegionError(t, send(over, transport.CmdRawPut)), &errorpb.Error{
		RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{RegionId: rctx.RegionId, EntrySize: raftEntryMaxSize + 10},
	})
	eq(t, rawGetVia(t, c, viaSender, 1, rctx, "b").NotFound, true, "rejected write applied")

	// The header checks come first.
	stale := *rctx
	stale.RegionEpoch = &metapb.RegionEpoch{Version: 42}
	over.Context = &stale
	if e := respRegionError(t, send(over, transport.CmdRawPut)); e.GetEpochNotMatch() == nil {
		t.Fatalf("stale epoch and too large: got %v, want EpochNotMatch", e)
	}

	// A large read request is not a raft entry.
	keys := make([][]byte, 0, 1<<10)
	for i := range cap(keys) {
		keys = append(keys, make([]byte, 9<<10+i))
	}
	if e := respRegionError(t, send(&kvrpcpb.RawBatchGetRequest{Context: rctx, Keys: keys}, transport.CmdRawBatchGet)); e != nil {
		t.Fatalf("large read: %v", e)
	}
}
