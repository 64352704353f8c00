package mocktikv

import (
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// registerRawHandlers adds the RawKV commands (raw_handlers.go).
func registerRawHandlers(t handlerTable) {
	t[transport.CmdRawGet] = typed((*Cluster).rawGet)
	t[transport.CmdRawBatchGet] = typed((*Cluster).rawBatchGet)
	t[transport.CmdRawPut] = typed((*Cluster).rawPut)
	t[transport.CmdRawBatchPut] = typed((*Cluster).rawBatchPut)
	t[transport.CmdRawDelete] = typed((*Cluster).rawDelete)
	t[transport.CmdRawBatchDelete] = typed((*Cluster).rawBatchDelete)
	t[transport.CmdRawScan] = typed((*Cluster).rawScan)
	t[transport.CmdRawDeleteRange] = typed((*Cluster).rawDeleteRange)
	t[transport.CmdRawBatchScan] = typed((*Cluster).rawBatchScan)
	t[transport.CmdRawGetKeyTTL] = typed((*Cluster).rawGetKeyTTL)
	t[transport.CmdRawCompareAndSwap] = typed((*Cluster).rawCompareAndSwap)
	t[transport.CmdRawChecksum] = typed((*Cluster).rawChecksum)
}

func (s *tikvService) RawGet(ctx context.Context, req *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	return serve[*kvrpcpb.RawGetResponse](ctx, s, transport.CmdRawGet, req)
}

func (s *tikvService) RawBatchGet(ctx context.Context, req *kvrpcpb.RawBatchGetRequest) (*kvrpcpb.RawBatchGetResponse, error) {
	return serve[*kvrpcpb.RawBatchGetResponse](ctx, s, transport.CmdRawBatchGet, req)
}

func (s *tikvService) RawPut(ctx context.Context, req *kvrpcpb.RawPutRequest) (*kvrpcpb.RawPutResponse, error) {
	return serve[*kvrpcpb.RawPutResponse](ctx, s, transport.CmdRawPut, req)
}

func (s *tikvService) RawBatchPut(ctx context.Context, req *kvrpcpb.RawBatchPutRequest) (*kvrpcpb.RawBatchPutResponse, error) {
	return serve[*kvrpcpb.RawBatchPutResponse](ctx, s, transport.CmdRawBatchPut, req)
}

func (s *tikvService) RawDelete(ctx context.Context, req *kvrpcpb.RawDeleteRequest) (*kvrpcpb.RawDeleteResponse, error) {
	return serve[*kvrpcpb.RawDeleteResponse](ctx, s, transport.CmdRawDelete, req)
}

func (s *tikvService) RawBatchDelete(ctx context.Context, req *kvrpcpb.RawBatchDeleteRequest) (*kvrpcpb.RawBatchDeleteResponse, error) {
	return serve[*kvrpcpb.RawBatchDeleteResponse](ctx, s, transport.CmdRawBatchDelete, req)
}

func (s *tikvService) RawScan(ctx context.Context, req *kvrpcpb.RawScanRequest) (*kvrpcpb.RawScanResponse, error) {
	return serve[*kvrpcpb.RawScanResponse](ctx, s, transport.CmdRawScan, req)
}

func (s *tikvService) RawDeleteRange(ctx context.Context, req *kvrpcpb.RawDeleteRangeRequest) (*kvrpcpb.RawDeleteRangeResponse, error) {
	return serve[*kvrpcpb.RawDeleteRangeResponse](ctx, s, transport.CmdRawDeleteRange, req)
}

func (s *tikvService) RawBatchScan(ctx context.Context, req *kvrpcpb.RawBatchScanRequest) (*kvrpcpb.RawBatchScanResponse, error) {
	return serve[*kvrpcpb.RawBatchScanResponse](ctx, s, transport.CmdRawBatchScan, req)
}

func (s *tikvService) RawGetKeyTTL(ctx context.Context, req *kvrpcpb.RawGetKeyTTLRequest) (*kvrpcpb.RawGetKeyTTLResponse, error) {
	return serve[*kvrpcpb.RawGetKeyTTLResponse](ctx, s, transport.CmdRawGetKeyTTL, req)
}

func (s *tikvService) RawCompareAndSwap(ctx context.Context, req *kvrpcpb.RawCASRequest) (*kvrpcpb.RawCASResponse, error) {
	return serve[*kvrpcpb.RawCASResponse](ctx, s, transport.CmdRawCompareAndSwap, req)
}

func (s *tikvService) RawChecksum(ctx context.Context, req *kvrpcpb.RawChecksumRequest) (*kvrpcpb.RawChecksumResponse, error) {
	return serve[*kvrpcpb.RawChecksumResponse](ctx, s, transport.CmdRawChecksum, req)
}
