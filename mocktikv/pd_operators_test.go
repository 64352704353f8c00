package mocktikv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/tikv/pd/client/opt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func TestPDSplitAndScatter(t *testing.T) {
	c := Start(t, WithStores(2), WithSplitKeys([]byte("m")))
	cli := newPDClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	orig := c.Regions()

	// Keys in two regions; "m" is already a boundary, so it stays
	// unprocessed and the split is reported 75% done, as PD reports it.
	resp := must(cli.SplitRegions(ctx, [][]byte{[]byte("x"), []byte("c"), []byte("m"), []byte("f")}))(t)
	if resp.GetHeader().GetError() != nil {
		t.Fatalf("SplitRegions: %v", resp.Header.Error)
	}
	eq(t, resp.FinishedPercentage, uint64(75), "finished percentage")
	eq(t, len(resp.RegionsId), 3, "regions starting at the keys")
	for i, key := range []string{"c", "f", "x"} {
		r, _ := c.RegionByKey([]byte(key))
		eq(t, resp.RegionsId[i], r.Id, "region starting at %s", key)
		eq(t, string(r.StartKey), key, "start")
	}
	eq(t, len(c.Regions()), 5, "regions")
	right, _ := c.RegionByKey([]byte("f"))
	eq(t, right.RegionEpoch.Version, orig[0].RegionEpoch.Version+2, "two keys in one region: version +2")

	// SplitAndScatter scatters the new regions; GetOperator then reports
	// finished scatters.
	sas := must(cli.SplitAndScatterRegions(ctx, [][]byte{[]byte("p")}))(t)
	eq(t, sas.SplitFinishedPercentage, uint64(100), "split percentage")
	eq(t, sas.ScatterFinishedPercentage, uint64(100), "scatter percentage")
	eq(t, len(sas.RegionsId), 1, "new regions")
	op := must(cli.GetOperator(ctx, sas.RegionsId[0]))(t)
	eq(t, string(op.Desc), "scatter-region", "operator")
	eq(t, op.Status, pdpb.OperatorStatus_SUCCESS, "operator status")

	// A region never scattered has no operator.
	op = must(cli.GetOperator(ctx, orig[0].Id))(t)
	eq(t, op.GetHeader().GetError().GetType(), pdpb.ErrorType_REGION_NOT_FOUND, "no operator")

	noErr(t, cli.ScatterRegion(ctx, orig[0].Id))
	eq(t, must(cli.GetOperator(ctx, orig[0].Id))(t).Status, pdpb.OperatorStatus_SUCCESS, "scattered")
	if err := cli.ScatterRegion(ctx, 12345); err == nil || !strings.Contains(err.Error(), "REGION_NOT_FOUND") {
		t.Fatalf("scattering an unknown region: %v", err)
	}
	sr := must(cli.ScatterRegions(ctx, []uint64{orig[1].Id, 12345}, opt.WithGroup("g")))(t)
	eq(t, sr.FinishedPercentage, uint64(50), "scatter percentage")
	eq(t, len(sr.FailedRegionsId), 1, "failed regions")
}

func TestMinResolvedTS(t *testing.T) {
	c := NewCluster(WithStores(3))
	ids := c.StoreIDs()
	c.SetMinResolvedTS(ids[0], 100)
	c.SetMinResolvedTS(ids[1], 200)
	c.SetMinResolvedTS(ids[1], 150) // never moves back
	c.SetMinResolvedTS(ids[2], 300)
	cluster, per := c.MinResolvedTS()
	eq(t, cluster, uint64(100), "cluster min resolved ts")
	eq(t, per[ids[1]], uint64(200), "store min resolved ts")
	cluster, _ = c.MinResolvedTS(ids[1], ids[2])
	eq(t, cluster, uint64(200), "min over listed stores")
	noErr(t, c.TombstoneStore(ids[0]))
	cluster, _ = c.MinResolvedTS()
	eq(t, cluster, uint64(200), "tombstones are left out")
}

func TestReportMinResolvedTSRPC(t *testing.T) {
	c := Start(t, WithStores(2))
	conn := must(grpc.NewClient(c.PDAddrs()[0], grpc.WithTransportCredentials(insecure.NewCredentials())))(t)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pd := pdpb.NewPDClient(conn)
	for _, id := range c.StoreIDs() {
		resp := must(pd.ReportMinResolvedTS(ctx, &pdpb.ReportMinResolvedTsRequest{
			Header: &pdpb.RequestHeader{ClusterId: c.ClusterID()}, StoreId: id, MinResolvedTs: 1000 + id,
		}))(t)
		if resp.GetHeader().GetError() != nil {
			t.Fatalf("report: %v", resp.Header.Error)
		}
	}
	cluster, per := c.MinResolvedTS()
	eq(t, cluster, 1000+c.StoreIDs()[0], "cluster min resolved ts")
	eq(t, len(per), 2, "stores")
	if _, err := pd.ReportMinResolvedTS(ctx, &pdpb.ReportMinResolvedTsRequest{Header: &pdpb.RequestHeader{ClusterId: 1}}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("wrong cluster id: %v", err)
	}
}
