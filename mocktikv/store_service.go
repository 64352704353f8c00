package mocktikv

import (
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// GetStoreSafeTS serves the store-level safe ts query (store_handlers.go).
func (s *tikvService) GetStoreSafeTS(ctx context.Context, req *kvrpcpb.StoreSafeTSRequest) (*kvrpcpb.StoreSafeTSResponse, error) {
	return serve[*kvrpcpb.StoreSafeTSResponse](ctx, s, transport.CmdStoreSafeTS, req)
}
