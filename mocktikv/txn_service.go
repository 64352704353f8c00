package mocktikv

import (
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// The tikvpb.Tikv methods of the transactional commands; each runs the
// same handler as the in-process Sender and BatchCommands.

func (s *tikvService) KvGet(ctx context.Context, req *kvrpcpb.GetRequest) (*kvrpcpb.GetResponse, error) {
	return serve[*kvrpcpb.GetResponse](ctx, s, transport.CmdGet, req)
}

func (s *tikvService) KvBatchGet(ctx context.Context, req *kvrpcpb.BatchGetRequest) (*kvrpcpb.BatchGetResponse, error) {
	return serve[*kvrpcpb.BatchGetResponse](ctx, s, transport.CmdBatchGet, req)
}

func (s *tikvService) KvScan(ctx context.Context, req *kvrpcpb.ScanRequest) (*kvrpcpb.ScanResponse, error) {
	return serve[*kvrpcpb.ScanResponse](ctx, s, transport.CmdScan, req)
}

func (s *tikvService) KvPrewrite(ctx context.Context, req *kvrpcpb.PrewriteRequest) (*kvrpcpb.PrewriteResponse, error) {
	return serve[*kvrpcpb.PrewriteResponse](ctx, s, transport.CmdPrewrite, req)
}

func (s *tikvService) KvCommit(ctx context.Context, req *kvrpcpb.CommitRequest) (*kvrpcpb.CommitResponse, error) {
	return serve[*kvrpcpb.CommitResponse](ctx, s, transport.CmdCommit, req)
}

func (s *tikvService) KvCleanup(ctx context.Context, req *kvrpcpb.CleanupRequest) (*kvrpcpb.CleanupResponse, error) {
	return serve[*kvrpcpb.CleanupResponse](ctx, s, transport.CmdCleanup, req)
}

func (s *tikvService) KvBatchRollback(ctx context.Context, req *kvrpcpb.BatchRollbackRequest) (*kvrpcpb.BatchRollbackResponse, error) {
	return serve[*kvrpcpb.BatchRollbackResponse](ctx, s, transport.CmdBatchRollback, req)
}

func (s *tikvService) KvCheckTxnStatus(ctx context.Context, req *kvrpcpb.CheckTxnStatusRequest) (*kvrpcpb.CheckTxnStatusResponse, error) {
	return serve[*kvrpcpb.CheckTxnStatusResponse](ctx, s, transport.CmdCheckTxnStatus, req)
}

func (s *tikvService) KvCheckSecondaryLocks(ctx context.Context, req *kvrpcpb.CheckSecondaryLocksRequest) (*kvrpcpb.CheckSecondaryLocksResponse, error) {
	return serve[*kvrpcpb.CheckSecondaryLocksResponse](ctx, s, transport.CmdCheckSecondaryLocks, req)
}

func (s *tikvService) KvResolveLock(ctx context.Context, req *kvrpcpb.ResolveLockRequest) (*kvrpcpb.ResolveLockResponse, error) {
	return serve[*kvrpcpb.ResolveLockResponse](ctx, s, transport.CmdResolveLock, req)
}

func (s *tikvService) KvScanLock(ctx context.Context, req *kvrpcpb.ScanLockRequest) (*kvrpcpb.ScanLockResponse, error) {
	return serve[*kvrpcpb.ScanLockResponse](ctx, s, transport.CmdScanLock, req)
}

func (s *tikvService) KvTxnHeartBeat(ctx context.Context, req *kvrpcpb.TxnHeartBeatRequest) (*kvrpcpb.TxnHeartBeatResponse, error) {
	return serve[*kvrpcpb.TxnHeartBeatResponse](ctx, s, transport.CmdTxnHeartBeat, req)
}

func (s *tikvService) KvPessimisticLock(ctx context.Context, req *kvrpcpb.PessimisticLockRequest) (*kvrpcpb.PessimisticLockResponse, error) {
	return serve[*kvrpcpb.PessimisticLockResponse](ctx, s, transport.CmdPessimisticLock, req)
}

func (s *tikvService) KVPessimisticRollback(ctx context.Context, req *kvrpcpb.PessimisticRollbackRequest) (*kvrpcpb.PessimisticRollbackResponse, error) {
	return serve[*kvrpcpb.PessimisticRollbackResponse](ctx, s, transport.CmdPessimisticRollback, req)
}

func (s *tikvService) KvDeleteRange(ctx context.Context, req *kvrpcpb.DeleteRangeRequest) (*kvrpcpb.DeleteRangeResponse, error) {
	return serve[*kvrpcpb.DeleteRangeResponse](ctx, s, transport.CmdDeleteRange, req)
}

// KvGC is observed like any request and then answered UNIMPLEMENTED, as
// TiKV does (GC runs inside TiKV).
func (s *tikvService) KvGC(ctx context.Context, req *kvrpcpb.GCRequest) (*kvrpcpb.GCResponse, error) {
	return serve[*kvrpcpb.GCResponse](ctx, s, transport.CmdGC, req)
}

func (s *tikvService) UnsafeDestroyRange(ctx context.Context, req *kvrpcpb.UnsafeDestroyRangeRequest) (*kvrpcpb.UnsafeDestroyRangeResponse, error) {
	return serve[*kvrpcpb.UnsafeDestroyRangeResponse](ctx, s, transport.CmdUnsafeDestroyRange, req)
}

func (s *tikvService) MvccGetByKey(ctx context.Context, req *kvrpcpb.MvccGetByKeyRequest) (*kvrpcpb.MvccGetByKeyResponse, error) {
	return serve[*kvrpcpb.MvccGetByKeyResponse](ctx, s, transport.CmdMvccGetByKey, req)
}

func (s *tikvService) MvccGetByStartTs(ctx context.Context, req *kvrpcpb.MvccGetByStartTsRequest) (*kvrpcpb.MvccGetByStartTsResponse, error) {
	return serve[*kvrpcpb.MvccGetByStartTsResponse](ctx, s, transport.CmdMvccGetByStartTs, req)
}
