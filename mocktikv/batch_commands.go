package mocktikv

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/coprocessor"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// BatchCommands serves TiKV's multiplexed stream (src/server/service/kv.rs
// batch_commands): each BatchCommandsRequest carries sub-requests tagged with
// request ids; sub-requests run concurrently, each on its own goroutine,
// through the same handlers (and faults) as the unary RPCs, so a blocked one
// (a pessimistic lock waiting, a fault's Block) does not hold up the others,
// and responses come back in completion order, each in a batch of its own.
//
// TiKV answers every sub-request on its own and keeps the stream open
// (handle_batch_commands_request and response_batch_commands_request):
//   - A sub-request whose cmd TiKV does not know (an empty oneof, or a
//     variant newer than the server) is answered with an empty response
//     (cmd unset) under its id. The mock answers the same way for a command
//     it does not implement (its unary call is UNIMPLEMENTED), as a TiKV
//     without that command would.
//   - A sub-request whose handler fails gets no response at all: TiKV drops
//     every error but one. The mock's handlers fail only for GC (TiKV's
//     KvGC always errs, so a GC sub-request is never answered).
//   - The exception is a cluster-id mismatch: it fails the whole stream
//     with INVALID_ARGUMENT.
//   - Empty sub-requests are echoed with their test_id, after delay_time ms
//     when that is >= 10.
//
// The responses carry the store's health feedback as TiKV's
// HealthFeedbackAttacher adds it (health_feedback.go).
//
// Two failures are the mock's own and end the whole stream: a fault's
// transport error (Fail, LoseResponse) fails it with the fault's status, as
// a broken connection fails every request in flight on it; and a fault
// that answers with a response of the wrong type (a mistake in the test)
// fails it with INTERNAL. When the client closes its side, in-flight
// sub-requests still get their responses before the stream ends; when the
// stream's context ends, they are cancelled.
func (s *tikvService) BatchCommands(stream tikvpb.Tikv_BatchCommandsServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	b := &batchStream{
		svc:      s,
		stream:   stream,
		ctx:      ctx,
		cancel:   cancel,
		failed:   make(chan struct{}),
		feedback: feedbackAttacher{store: s.c.health.store(servingStore(stream.Context(), s.storeID)), interval: s.c.health.interval},
	}
	eof := make(chan struct{})
	// Recv runs on its own goroutine so that a failing sub-request can end
	// the stream without waiting for the client's next batch. When the
	// stream fails it returns (gRPC cancels the stream once this handler
	// has returned) and starts nothing more.
	go func() {
		if b.recvLoop() {
			close(eof)
		}
	}()
	select {
	case <-eof:
	case <-b.failed:
	case <-ctx.Done():
		// The call ended, or the store a forwarded stream is served by
		// stopped (forwarding.go): nothing more will be answered.
	}
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.pending.Wait()
	cancel()
	// b.err may be read only once failed is closed: the receive loop may
	// still be failing the stream when this returns through ctx.
	select {
	case <-b.failed:
		return b.err
	default:
	}
	if err := stream.Context().Err(); err != nil {
		// The call's deadline passed or it was cancelled with
		// sub-requests unanswered: end with that status, as grpc
		// does, not as a clean end of stream.
		return status.FromContextError(err).Err()
	}
	return nil
}

// batchStream is the state of one BatchCommands call.
type batchStream struct {
	svc    *tikvService
	stream tikvpb.Tikv_BatchCommandsServer
	ctx    context.Context
	cancel context.CancelFunc

	sendMu   sync.Mutex       // stream.Send is not safe for concurrent use
	feedback feedbackAttacher // guarded by sendMu

	mu      sync.Mutex
	closed  bool // no new sub-requests start once set
	pending sync.WaitGroup

	failOnce sync.Once
	failed   chan struct{} // closed by fail
	err      error         // set before failed is closed
}

// fail ends the stream with err (the first error wins) and cancels the
// sub-requests in flight.
func (b *batchStream) fail(err error) {
	b.failOnce.Do(func() {
		b.err = err
		b.cancel()
		close(b.failed)
	})
}

// recvLoop reads batches until the client closes its side (it returns
// true) or the stream fails (false), starting a goroutine per sub-request.
func (b *batchStream) recvLoop() bool {
	for {
		batch, err := b.stream.Recv()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			b.fail(err)
			return false
		}
		if len(batch.Requests) != len(batch.RequestIds) {
			b.fail(status.Error(codes.InvalidArgument, "mocktikv: requests and request_ids differ in length"))
			return false
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return false
		}
		b.pending.Add(len(batch.Requests))
		b.mu.Unlock()
		for i, sub := range batch.Requests {
			go func() {
				defer b.pending.Done()
				b.serve(batch.RequestIds[i], sub)
			}()
		}
	}
}

// serve answers one sub-request.
func (b *batchStream) serve(id uint64, sub *tikvpb.BatchCommandsRequest_Request) {
	if empty, ok := sub.Cmd.(*tikvpb.BatchCommandsRequest_Request_Empty); ok {
		if d := empty.Empty.GetDelayTime(); d >= 10 {
			t := time.NewTimer(time.Duration(d) * time.Millisecond)
			defer t.Stop()
			select {
			case <-t.C:
			case <-b.ctx.Done():
				return
			}
		}
		b.send(id, &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_Empty{
			Empty: &tikvpb.BatchCommandsEmptyResponse{TestId: empty.Empty.GetTestId()},
		}})
		return
	}
	cmd, msg := unwrapBatchRequest(sub)
	if cmd == transport.CmdInvalid {
		// TiKV's "invalid request" arm: an empty response under the id.
		b.send(id, &tikvpb.BatchCommandsResponse_Response{})
		return
	}
	resp, err := b.svc.c.handle(b.ctx, servingStore(b.ctx, b.svc.storeID), cmd, msg)
	switch {
	case err == nil:
		wrapped := wrapBatchResponse(cmd, resp)
		if wrapped == nil {
			b.fail(status.Errorf(codes.Internal, "mocktikv: %s produced %T", cmd, resp))
			return
		}
		b.send(id, wrapped)
	case b.ctx.Err() != nil:
		// The stream is ending; nobody is left to answer.
	case errors.Is(err, errClusterIDMismatch), isFaultError(err), status.Code(err) == codes.Internal:
		b.fail(grpcError(err))
	case cmd == transport.CmdGC:
		// TiKV's KvGC always errs (UNIMPLEMENTED as a unary call) and the
		// batch path drops the error: no reply at all.
	case status.Code(err) == codes.Unimplemented:
		b.send(id, &tikvpb.BatchCommandsResponse_Response{})
	default:
		// TiKV drops the error: the sub-request is never answered.
	}
}

// send delivers one sub-response in a batch of its own.
func (b *batchStream) send(id uint64, resp *tikvpb.BatchCommandsResponse_Response) {
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	if b.ctx.Err() != nil {
		return
	}
	out := &tikvpb.BatchCommandsResponse{
		Responses:  []*tikvpb.BatchCommandsResponse_Response{resp},
		RequestIds: []uint64{id},
	}
	b.feedback.attach(out, time.Now())
	if err := b.stream.Send(out); err != nil {
		b.fail(err)
	}
}

// unwrapBatchRequest returns a sub-request's command and message, or
// CmdInvalid for one the mock has no command for (Import, RawCoprocessor)
// or an empty oneof.
func unwrapBatchRequest(r *tikvpb.BatchCommandsRequest_Request) (transport.Cmd, transport.Message) {
	switch c := r.Cmd.(type) {
	case *tikvpb.BatchCommandsRequest_Request_Get:
		return transport.CmdGet, c.Get
	case *tikvpb.BatchCommandsRequest_Request_Scan:
		return transport.CmdScan, c.Scan
	case *tikvpb.BatchCommandsRequest_Request_Prewrite:
		return transport.CmdPrewrite, c.Prewrite
	case *tikvpb.BatchCommandsRequest_Request_Commit:
		return transport.CmdCommit, c.Commit
	case *tikvpb.BatchCommandsRequest_Request_Cleanup:
		return transport.CmdCleanup, c.Cleanup
	case *tikvpb.BatchCommandsRequest_Request_BatchGet:
		return transport.CmdBatchGet, c.BatchGet
	case *tikvpb.BatchCommandsRequest_Request_BatchRollback:
		return transport.CmdBatchRollback, c.BatchRollback
	case *tikvpb.BatchCommandsRequest_Request_ScanLock:
		return transport.CmdScanLock, c.ScanLock
	case *tikvpb.BatchCommandsRequest_Request_ResolveLock:
		return transport.CmdResolveLock, c.ResolveLock
	case *tikvpb.BatchCommandsRequest_Request_GC:
		return transport.CmdGC, c.GC
	case *tikvpb.BatchCommandsRequest_Request_DeleteRange:
		return transport.CmdDeleteRange, c.DeleteRange
	case *tikvpb.BatchCommandsRequest_Request_RawGet:
		return transport.CmdRawGet, c.RawGet
	case *tikvpb.BatchCommandsRequest_Request_RawBatchGet:
		return transport.CmdRawBatchGet, c.RawBatchGet
	case *tikvpb.BatchCommandsRequest_Request_RawPut:
		return transport.CmdRawPut, c.RawPut
	case *tikvpb.BatchCommandsRequest_Request_RawBatchPut:
		return transport.CmdRawBatchPut, c.RawBatchPut
	case *tikvpb.BatchCommandsRequest_Request_RawDelete:
		return transport.CmdRawDelete, c.RawDelete
	case *tikvpb.BatchCommandsRequest_Request_RawBatchDelete:
		return transport.CmdRawBatchDelete, c.RawBatchDelete
	case *tikvpb.BatchCommandsRequest_Request_RawScan:
		return transport.CmdRawScan, c.RawScan
	case *tikvpb.BatchCommandsRequest_Request_RawDeleteRange:
		return transport.CmdRawDeleteRange, c.RawDeleteRange
	case *tikvpb.BatchCommandsRequest_Request_RawBatchScan:
		return transport.CmdRawBatchScan, c.RawBatchScan
	case *tikvpb.BatchCommandsRequest_Request_Coprocessor:
		return transport.CmdCoprocessor, c.Coprocessor
	case *tikvpb.BatchCommandsRequest_Request_PessimisticLock:
		return transport.CmdPessimisticLock, c.PessimisticLock
	case *tikvpb.BatchCommandsRequest_Request_PessimisticRollback:
		return transport.CmdPessimisticRollback, c.PessimisticRollback
	case *tikvpb.BatchCommandsRequest_Request_CheckTxnStatus:
		return transport.CmdCheckTxnStatus, c.CheckTxnStatus
	case *tikvpb.BatchCommandsRequest_Request_TxnHeartBeat:
		return transport.CmdTxnHeartBeat, c.TxnHeartBeat
	case *tikvpb.BatchCommandsRequest_Request_CheckSecondaryLocks:
		return transport.CmdCheckSecondaryLocks, c.CheckSecondaryLocks
	case *tikvpb.BatchCommandsRequest_Request_FlashbackToVersion:
		return transport.CmdFlashbackToVersion, c.FlashbackToVersion
	case *tikvpb.BatchCommandsRequest_Request_PrepareFlashbackToVersion:
		return transport.CmdPrepareFlashbackToVersion, c.PrepareFlashbackToVersion
	case *tikvpb.BatchCommandsRequest_Request_Flush:
		return transport.CmdFlush, c.Flush
	case *tikvpb.BatchCommandsRequest_Request_BufferBatchGet:
		return transport.CmdBufferBatchGet, c.BufferBatchGet
	case *tikvpb.BatchCommandsRequest_Request_GetHealthFeedback:
		return transport.CmdGetHealthFeedback, c.GetHealthFeedback
	case *tikvpb.BatchCommandsRequest_Request_BroadcastTxnStatus:
		return transport.CmdBroadcastTxnStatus, c.BroadcastTxnStatus
	}
	return transport.CmdInvalid, nil
}

// wrapBatchResponse puts cmd's response into the stream's oneof; nil when
// resp is not of cmd's response type.
func wrapBatchResponse(cmd transport.Cmd, resp transport.Message) *tikvpb.BatchCommandsResponse_Response {
	var out tikvpb.BatchCommandsResponse_Response
	switch cmd {
	case transport.CmdGet:
		r, ok := resp.(*kvrpcpb.GetResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_Get{Get: r}
	case transport.CmdScan:
		r, ok := resp.(*kvrpcpb.ScanResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_Scan{Scan: r}
	case transport.CmdPrewrite:
		r, ok := resp.(*kvrpcpb.PrewriteResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_Prewrite{Prewrite: r}
	case transport.CmdCommit:
		r, ok := resp.(*kvrpcpb.CommitResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_Commit{Commit: r}
	case transport.CmdCleanup:
		r, ok := resp.(*kvrpcpb.CleanupResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_Cleanup{Cleanup: r}
	case transport.CmdBatchGet:
		r, ok := resp.(*kvrpcpb.BatchGetResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_BatchGet{BatchGet: r}
	case transport.CmdBatchRollback:
		r, ok := resp.(*kvrpcpb.BatchRollbackResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_BatchRollback{BatchRollback: r}
	case transport.CmdScanLock:
		r, ok := resp.(*kvrpcpb.ScanLockResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_ScanLock{ScanLock: r}
	case transport.CmdResolveLock:
		r, ok := resp.(*kvrpcpb.ResolveLockResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_ResolveLock{ResolveLock: r}
	case transport.CmdGC:
		r, ok := resp.(*kvrpcpb.GCResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_GC{GC: r}
	case transport.CmdDeleteRange:
		r, ok := resp.(*kvrpcpb.DeleteRangeResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_DeleteRange{DeleteRange: r}
	case transport.CmdRawGet:
		r, ok := resp.(*kvrpcpb.RawGetResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_RawGet{RawGet: r}
	case transport.CmdRawBatchGet:
		r, ok := resp.(*kvrpcpb.RawBatchGetResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_RawBatchGet{RawBatchGet: r}
	case transport.CmdRawPut:
		r, ok := resp.(*kvrpcpb.RawPutResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_RawPut{RawPut: r}
	case transport.CmdRawBatchPut:
		r, ok := resp.(*kvrpcpb.RawBatchPutResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_RawBatchPut{RawBatchPut: r}
	case transport.CmdRawDelete:
		r, ok := resp.(*kvrpcpb.RawDeleteResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_RawDelete{RawDelete: r}
	case transport.CmdRawBatchDelete:
		r, ok := resp.(*kvrpcpb.RawBatchDeleteResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_RawBatchDelete{RawBatchDelete: r}
	case transport.CmdRawScan:
		r, ok := resp.(*kvrpcpb.RawScanResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_RawScan{RawScan: r}
	case transport.CmdRawDeleteRange:
		r, ok := resp.(*kvrpcpb.RawDeleteRangeResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_RawDeleteRange{RawDeleteRange: r}
	case transport.CmdRawBatchScan:
		r, ok := resp.(*kvrpcpb.RawBatchScanResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_RawBatchScan{RawBatchScan: r}
	case transport.CmdCoprocessor:
		r, ok := resp.(*coprocessor.Response)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_Coprocessor{Coprocessor: r}
	case transport.CmdPessimisticLock:
		r, ok := resp.(*kvrpcpb.PessimisticLockResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_PessimisticLock{PessimisticLock: r}
	case transport.CmdPessimisticRollback:
		r, ok := resp.(*kvrpcpb.PessimisticRollbackResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_PessimisticRollback{PessimisticRollback: r}
	case transport.CmdCheckTxnStatus:
		r, ok := resp.(*kvrpcpb.CheckTxnStatusResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_CheckTxnStatus{CheckTxnStatus: r}
	case transport.CmdTxnHeartBeat:
		r, ok := resp.(*kvrpcpb.TxnHeartBeatResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_TxnHeartBeat{TxnHeartBeat: r}
	case transport.CmdCheckSecondaryLocks:
		r, ok := resp.(*kvrpcpb.CheckSecondaryLocksResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_CheckSecondaryLocks{CheckSecondaryLocks: r}
	case transport.CmdFlashbackToVersion:
		r, ok := resp.(*kvrpcpb.FlashbackToVersionResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_FlashbackToVersion{FlashbackToVersion: r}
	case transport.CmdPrepareFlashbackToVersion:
		r, ok := resp.(*kvrpcpb.PrepareFlashbackToVersionResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_PrepareFlashbackToVersion{PrepareFlashbackToVersion: r}
	case transport.CmdFlush:
		r, ok := resp.(*kvrpcpb.FlushResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_Flush{Flush: r}
	case transport.CmdBufferBatchGet:
		r, ok := resp.(*kvrpcpb.BufferBatchGetResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_BufferBatchGet{BufferBatchGet: r}
	case transport.CmdGetHealthFeedback:
		r, ok := resp.(*kvrpcpb.GetHealthFeedbackResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_GetHealthFeedback{GetHealthFeedback: r}
	case transport.CmdBroadcastTxnStatus:
		r, ok := resp.(*kvrpcpb.BroadcastTxnStatusResponse)
		if !ok {
			return nil
		}
		out.Cmd = &tikvpb.BatchCommandsResponse_Response_BroadcastTxnStatus{BroadcastTxnStatus: r}
	default:
		return nil
	}
	return &out
}
