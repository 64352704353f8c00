package mocktikv

import (
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/tikv/pd/client/constants"
	pdhttp "github.com/tikv/pd/client/http"
)

// newPDHTTPClient connects pd/client/http to c the way client-go does: the
// PD addresses it is given are the gRPC ones; it discovers the members over
// gRPC and sends HTTP to their client URLs, the same address.
func newPDHTTPClient(t *testing.T, c *Cluster) pdhttp.Client {
	t.Helper()
	cli := pdhttp.NewClient("mocktikv-test", c.PDAddrs())
	if cli == nil {
		t.Fatal("pd/client/http could not discover PD")
	}
	t.Cleanup(cli.Close)
	return cli
}

func TestPDHTTPMinResolvedTS(t *testing.T) {
	c := Start(t, WithStores(3))
	cli := newPDHTTPClient(t, c)
	ctx := testCtx(t)
	ids := c.StoreIDs()
	c.SetMinResolvedTS(ids[0], 300)
	c.SetMinResolvedTS(ids[1], 200)
	c.SetMinResolvedTS(ids[2], 400)

	// client-go's safe-ts updater: the cluster's value, then per store.
	cluster, perStore := must2(cli.GetMinResolvedTSByStoresIDs(ctx, nil))(t)
	eq(t, cluster, uint64(200), "cluster min resolved ts")
	eq(t, len(perStore), 0, "no per-store values without a scope")
	scoped, perStore := must2(cli.GetMinResolvedTSByStoresIDs(ctx, []uint64{ids[0], ids[2]}))(t)
	eq(t, scoped, uint64(300), "min over the listed stores")
	eq(t, fmt.Sprint(perStore), fmt.Sprintf("map[%d:300 %d:400]", ids[0], ids[2]), "per store")
}

func must2[A, B any](a A, b B, err error) func(testing.TB) (A, B) {
	return func(t testing.TB) (A, B) {
		t.Helper()
		noErr(t, err)
		return a, b
	}
}

func TestPDHTTPKeyspaces(t *testing.T) {
	c := Start(t, WithAPIVersion(kvrpcpb.APIVersion_V2), WithKeyspace("ks1"))
	cli := newPDHTTPClient(t, c)
	ctx := testCtx(t)
	want := c.Keyspaces()[1]
	got := must(cli.GetKeyspaceMetaByName(ctx, "ks1"))(t)
	// The HTTP API leaves an empty config out, as PD's omitempty does.
	want.Config = nil
	eqProto(t, got, want, "keyspace by name")
	eq(t, got.State, keyspacepb.KeyspaceState_ENABLED, "state")
	byID := must(cli.GetKeyspaceMetaByID(ctx, want.GetId()))(t)
	eqProto(t, byID, want, "keyspace by id")
	if _, err := cli.GetKeyspaceMetaByName(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "ErrKeyspaceNotFound") {
		t.Fatalf("unknown keyspace: got %v, want ErrKeyspaceNotFound", err)
	}
}

func TestPDHTTPStoresAndRegions(t *testing.T) {
	c := Start(t, WithStores(2), WithSplitKeys([]byte("m")))
	cli := newPDHTTPClient(t, c)
	ctx := testCtx(t)
	ids := c.StoreIDs()

	stores := must(cli.GetStores(ctx))(t)
	eq(t, stores.Count, 2, "stores")
	st := must(cli.GetStore(ctx, ids[1]))(t)
	eq(t, st.Store.ID, int64(ids[1]), "store id")
	eq(t, st.Store.Address, c.StoreAddr(ids[1]), "address")
	eq(t, st.Store.StatusAddress, c.StoreAddr(ids[1]), "status address: the same port")
	eq(t, st.Store.StateName, "Up", "state")
	eq(t, st.Status.RegionCount, int64(2), "a peer of each region")
	eq(t, st.Status.LeaderCount, int64(1), "leads one of two")
	noErr(t, c.TombstoneStore(ids[1]))
	eq(t, must(cli.GetStores(ctx))(t).Count, 1, "tombstones left out")
	if _, err := cli.GetStore(ctx, 999); err == nil {
		t.Fatal("unknown store: no error")
	}

	regions := must(cli.GetRegions(ctx))(t)
	eq(t, regions.Count, int64(2), "regions")
	eq(t, regions.Regions[0].EndKey, strings.ToUpper(hex.EncodeToString([]byte("m"))), "end key in upper-case hex")
	meta, leader := c.RegionByKey([]byte("z"))
	byKey := must(cli.GetRegionByKey(ctx, []byte("z")))(t)
	eq(t, byKey.ID, int64(meta.Id), "region by key")
	eq(t, byKey.Leader.StoreID, int64(leader.StoreId), "leader")
	eq(t, len(byKey.Peers), 2, "peers")
	eq(t, byKey.Epoch.Version, int64(meta.RegionEpoch.Version), "epoch")
	eq(t, must(cli.GetRegionByID(ctx, meta.Id))(t).StartKey, "6D", "region by id")
	if _, err := cli.GetRegionByID(ctx, 999); err == nil {
		t.Fatal("unknown region: no error")
	}
}

func TestPDHTTPMembersAndGC(t *testing.T) {
	c := Start(t)
	cli := newPDHTTPClient(t, c)
	ctx := testCtx(t)
	members := must(cli.GetMembers(ctx))(t)
	eq(t, len(members.Members), 1, "members")
	eq(t, members.Leader.GetClientUrls()[0], "http://"+c.PDAddrs()[0], "leader URL")
	health := must(cli.GetHealthStatus(ctx))(t)
	eq(t, len(health) == 1 && health[0].Health, true, "healthy")

	pd := newPDClient(t, c)
	must(pd.GetGCInternalController(constants.NullKeyspaceID).AdvanceTxnSafePoint(ctx, 500))(t)
	must(pd.GetGCStatesClient(constants.NullKeyspaceID).SetGCBarrier(ctx, "svc", 700, time.Hour))(t)
	list := must(cli.GetGCSafePoint(ctx))(t)
	got := map[string]uint64{}
	for _, s := range list.ServiceGCSafepoints {
		got[s.ServiceID] = s.SafePoint
		if s.ServiceID == gcWorkerServiceID && s.ExpiredAt != math.MaxInt64 {
			t.Errorf("gc_worker expires at %d, want never", s.ExpiredAt)
		}
	}
	eq(t, fmt.Sprint(got), "map[gc_worker:500 svc:700]", "service safe points: barriers and the txn safe point")
	eq(t, list.MinServiceGcSafepoint, uint64(500), "minimum")
}
