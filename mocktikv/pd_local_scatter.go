package mocktikv

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/tikv/pd/client/opt"
)

// ScatterRegions scatters the regions as the gRPC PD's ScatterRegion does
// (scatterResponse) under the method name the real client's call hits
// ("ScatterRegion"). Like pd.Client, it turns a header error into a Go
// error: an empty regionIDs reaches PD as the legacy region id 0, which
// PD does not know. The options (group, retry limit) change nothing in
// the mock, where scattering moves no peer.
func (p localPD) ScatterRegions(ctx context.Context, regionIDs []uint64, _ ...opt.RegionsOption) (*pdpb.ScatterRegionResponse, error) {
	var out *pdpb.ScatterRegionResponse
	err := p.call(ctx, "ScatterRegion", func() error {
		out = p.c.scatterResponse(regionIDs, 0)
		if e := out.GetHeader().GetError(); e != nil {
			out = nil
			return fmt.Errorf("scatter regions %v failed: %s", regionIDs, e.String())
		}
		return nil
	})
	return out, err
}

// GetOperator returns the region's last operator as the gRPC PD does
// (operatorResponse); like pd.Client, a header error stays in the
// response.
func (p localPD) GetOperator(ctx context.Context, regionID uint64) (*pdpb.GetOperatorResponse, error) {
	var out *pdpb.GetOperatorResponse
	err := p.call(ctx, "GetOperator", func() error {
		out = p.c.operatorResponse(regionID)
		return nil
	})
	return out, err
}
