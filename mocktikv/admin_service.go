package mocktikv

import (
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

func (s *tikvService) SplitRegion(ctx context.Context, req *kvrpcpb.SplitRegionRequest) (*kvrpcpb.SplitRegionResponse, error) {
	return serve[*kvrpcpb.SplitRegionResponse](ctx, s, transport.CmdSplitRegion, req)
}
