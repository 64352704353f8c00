package mocktikv

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	pd "github.com/tikv/pd/client"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/opt"
	"github.com/tikv/pd/client/pkg/caller"

	"github.com/tikvgo/tikv/pdclient"
)

// newPDClient connects the real PD client to c and closes it at the end of
// the test (before the cluster closes: cleanups run last-in first-out).
func newPDClient(t *testing.T, c *Cluster) pd.Client {
	t.Helper()
	// The context bounds the client's whole life, not just the dial.
	cli := must(pd.NewClientWithContext(context.Background(), caller.Component("test"), c.PDAddrs(), pd.SecurityOption{}))(t)
	t.Cleanup(cli.Close)
	return cli
}

func requireRegion(t *testing.T, got *router.Region, wantMeta *metapb.Region, wantLeader *metapb.Peer) {
	t.Helper()
	if got == nil {
		t.Fatalf("got no region, want %v", wantMeta)
	}
	eqProto(t, got.Meta, wantMeta, "region")
	eqProto(t, got.Leader, wantLeader, "leader")
}

func TestRealPDClient(t *testing.T) {
	c := Start(t, WithStores(2), WithSplitKeys([]byte("b"), []byte("d")))
	cli := newPDClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	checkPD(t, ctx, c, cli)
}

func TestLocalPD(t *testing.T) {
	c := NewCluster(WithStores(2), WithSplitKeys([]byte("b"), []byte("d")))
	checkPD(t, context.Background(), c, c.PD())
}

// checkPD runs the same assertions against the real PD client (over gRPC)
// and the in-process PD. c must have 2 stores and regions split at b and d.
func checkPD(t *testing.T, ctx context.Context, c *Cluster, cli pdclient.PD) {
	t.Run("GetTS", func(t *testing.T) {
		var last int64
		for i := range 500 {
			p, l, err := cli.GetTS(ctx)
			noErr(t, err)
			ts := p<<logicalBits | l
			if ts <= last {
				t.Fatalf("call %d: ts %d after %d", i, ts, last)
			}
			last = ts
		}
		if d := time.Now().UnixMilli() - last>>logicalBits; d < -5000 || d > 5000 {
			t.Fatalf("physical part %d is %d ms away from the wall clock", last>>logicalBits, d)
		}
	})

	regions := c.Regions()
	eq(t, len(regions), 3, "regions")
	leaderOf := func(key string) (*metapb.Region, *metapb.Peer) { return c.RegionByKey([]byte(key)) }

	t.Run("GetRegion", func(t *testing.T) {
		r := must(cli.GetRegion(ctx, []byte("c")))(t)
		m, l := leaderOf("c")
		requireRegion(t, r, m, l)
		eq(t, len(r.Meta.Peers), 2, "peers")
		r = must(cli.GetRegion(ctx, []byte("")))(t)
		m, l = leaderOf("")
		requireRegion(t, r, m, l)
	})
	t.Run("LeadersOnEveryStore", func(t *testing.T) {
		seen := map[uint64]bool{}
		for _, k := range []string{"a", "c", "e"} {
			r := must(cli.GetRegion(ctx, []byte(k)))(t)
			seen[r.Leader.StoreId] = true
		}
		eq(t, len(seen), 2, "stores leading a region")
	})
	t.Run("GetPrevRegion", func(t *testing.T) {
		r := must(cli.GetPrevRegion(ctx, []byte("c")))(t)
		m, l := leaderOf("a")
		requireRegion(t, r, m, l)
		r = must(cli.GetPrevRegion(ctx, []byte("a")))(t)
		if r != nil {
			t.Fatalf("region before the first: got %v", r.Meta)
		}
	})
	t.Run("GetRegionByID", func(t *testing.T) {
		r := must(cli.GetRegionByID(ctx, regions[2].Id))(t)
		m, l := leaderOf("z")
		requireRegion(t, r, m, l)
		r = must(cli.GetRegionByID(ctx, 12345))(t)
		if r != nil {
			t.Fatalf("unknown id: got %v", r.Meta)
		}
	})
	t.Run("BatchScanRegions", func(t *testing.T) {
		got := must(cli.BatchScanRegions(ctx, []router.KeyRange{
			{StartKey: []byte("a"), EndKey: []byte("c")},
			{StartKey: []byte("c"), EndKey: []byte("e")},
		}, 10))(t)
		eq(t, len(got), 3, "regions")
		for i, r := range got {
			eq(t, r.Meta.Id, regions[i].Id, "region %d", i)
			_, l := c.RegionByKey(r.Meta.StartKey)
			eqProto(t, r.Leader, l, "leader")
		}
		got = must(cli.BatchScanRegions(ctx, []router.KeyRange{{}}, 2))(t)
		eq(t, len(got), 2, "limited regions")
		got = must(cli.BatchScanRegions(ctx, []router.KeyRange{{StartKey: []byte("e"), EndKey: []byte("f")}}, 0))(t)
		eq(t, len(got), 1, "regions of [e, f)")
		eq(t, got[0].Meta.Id, regions[2].Id, "region of [e, f)")
		_, err := cli.BatchScanRegions(ctx, []router.KeyRange{{StartKey: []byte("c"), EndKey: []byte("a")}}, 0)
		if err == nil {
			t.Fatal("inverted range: want an error")
		}
	})
	t.Run("Stores", func(t *testing.T) {
		stores := must(cli.GetAllStores(ctx))(t)
		ids := c.StoreIDs()
		eq(t, len(stores), len(ids), "stores")
		for i, id := range ids {
			eq(t, stores[i].Id, id, "store %d", i)
			eq(t, stores[i].Address, c.StoreAddr(id), "address")
			eq(t, stores[i].State, metapb.StoreState_Up, "state")
			s := must(cli.GetStore(ctx, id))(t)
			eq(t, s.Address, c.StoreAddr(id), "address")
		}
		if _, err := cli.GetStore(ctx, 999); err == nil {
			t.Fatal("unknown store: want an error")
		}
	})
	t.Run("AfterSplit", func(t *testing.T) {
		newID := must(c.Split([]byte("c")))(t)
		r := must(cli.GetRegion(ctx, []byte("b")))(t)
		eq(t, r.Meta.Id, newID, "left half id")
		eqBytes(t, r.Meta.StartKey, []byte("b"), "left start")
		eqBytes(t, r.Meta.EndKey, []byte("c"), "left end")
		r = must(cli.GetRegion(ctx, []byte("c")))(t)
		eq(t, r.Meta.Id, regions[1].Id, "right half keeps the id")
		eq(t, r.Meta.RegionEpoch.Version, regions[1].RegionEpoch.Version+1, "version")
		all := must(cli.BatchScanRegions(ctx, []router.KeyRange{{}}, 0))(t)
		eq(t, len(all), 4, "regions after split")
		r = must(cli.GetPrevRegion(ctx, []byte("c")))(t)
		eq(t, r.Meta.Id, newID, "prev of c")
	})
}

// TestRealPDClientTopology checks what the real PD client sees of the
// control API's changes: store states, labels and addresses, learners,
// pending and down peers, buckets, and that region lookups take the
// QueryRegion stream.
func TestRealPDClientTopology(t *testing.T) {
	c := Start(t, WithStores(3))
	cli := newPDClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids := c.StoreIDs()

	noErr(t, c.SetStoreLabels(ids[0], map[string]string{"zone": "z1"}))
	noErr(t, c.OfflineStore(ids[1]))
	r, leader := c.RegionByKey(nil)
	follower := r.Peers[0]
	if follower.StoreId == leader.StoreId {
		follower = r.Peers[1]
	}
	var gone uint64
	for _, id := range ids {
		if id != leader.StoreId && id != follower.StoreId {
			gone = id
		}
	}
	noErr(t, c.RemovePeer(r.Id, gone))
	noErr(t, c.AddLearner(r.Id, gone))
	noErr(t, c.TombstoneStore(gone))
	noErr(t, c.SetStoreAddress(follower.StoreId, "127.0.0.1:1"))
	noErr(t, c.SetPeerDown(r.Id, follower.StoreId, true))
	noErr(t, c.SetPeerPending(r.Id, follower.StoreId, true))
	noErr(t, c.SetBuckets(r.Id, [][]byte{[]byte("m")}, 3))

	t.Run("stores", func(t *testing.T) {
		all := must(cli.GetAllStores(ctx))(t)
		eq(t, len(all), 3, "stores")
		eq(t, len(must(cli.GetAllStores(ctx, opt.WithExcludeTombstone()))(t)), 2, "stores without tombstones")
		s := must(cli.GetStore(ctx, ids[0]))(t)
		eq(t, s.Labels[0].Value, "z1", "label")
		s = must(cli.GetStore(ctx, ids[1]))(t)
		eq(t, s.State, metapb.StoreState_Offline, "offline")
		if s := must(cli.GetStore(ctx, gone))(t); s != nil {
			t.Fatalf("tombstone: got %v, want nil", s)
		}
		eq(t, must(cli.GetStore(ctx, follower.StoreId))(t).Address, "127.0.0.1:1", "changed address")
	})
	t.Run("region", func(t *testing.T) {
		got := must(cli.GetRegion(ctx, []byte("a")))(t)
		eq(t, got.Meta.RegionEpoch.ConfVer, r.RegionEpoch.ConfVer+2, "conf_ver after remove + add learner")
		learner := peerOnStore(got.Meta, gone)
		eq(t, learner.Role, metapb.PeerRole_Learner, "learner")
		eq(t, len(got.DownPeers), 1, "down peers")
		eq(t, got.DownPeers[0].StoreId, follower.StoreId, "down peer")
		eq(t, len(got.PendingPeers), 1, "pending peers")
		if got.Buckets != nil {
			t.Fatal("buckets without WithBuckets")
		}
		got = must(cli.GetRegion(ctx, []byte("a"), opt.WithBuckets()))(t)
		eq(t, got.Buckets.GetVersion(), uint64(3), "buckets")
		scanned := must(cli.BatchScanRegions(ctx, []router.KeyRange{{}}, 0, opt.WithBuckets()))(t)
		eq(t, scanned[0].Buckets.GetVersion(), uint64(3), "buckets of BatchScanRegions")
		eq(t, len(scanned[0].DownPeers), 1, "down peers of BatchScanRegions")
		legacy := must(cli.ScanRegions(ctx, nil, nil, 0))(t)
		eq(t, len(legacy), 1, "ScanRegions")
		eqProto(t, legacy[0].Meta, got.Meta, "ScanRegions region")
	})
	t.Run("lookups use QueryRegion", func(t *testing.T) {
		c.DelayPD("QueryRegion", 200*time.Millisecond)
		defer c.DelayPD("QueryRegion", 0)
		start := time.Now()
		must(cli.GetRegionByID(ctx, r.Id))(t)
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Fatalf("GetRegionByID took %v: it did not go through QueryRegion", d)
		}
	})
}
