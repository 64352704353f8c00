package mocktikv

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/opt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tikvgo/tikv/internal/codec"
	"github.com/tikvgo/tikv/transport"
)

// rawGetAt sends a RawGet for key to region r's leader through the
// in-process Sender, naming r's epoch as the client saw it, and returns the
// region error (nil when the request was accepted).
func rawGetAt(t *testing.T, c *Cluster, r *metapb.Region, leader *metapb.Peer, key []byte) *errorpb.Error {
	t.Helper()
	req := &kvrpcpb.RawGetRequest{
		Context: &kvrpcpb.Context{RegionId: r.Id, RegionEpoch: r.RegionEpoch, Peer: leader},
		Key:     key,
	}
	resp := must(c.Sender().Send(context.Background(), &transport.Request{
		Cmd: transport.CmdRawGet, Msg: req, Target: transport.Target{StoreID: leader.StoreId},
	}))(t)
	return resp.Msg.(*kvrpcpb.RawGetResponse).GetRegionError()
}

func epochOf(r *metapb.Region) [2]uint64 {
	return [2]uint64{r.RegionEpoch.ConfVer, r.RegionEpoch.Version}
}

func TestSplitEpochs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		split func(c *Cluster) (uint64, error)
		at    []byte // the stored boundary
	}{
		{"raw", func(c *Cluster) (uint64, error) { return c.Split([]byte("m")) }, []byte("m")},
		{"txn", func(c *Cluster) (uint64, error) { return c.SplitTxn([]byte("m")) }, codec.EncodeBytes(nil, []byte("m"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCluster(WithStores(2))
			old, oldLeader := c.RegionByKey(nil)
			newID := must(tc.split(c))(t)
			left, _ := c.RegionByID(newID)
			right, rightLeader := c.RegionByKey(tc.at)
			eq(t, right.Id, old.Id, "the original region keeps the right part")
			eqBytes(t, left.EndKey, tc.at, "left end")
			eqBytes(t, right.StartKey, tc.at, "right start")
			eq(t, epochOf(left), [2]uint64{2, 2}, "left epoch")
			eq(t, epochOf(right), [2]uint64{2, 2}, "right epoch")
			eq(t, rightLeader.StoreId, oldLeader.StoreId, "leader store")
			for i, p := range left.Peers {
				eq(t, p.StoreId, old.Peers[i].StoreId, "left peer %d store", i)
				if p.Id == old.Peers[i].Id {
					t.Fatalf("left peer %d reuses id %d", i, p.Id)
				}
			}
			// A request with the pre-split epoch is stale.
			if e := rawGetAt(t, c, old, oldLeader, tc.at); e.GetEpochNotMatch() == nil {
				t.Fatalf("old epoch: got %v, want EpochNotMatch", e)
			}
			if e := rawGetAt(t, c, right, rightLeader, tc.at); e != nil {
				t.Fatalf("current epoch: got %v", e)
			}
		})
	}
}

func TestWithTxnSplitKeys(t *testing.T) {
	c := NewCluster(WithTxnSplitKeys([]byte("b"), []byte("a")), WithSplitKeys([]byte("z")))
	regions := c.Regions()
	eq(t, len(regions), 4, "regions")
	eqBytes(t, regions[1].StartKey, codec.EncodeBytes(nil, []byte("a")), "first txn boundary")
	eqBytes(t, regions[2].StartKey, codec.EncodeBytes(nil, []byte("b")), "second txn boundary")
	eqBytes(t, regions[3].StartKey, []byte("z"), "raw boundary")
}

func TestMerge(t *testing.T) {
	c := NewCluster(WithStores(2), WithSplitKeys([]byte("b"), []byte("d")))
	c.Split([]byte("c")) // region [b, c) is at version 3, [c, d) at 3, others at 1
	before := c.Regions()
	eq(t, len(before), 4, "regions")
	a, bc, cd := before[0], before[1], before[2]

	// Source to the right of the target: the target grows rightwards.
	noErr(t, c.Merge(cd.Id, bc.Id))
	got, leader := c.RegionByID(bc.Id)
	eqBytes(t, got.StartKey, []byte("b"), "merged start")
	eqBytes(t, got.EndKey, []byte("d"), "merged end")
	eq(t, got.RegionEpoch.Version, max(cd.RegionEpoch.Version+1, bc.RegionEpoch.Version)+1, "merged version")
	eq(t, got.RegionEpoch.ConfVer, bc.RegionEpoch.ConfVer, "merged conf_ver")
	if r, _ := c.RegionByID(cd.Id); r != nil {
		t.Fatalf("source region still exists: %v", r)
	}
	eq(t, len(c.Regions()), 3, "regions after merge")

	// The source's leader now answers RegionNotFound; the target's old
	// epoch is stale.
	if e := rawGetAt(t, c, cd, peerOnStore(cd, leader.StoreId), []byte("c")); e.GetRegionNotFound() == nil {
		t.Fatalf("merged-away region: got %v, want RegionNotFound", e)
	}
	if e := rawGetAt(t, c, bc, leader, []byte("c")); e.GetEpochNotMatch() == nil {
		t.Fatalf("target's old epoch: got %v, want EpochNotMatch", e)
	}
	if e := rawGetAt(t, c, got, leader, []byte("c")); e != nil {
		t.Fatalf("merged region: got %v", e)
	}

	// Source to the left of the target: the target grows leftwards.
	noErr(t, c.Merge(a.Id, bc.Id))
	got, _ = c.RegionByID(bc.Id)
	eqBytes(t, got.StartKey, nil, "merged start")
	eqBytes(t, got.EndKey, []byte("d"), "merged end")

	if err := c.Merge(bc.Id, bc.Id); err == nil {
		t.Fatal("merging a region into itself: want an error")
	}
	if err := c.Merge(bc.Id, 12345); err == nil {
		t.Fatal("merging into an unknown region: want an error")
	}
}

func TestMergeNotAdjacent(t *testing.T) {
	c := NewCluster(WithSplitKeys([]byte("b"), []byte("d")))
	rs := c.Regions()
	if err := c.Merge(rs[0].Id, rs[2].Id); err == nil {
		t.Fatal("merging regions that are not neighbours: want an error")
	}
}

func TestMembershipChanges(t *testing.T) {
	c := NewCluster(WithStores(2))
	s3 := must(c.AddStore())(t)
	r, leader := c.RegionByKey(nil)
	eq(t, len(r.Peers), 2, "peers")
	conf := r.RegionEpoch.ConfVer
	steps := []struct {
		name      string
		do        func() error
		wantErr   bool
		wantRole  metapb.PeerRole // of the peer on s3 after the step
		wantPeers int
	}{
		{"add learner", func() error { return c.AddLearner(r.Id, s3) }, false, metapb.PeerRole_Learner, 3},
		{"learner cannot lead", func() error { return c.TransferLeader(r.Id, s3) }, true, metapb.PeerRole_Learner, 3},
		{"learner twice", func() error { return c.AddLearner(r.Id, s3) }, true, metapb.PeerRole_Learner, 3},
		{"promote", func() error { return c.AddPeer(r.Id, s3) }, false, metapb.PeerRole_Voter, 3},
		{"voter twice", func() error { return c.AddPeer(r.Id, s3) }, true, metapb.PeerRole_Voter, 3},
		{"leader cannot be removed", func() error { return c.RemovePeer(r.Id, leader.StoreId) }, true, metapb.PeerRole_Voter, 3},
		{"unknown store", func() error { return c.AddPeer(r.Id, 999) }, true, metapb.PeerRole_Voter, 3},
		{"remove", func() error { return c.RemovePeer(r.Id, s3) }, false, -1, 2},
	}
	var learnerID uint64
	for _, st := range steps {
		err := st.do()
		if (err != nil) != st.wantErr {
			t.Fatalf("%s: err %v, want error %v", st.name, err, st.wantErr)
		}
		if !st.wantErr {
			conf++
		}
		got, _ := c.RegionByID(r.Id)
		eq(t, got.RegionEpoch.ConfVer, conf, "%s: conf_ver", st.name)
		eq(t, got.RegionEpoch.Version, r.RegionEpoch.Version, "%s: version", st.name)
		eq(t, len(got.Peers), st.wantPeers, "%s: peers", st.name)
		p := peerOnStore(got, s3)
		if st.wantRole < 0 {
			if p != nil {
				t.Fatalf("%s: peer on store %d remains", st.name, s3)
			}
			continue
		}
		eq(t, p.Role, st.wantRole, "%s: role", st.name)
		if learnerID == 0 {
			learnerID = p.Id
		}
		eq(t, p.Id, learnerID, "%s: a promoted learner keeps its id", st.name)
	}
	// A conf change does not touch the version, so requests stay valid.
	if e := rawGetAt(t, c, r, leader, []byte("k")); e != nil {
		t.Fatalf("after conf changes: got %v", e)
	}
}

func TestAddStoreServes(t *testing.T) {
	c := Start(t)
	id := must(c.AddStore())(t)
	addr := c.StoreAddr(id)
	r, _ := c.RegionByKey(nil)
	noErr(t, c.AddPeer(r.Id, id))
	r, _ = c.RegionByKey(nil)
	noErr(t, c.TransferLeader(r.Id, id))

	conn := must(grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials())))(t)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp := must(tikvpb.NewTikvClient(conn).RawGet(ctx, &kvrpcpb.RawGetRequest{
		Context: &kvrpcpb.Context{RegionId: r.Id, RegionEpoch: r.RegionEpoch, Peer: peerOnStore(r, id)},
		Key:     []byte("k"),
	}))(t)
	if resp.RegionError != nil {
		t.Fatalf("new store: %v", resp.RegionError)
	}
}

func TestStoreStates(t *testing.T) {
	c := NewCluster(WithStores(3))
	ids := c.StoreIDs()
	noErr(t, c.OfflineStore(ids[1]))
	noErr(t, c.TombstoneStore(ids[2]))
	noErr(t, c.SetStoreLabels(ids[0], map[string]string{"zone": "z1", "host": "h1"}))
	noErr(t, c.SetStoreAddress(ids[0], "10.0.0.1:20160"))
	if err := c.SetStoreLabels(999, nil); !errors.Is(err, errStoreNotFound) {
		t.Fatalf("unknown store: %v", err)
	}

	pd := c.PD()
	ctx := context.Background()
	all := must(pd.GetAllStores(ctx))(t)
	eq(t, len(all), 3, "stores")
	eq(t, all[0].State, metapb.StoreState_Up, "up store")
	eq(t, all[1].State, metapb.StoreState_Offline, "offline store")
	eq(t, all[1].NodeState, metapb.NodeState_Removing, "offline node state")
	eq(t, all[2].State, metapb.StoreState_Tombstone, "tombstone")
	eq(t, all[2].NodeState, metapb.NodeState_Removed, "tombstone node state")
	eq(t, len(all[0].Labels), 2, "labels")
	eq(t, all[0].Labels[0].Key, "host", "labels are sorted")
	eq(t, all[0].Address, "10.0.0.1:20160", "address")
	eq(t, c.StoreAddr(ids[0]), "10.0.0.1:20160", "StoreAddr")
	eq(t, len(must(pd.GetAllStores(ctx, opt.WithExcludeTombstone()))(t)), 2, "stores without tombstones")
	if s := must(pd.GetStore(ctx, ids[2]))(t); s != nil {
		t.Fatalf("tombstone: got %v, want no store (as the PD client reports a Removed node)", s)
	}
	// A tombstone is stopped.
	_, err := c.Sender().Send(ctx, &transport.Request{Cmd: transport.CmdRawGet, Msg: &kvrpcpb.RawGetRequest{}, Target: transport.Target{StoreID: ids[2]}})
	if !errors.Is(err, transport.ErrNotSent) {
		t.Fatalf("request to a tombstone: %v", err)
	}
}

func TestPeerHealthAndBuckets(t *testing.T) {
	c := NewCluster(WithStores(3))
	r, leader := c.RegionByKey(nil)
	other := r.Peers[0]
	if other.StoreId == leader.StoreId {
		other = r.Peers[1]
	}
	noErr(t, c.SetPeerDown(r.Id, other.StoreId, true))
	noErr(t, c.SetPeerPending(r.Id, other.StoreId, true))
	if err := c.SetPeerDown(r.Id, leader.StoreId, true); err == nil {
		t.Fatal("down leader: want an error")
	}
	noErr(t, c.SetBuckets(r.Id, [][]byte{[]byte("g"), []byte("p")}, 7))
	if err := c.SetBuckets(r.Id, [][]byte{[]byte("p"), []byte("g")}, 8); err == nil {
		t.Fatal("descending bucket keys: want an error")
	}

	ctx := context.Background()
	got := must(c.PD().GetRegion(ctx, []byte("a")))(t)
	eq(t, len(got.DownPeers), 1, "down peers")
	eq(t, got.DownPeers[0].Id, other.Id, "down peer")
	eq(t, len(got.PendingPeers), 1, "pending peers")
	if got.Buckets != nil {
		t.Fatalf("buckets without need_buckets: %v", got.Buckets)
	}
	got = must(c.PD().GetRegion(ctx, []byte("a"), opt.WithBuckets()))(t)
	eq(t, got.Buckets.GetVersion(), uint64(7), "buckets version")
	eq(t, len(got.Buckets.Keys), 4, "bucket keys include the region bounds")
	eqBytes(t, got.Buckets.Keys[1], []byte("g"), "bucket key")
	eq(t, got.Meta.RegionEpoch.Version, r.RegionEpoch.Version, "buckets do not touch the epoch")

	// Leadership changes keep the health and buckets; a split drops the
	// buckets.
	noErr(t, c.TransferLeader(r.Id, other.StoreId))
	noErr(t, c.SetPeerDown(r.Id, other.StoreId, false))
	got = must(c.PD().GetRegion(ctx, []byte("a"), opt.WithBuckets()))(t)
	eq(t, len(got.DownPeers), 0, "down peers after recovery")
	eq(t, got.Buckets.GetVersion(), uint64(7), "buckets after a leader change")
	must(c.Split([]byte("k")))(t)
	if b := c.Buckets(r.Id); b != nil {
		t.Fatalf("buckets after a split: %v", b)
	}

	noErr(t, c.RemoveLeader(r.Id))
	got = must(c.PD().GetRegion(ctx, []byte("z")))(t)
	if got.Leader != nil {
		t.Fatalf("leaderless region: got leader %v", got.Leader)
	}
}

// splitRegionClient dials the store that leads key's region.
func splitRegionClient(t *testing.T, c *Cluster, storeID uint64) tikvpb.TikvClient {
	t.Helper()
	conn := must(grpc.NewClient(c.StoreAddr(storeID), grpc.WithTransportCredentials(insecure.NewCredentials())))(t)
	t.Cleanup(func() { conn.Close() })
	return tikvpb.NewTikvClient(conn)
}

func TestSplitRegionRPC(t *testing.T) {
	c := Start(t, WithStores(2))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, leader := c.RegionByKey(nil)
	cli := splitRegionClient(t, c, leader.StoreId)
	reqCtx := func(r *metapb.Region, p *metapb.Peer) *kvrpcpb.Context {
		return &kvrpcpb.Context{RegionId: r.Id, RegionEpoch: r.RegionEpoch, Peer: p}
	}

	// Txn keys are encoded and sorted; three keys make four regions.
	resp := must(cli.SplitRegion(ctx, &kvrpcpb.SplitRegionRequest{
		Context:   reqCtx(r, leader),
		SplitKeys: [][]byte{[]byte("m"), []byte("c"), []byte("t")},
	}))(t)
	if resp.RegionError != nil {
		t.Fatalf("split: %v", resp.RegionError)
	}
	eq(t, len(resp.Regions), 4, "regions")
	if resp.Left != nil || resp.Right != nil {
		t.Fatal("left/right are set only for a two-way split")
	}
	for i, want := range []string{"c", "m", "t"} {
		eqBytes(t, resp.Regions[i].EndKey, codec.EncodeBytes(nil, []byte(want)), "end of region "+want)
		eq(t, resp.Regions[i].RegionEpoch.Version, r.RegionEpoch.Version+3, "version +#keys")
	}
	eq(t, resp.Regions[3].Id, r.Id, "the original keeps the rightmost range")
	eqProto(t, resp.Regions[3], must(c.PD().GetRegion(ctx, codec.EncodeBytes(nil, []byte("z"))))(t).Meta, "PD sees the split")

	last, _ := c.RegionByID(r.Id)
	for _, tc := range []struct {
		name  string
		req   *kvrpcpb.SplitRegionRequest
		store uint64
		check func(*errorpb.Error) bool
	}{
		{"stale epoch", &kvrpcpb.SplitRegionRequest{Context: reqCtx(r, leader), SplitKeys: [][]byte{[]byte("x")}}, leader.StoreId,
			func(e *errorpb.Error) bool {
				return len(e.GetEpochNotMatch().GetCurrentRegions()) == 1 && e.GetEpochNotMatch().CurrentRegions[0].Id == r.Id
			}},
		{"no keys", &kvrpcpb.SplitRegionRequest{Context: reqCtx(last, leader)}, leader.StoreId,
			func(e *errorpb.Error) bool { return e.GetMessage() != "" && e.EpochNotMatch == nil }},
		{"key outside the region", &kvrpcpb.SplitRegionRequest{Context: reqCtx(last, leader), SplitKeys: [][]byte{[]byte("a")}}, leader.StoreId,
			func(e *errorpb.Error) bool { return e.GetKeyNotInRegion() != nil }},
		{"key at the region start", &kvrpcpb.SplitRegionRequest{Context: reqCtx(last, leader), SplitKeys: [][]byte{[]byte("t")}}, leader.StoreId,
			func(e *errorpb.Error) bool { return e.GetMessage() != "" && e.KeyNotInRegion == nil }},
		{"duplicate keys", &kvrpcpb.SplitRegionRequest{Context: reqCtx(last, leader), SplitKeys: [][]byte{[]byte("x"), []byte("x")}}, leader.StoreId,
			func(e *errorpb.Error) bool { return e.GetMessage() != "" }},
		{"unknown region", &kvrpcpb.SplitRegionRequest{Context: &kvrpcpb.Context{RegionId: 999}, SplitKeys: [][]byte{[]byte("x")}}, leader.StoreId,
			func(e *errorpb.Error) bool { return e.GetRegionNotFound() != nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := must(cli.SplitRegion(ctx, tc.req))(t)
			if resp.RegionError == nil || !tc.check(resp.RegionError) {
				t.Fatalf("got %v", resp.RegionError)
			}
			eq(t, len(c.Regions()), 4, "regions are unchanged")
		})
	}

	t.Run("follower", func(t *testing.T) {
		follower := last.Peers[0]
		if follower.StoreId == leader.StoreId {
			follower = last.Peers[1]
		}
		resp := must(splitRegionClient(t, c, follower.StoreId).SplitRegion(ctx, &kvrpcpb.SplitRegionRequest{
			Context: reqCtx(last, follower), SplitKeys: [][]byte{[]byte("x")},
		}))(t)
		if nl := resp.GetRegionError().GetNotLeader(); nl == nil || nl.Leader.GetStoreId() != leader.StoreId {
			t.Fatalf("got %v, want NotLeader naming store %d", resp.RegionError, leader.StoreId)
		}
	})

	t.Run("raw two-way", func(t *testing.T) {
		// Raw API v1 keys are taken as stored; the deprecated split_key wins.
		c := Start(t)
		r, leader := c.RegionByKey(nil)
		resp := must(splitRegionClient(t, c, leader.StoreId).SplitRegion(ctx, &kvrpcpb.SplitRegionRequest{
			Context: reqCtx(r, leader), SplitKey: []byte("k"), SplitKeys: [][]byte{[]byte("ignored")}, IsRawKv: true,
		}))(t)
		if resp.RegionError != nil {
			t.Fatalf("split: %v", resp.RegionError)
		}
		eq(t, len(resp.Regions), 2, "regions")
		eqBytes(t, resp.Left.EndKey, []byte("k"), "left end")
		eqBytes(t, resp.Right.StartKey, []byte("k"), "right start")
		eq(t, resp.Right.Id, r.Id, "right keeps the id")
		got := must(c.PD().BatchScanRegions(ctx, []router.KeyRange{{}}, 0))(t)
		eq(t, len(got), 2, "PD regions")
		if !bytes.Equal(got[1].Meta.StartKey, []byte("k")) {
			t.Fatalf("PD boundary %q", got[1].Meta.StartKey)
		}
	})
}
