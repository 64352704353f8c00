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

// GetHealthFeedback serves the store's health feedback (health_feedback.go).
func (s *tikvService) GetHealthFeedback(ctx context.Context, req *kvrpcpb.GetHealthFeedbackRequest) (*kvrpcpb.GetHealthFeedbackResponse, error) {
	return serve[*kvrpcpb.GetHealthFeedbackResponse](ctx, s, transport.CmdGetHealthFeedback, req)
}
