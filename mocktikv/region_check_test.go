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

func TestUnimplementedCommand(t *testing.T) {
	c := Start(t)
	cli := dialStore(t, c, 1)
	_, err := cli.KvGet(timeout(t), &kvrpcpb.GetRequest{Context: leaderCtx(c, "a"), Key: []byte("a")})
	eq(t, status.Code(err), codes.Unimplemented, "code")
}
