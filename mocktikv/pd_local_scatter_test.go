package mocktikv

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/tikv/pd/client/opt"
)

// The in-process PD scatters and reports operators as pd.Client does over
// the gRPC PD: the same answers, the same header errors turned into Go
// errors (only ScatterRegions', as the client does), the same fault name.
func TestLocalPDScatterMatchesGRPC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range []string{"inprocess", "grpc"} {
		t.Run(name, func(t *testing.T) {
			// A cluster per run: a region a split leaves its old id to
			// may carry an operator from the other run's scatter.
			c := Start(t, WithStores(2), WithSplitKeys([]byte("m")))
			pd := c.PD()
			if name == "grpc" {
				pd = newPDClient(t, c)
			}
			regions := c.Regions()
			left, right := regions[0].Id, regions[1].Id
			_, ids := c.pdSplitRegions([][]byte{[]byte(name)})
			eq(t, len(ids), 1, "new region")
			fresh := ids[0]
			op := must(pd.GetOperator(ctx, fresh))(t)
			eq(t, op.GetHeader().GetError().GetType(), pdpb.ErrorType_REGION_NOT_FOUND, "no operator yet")

			sr := must(pd.ScatterRegions(ctx, []uint64{fresh, 12345}, opt.WithGroup("g")))(t)
			eq(t, sr.FinishedPercentage, uint64(50), "scatter percentage")
			eq(t, len(sr.FailedRegionsId), 1, "failed regions")
			eq(t, sr.FailedRegionsId[0], uint64(12345), "failed region")
			op = must(pd.GetOperator(ctx, fresh))(t)
			eq(t, string(op.Desc), "scatter-region", "operator")
			eq(t, op.Status, pdpb.OperatorStatus_SUCCESS, "operator status")
			eq(t, op.RegionId, fresh, "operator region")
			noErr(t, errIfNil(must(pd.ScatterRegions(ctx, []uint64{left, right}))(t)))

			if _, err := pd.ScatterRegions(ctx, nil); err == nil || !strings.Contains(err.Error(), "REGION_NOT_FOUND") {
				t.Fatalf("scatter of no region: %v", err)
			}
			c.FailPD("ScatterRegion", errors.New("refused"), 1)
			if _, err := pd.ScatterRegions(ctx, []uint64{left}); err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("scripted ScatterRegion fault: %v", err)
			}
			c.FailPD("GetOperator", errors.New("unavailable"), 1)
			if _, err := pd.GetOperator(ctx, left); err == nil || !strings.Contains(err.Error(), "unavailable") {
				t.Fatalf("scripted GetOperator fault: %v", err)
			}
			eq(t, must(pd.GetOperator(ctx, left))(t).Status, pdpb.OperatorStatus_SUCCESS, "after the fault")
		})
	}
}

// errIfNil turns a missing response into an error.
func errIfNil(r *pdpb.ScatterRegionResponse) error {
	if r == nil {
		return errors.New("nil response")
	}
	return nil
}
