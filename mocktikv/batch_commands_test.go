package mocktikv

import (
	"context"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/coprocessor"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// openBatch opens a BatchCommands stream to a served store.
func openBatch(ctx context.Context, t *testing.T, c *Cluster, storeID uint64) tikvpb.Tikv_BatchCommandsClient {
	t.Helper()
	return must(tikvpb.NewTikvClient(dialConn(t, c, storeID)).BatchCommands(ctx))(t)
}

// recvIDs reads sub-responses until n have arrived and returns them by id.
func recvIDs(t *testing.T, stream tikvpb.Tikv_BatchCommandsClient, n int) map[uint64]*tikvpb.BatchCommandsResponse_Response {
	t.Helper()
	got := map[uint64]*tikvpb.BatchCommandsResponse_Response{}
	for len(got) < n {
		resp := must(stream.Recv())(t)
		eq(t, len(resp.RequestIds), len(resp.Responses), "ids per responses")
		for i, id := range resp.RequestIds {
			if _, dup := got[id]; dup {
				t.Fatalf("request id %d answered twice", id)
			}
			got[id] = resp.Responses[i]
		}
	}
	return got
}

// TestBatchCommandsConcurrent: sub-requests run concurrently, so one held
// at a gate does not stall the others, in the same batch or later ones;
// it is answered, by id, once released.
func TestBatchCommandsConcurrent(t *testing.T) {
	c := Start(t)
	gate := NewGate()
	c.Inject(Fault{Cmd: transport.CmdRawPut, Key: []byte("held"), Steps: []Step{Always(Block(gate))}})
	stream := openBatch(timeout(t), t, c, 1)
	rctx := leaderCtx(c, "a")
	noErr(t, stream.Send(&tikvpb.BatchCommandsRequest{
		RequestIds: []uint64{1, 2, 3},
		Requests: []*tikvpb.BatchCommandsRequest_Request{
			wrapBatchRequest(t, transport.CmdRawPut, &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte("held"), Value: []byte("1")}),
			wrapBatchRequest(t, transport.CmdRawPut, &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte("b"), Value: []byte("2")}),
			{Cmd: &tikvpb.BatchCommandsRequest_Request_Empty{Empty: &tikvpb.BatchCommandsEmptyRequest{TestId: 42}}},
		},
	}))
	got := recvIDs(t, stream, 2)
	eq(t, got[2].GetRawPut() != nil, true, "put b answered")
	eq(t, got[3].GetEmpty().GetTestId(), uint64(42), "empty echo")
	<-gate.Arrived()

	// A later batch is not held up either.
	noErr(t, stream.Send(&tikvpb.BatchCommandsRequest{
		RequestIds: []uint64{4},
		Requests:   []*tikvpb.BatchCommandsRequest_Request{wrapBatchRequest(t, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("b")})},
	}))
	got = recvIDs(t, stream, 1)
	eq(t, string(got[4].GetRawGet().GetValue()), "2", "get b while put held is pending")
	eq(t, hasValue(t, c, "held", "1"), false, "held put executed")

	gate.Open()
	got = recvIDs(t, stream, 1)
	eq(t, got[1].GetRawPut() != nil && got[1].GetRawPut().RegionError == nil, true, "released put answered")
	eq(t, hasValue(t, c, "held", "1"), true, "released put executed")
	noErr(t, stream.CloseSend())
	_, err := stream.Recv()
	eq(t, errors.Is(err, io.EOF), true, "end of stream: %v", err)
}

// TestBatchCommandsEveryCommand: every command BatchCommands can carry is
// unwrapped, served by the handlers' path (here a fault answering with the
// command's empty response) and wrapped back with its request id.
func TestBatchCommandsEveryCommand(t *testing.T) {
	c := Start(t)
	for _, cmd := range batchCmds {
		c.Inject(Fault{Cmd: cmd, Steps: []Step{Always(Respond(func(transport.Message) transport.Message { return cmd.NewResponse() }))}})
	}
	stream := openBatch(timeout(t), t, c, 1)
	batch := &tikvpb.BatchCommandsRequest{}
	for i, cmd := range batchCmds {
		batch.RequestIds = append(batch.RequestIds, uint64(100+i))
		batch.Requests = append(batch.Requests, wrapBatchRequest(t, cmd, cmd.NewRequest()))
		// Both directions agree.
		back, msg := unwrapBatchRequest(batch.Requests[i])
		eq(t, back, cmd, "unwrap of %s", cmd)
		eq(t, reflect.TypeOf(msg), reflect.TypeOf(cmd.NewRequest()), "request type of %s", cmd)
	}
	noErr(t, stream.Send(batch))
	got := recvIDs(t, stream, len(batchCmds))
	for i, cmd := range batchCmds {
		resp := unwrapBatchResponse(got[uint64(100+i)])
		eq(t, reflect.TypeOf(resp), reflect.TypeOf(cmd.NewResponse()), "response to %s", cmd)
	}
	// A response of the wrong type is not wrapped.
	eq(t, wrapBatchResponse(transport.CmdRawGet, &kvrpcpb.RawPutResponse{}) == nil, true, "mismatched wrap")
	eq(t, wrapBatchResponse(transport.CmdSplitRegion, &kvrpcpb.SplitRegionResponse{}) == nil, true, "unary-only command wrapped")
}

// TestBatchCommandsStreamErrors: a cluster-id mismatch (TiKV's rule) and
// a fault's transport error (a broken connection) fail the whole stream
// with their status; a failing GC sub-request goes unanswered, as in TiKV.
func TestBatchCommandsStreamErrors(t *testing.T) {
	c := Start(t)
	rctx := leaderCtx(c, "a")
	cases := []struct {
		name string
		sub  func() *tikvpb.BatchCommandsRequest_Request
		code codes.Code
	}{
		{"cluster id", func() *tikvpb.BatchCommandsRequest_Request {
			bad := *rctx
			bad.ClusterId = c.ClusterID() + 1
			return wrapBatchRequest(t, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Context: &bad, Key: []byte("a")})
		}, codes.InvalidArgument},
		{"fault", func() *tikvpb.BatchCommandsRequest_Request {
			c.Inject(Fault{Cmd: transport.CmdRawGet, Key: []byte("f"), Steps: []Step{Times(1, Fail(status.Error(codes.Unavailable, "x")))}})
			return wrapBatchRequest(t, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("f")})
		}, codes.Unavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := openBatch(timeout(t), t, c, 1)
			noErr(t, stream.Send(&tikvpb.BatchCommandsRequest{RequestIds: []uint64{1}, Requests: []*tikvpb.BatchCommandsRequest_Request{tc.sub()}}))
			_, err := stream.Recv()
			eq(t, status.Code(err), tc.code, "stream error %v", err)
		})
	}

	t.Run("GC", func(t *testing.T) {
		if _, ok := handlers[transport.CmdGC]; ok {
			t.Skip("KvGC is served; the quirk applies only when it fails")
		}
		stream := openBatch(timeout(t), t, c, 1)
		noErr(t, stream.Send(&tikvpb.BatchCommandsRequest{
			RequestIds: []uint64{1, 2},
			Requests: []*tikvpb.BatchCommandsRequest_Request{
				wrapBatchRequest(t, transport.CmdGC, &kvrpcpb.GCRequest{Context: rctx}),
				{Cmd: &tikvpb.BatchCommandsRequest_Request_Empty{Empty: &tikvpb.BatchCommandsEmptyRequest{TestId: 9}}},
			},
		}))
		noErr(t, stream.CloseSend())
		got := recvIDs(t, stream, 1)
		eq(t, got[2].GetEmpty().GetTestId(), uint64(9), "empty echo")
		_, err := stream.Recv()
		eq(t, errors.Is(err, io.EOF), true, "stream ends without a GC reply: %v", err)
	})
}

// TestBatchCommandsContext: when the client abandons the stream, held
// sub-requests end with it and the server's handler returns (goleak checks
// nothing is left behind).
func TestBatchCommandsContext(t *testing.T) {
	c := Start(t)
	outcome := make(chan error, 1)
	c.OnResponse(func(_ uint64, cmd transport.Cmd, _, _ transport.Message, err error) {
		if cmd == transport.CmdRawPut {
			outcome <- err
		}
	})
	gate := NewGate()
	c.Inject(Fault{Cmd: transport.CmdRawPut, Steps: []Step{Always(Block(gate))}})
	ctx, cancel := context.WithCancel(context.Background())
	stream := openBatch(ctx, t, c, 1)
	noErr(t, stream.Send(&tikvpb.BatchCommandsRequest{
		RequestIds: []uint64{1},
		Requests:   []*tikvpb.BatchCommandsRequest_Request{wrapBatchRequest(t, transport.CmdRawPut, &kvrpcpb.RawPutRequest{Context: leaderCtx(c, "a"), Key: []byte("a")})},
	}))
	<-gate.Arrived()
	cancel()
	select {
	case err := <-outcome:
		eq(t, errors.Is(err, context.Canceled), true, "held sub-request outcome %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("held sub-request not cancelled with its stream")
	}
	eq(t, hasValue(t, c, "a", ""), false, "cancelled put executed")
}

// TestBatchCommandsEmptyDelay: an Empty sub-request with delay_time >= 10
// is echoed after that many ms; shorter delays are ignored.
func TestBatchCommandsEmptyDelay(t *testing.T) {
	c := Start(t)
	stream := openBatch(timeout(t), t, c, 1)
	start := time.Now()
	noErr(t, stream.Send(&tikvpb.BatchCommandsRequest{
		RequestIds: []uint64{1, 2},
		Requests: []*tikvpb.BatchCommandsRequest_Request{
			{Cmd: &tikvpb.BatchCommandsRequest_Request_Empty{Empty: &tikvpb.BatchCommandsEmptyRequest{TestId: 1, DelayTime: 60}}},
			{Cmd: &tikvpb.BatchCommandsRequest_Request_Empty{Empty: &tikvpb.BatchCommandsEmptyRequest{TestId: 2, DelayTime: 5}}},
		},
	}))
	first := must(stream.Recv())(t)
	eq(t, first.RequestIds[0], uint64(2), "undelayed echo first")
	second := must(stream.Recv())(t)
	eq(t, second.Responses[0].GetEmpty().GetTestId(), uint64(1), "delayed echo")
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("delayed echo after %v, want >= 60ms", d)
	}
}

// wrapBatchRequest is the client side of the stream: it puts cmd's request
// into the sub-request oneof.
func wrapBatchRequest(t testing.TB, cmd transport.Cmd, req transport.Message) *tikvpb.BatchCommandsRequest_Request {
	t.Helper()
	var out tikvpb.BatchCommandsRequest_Request
	switch cmd {
	case transport.CmdGet:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_Get{Get: req.(*kvrpcpb.GetRequest)}
	case transport.CmdScan:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_Scan{Scan: req.(*kvrpcpb.ScanRequest)}
	case transport.CmdPrewrite:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_Prewrite{Prewrite: req.(*kvrpcpb.PrewriteRequest)}
	case transport.CmdCommit:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_Commit{Commit: req.(*kvrpcpb.CommitRequest)}
	case transport.CmdCleanup:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_Cleanup{Cleanup: req.(*kvrpcpb.CleanupRequest)}
	case transport.CmdBatchGet:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_BatchGet{BatchGet: req.(*kvrpcpb.BatchGetRequest)}
	case transport.CmdBatchRollback:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_BatchRollback{BatchRollback: req.(*kvrpcpb.BatchRollbackRequest)}
	case transport.CmdScanLock:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_ScanLock{ScanLock: req.(*kvrpcpb.ScanLockRequest)}
	case transport.CmdResolveLock:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_ResolveLock{ResolveLock: req.(*kvrpcpb.ResolveLockRequest)}
	case transport.CmdGC:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_GC{GC: req.(*kvrpcpb.GCRequest)}
	case transport.CmdDeleteRange:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_DeleteRange{DeleteRange: req.(*kvrpcpb.DeleteRangeRequest)}
	case transport.CmdRawGet:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_RawGet{RawGet: req.(*kvrpcpb.RawGetRequest)}
	case transport.CmdRawBatchGet:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_RawBatchGet{RawBatchGet: req.(*kvrpcpb.RawBatchGetRequest)}
	case transport.CmdRawPut:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_RawPut{RawPut: req.(*kvrpcpb.RawPutRequest)}
	case transport.CmdRawBatchPut:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_RawBatchPut{RawBatchPut: req.(*kvrpcpb.RawBatchPutRequest)}
	case transport.CmdRawDelete:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_RawDelete{RawDelete: req.(*kvrpcpb.RawDeleteRequest)}
	case transport.CmdRawBatchDelete:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_RawBatchDelete{RawBatchDelete: req.(*kvrpcpb.RawBatchDeleteRequest)}
	case transport.CmdRawScan:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_RawScan{RawScan: req.(*kvrpcpb.RawScanRequest)}
	case transport.CmdRawDeleteRange:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_RawDeleteRange{RawDeleteRange: req.(*kvrpcpb.RawDeleteRangeRequest)}
	case transport.CmdRawBatchScan:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_RawBatchScan{RawBatchScan: req.(*kvrpcpb.RawBatchScanRequest)}
	case transport.CmdCoprocessor:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_Coprocessor{Coprocessor: req.(*coprocessor.Request)}
	case transport.CmdPessimisticLock:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_PessimisticLock{PessimisticLock: req.(*kvrpcpb.PessimisticLockRequest)}
	case transport.CmdPessimisticRollback:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_PessimisticRollback{PessimisticRollback: req.(*kvrpcpb.PessimisticRollbackRequest)}
	case transport.CmdCheckTxnStatus:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_CheckTxnStatus{CheckTxnStatus: req.(*kvrpcpb.CheckTxnStatusRequest)}
	case transport.CmdTxnHeartBeat:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_TxnHeartBeat{TxnHeartBeat: req.(*kvrpcpb.TxnHeartBeatRequest)}
	case transport.CmdCheckSecondaryLocks:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_CheckSecondaryLocks{CheckSecondaryLocks: req.(*kvrpcpb.CheckSecondaryLocksRequest)}
	case transport.CmdFlashbackToVersion:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_FlashbackToVersion{FlashbackToVersion: req.(*kvrpcpb.FlashbackToVersionRequest)}
	case transport.CmdPrepareFlashbackToVersion:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_PrepareFlashbackToVersion{PrepareFlashbackToVersion: req.(*kvrpcpb.PrepareFlashbackToVersionRequest)}
	case transport.CmdFlush:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_Flush{Flush: req.(*kvrpcpb.FlushRequest)}
	case transport.CmdBufferBatchGet:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_BufferBatchGet{BufferBatchGet: req.(*kvrpcpb.BufferBatchGetRequest)}
	case transport.CmdGetHealthFeedback:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_GetHealthFeedback{GetHealthFeedback: req.(*kvrpcpb.GetHealthFeedbackRequest)}
	case transport.CmdBroadcastTxnStatus:
		out.Cmd = &tikvpb.BatchCommandsRequest_Request_BroadcastTxnStatus{BroadcastTxnStatus: req.(*kvrpcpb.BroadcastTxnStatusRequest)}
	default:
		t.Fatalf("%s is not available in BatchCommands", cmd)
	}
	return &out
}

// unwrapBatchResponse is the client side of the stream: the response message
// inside a sub-response.
func unwrapBatchResponse(r *tikvpb.BatchCommandsResponse_Response) transport.Message {
	switch c := r.Cmd.(type) {
	case *tikvpb.BatchCommandsResponse_Response_Get:
		return c.Get
	case *tikvpb.BatchCommandsResponse_Response_Scan:
		return c.Scan
	case *tikvpb.BatchCommandsResponse_Response_Prewrite:
		return c.Prewrite
	case *tikvpb.BatchCommandsResponse_Response_Commit:
		return c.Commit
	case *tikvpb.BatchCommandsResponse_Response_Cleanup:
		return c.Cleanup
	case *tikvpb.BatchCommandsResponse_Response_BatchGet:
		return c.BatchGet
	case *tikvpb.BatchCommandsResponse_Response_BatchRollback:
		return c.BatchRollback
	case *tikvpb.BatchCommandsResponse_Response_ScanLock:
		return c.ScanLock
	case *tikvpb.BatchCommandsResponse_Response_ResolveLock:
		return c.ResolveLock
	case *tikvpb.BatchCommandsResponse_Response_GC:
		return c.GC
	case *tikvpb.BatchCommandsResponse_Response_DeleteRange:
		return c.DeleteRange
	case *tikvpb.BatchCommandsResponse_Response_RawGet:
		return c.RawGet
	case *tikvpb.BatchCommandsResponse_Response_RawBatchGet:
		return c.RawBatchGet
	case *tikvpb.BatchCommandsResponse_Response_RawPut:
		return c.RawPut
	case *tikvpb.BatchCommandsResponse_Response_RawBatchPut:
		return c.RawBatchPut
	case *tikvpb.BatchCommandsResponse_Response_RawDelete:
		return c.RawDelete
	case *tikvpb.BatchCommandsResponse_Response_RawBatchDelete:
		return c.RawBatchDelete
	case *tikvpb.BatchCommandsResponse_Response_RawScan:
		return c.RawScan
	case *tikvpb.BatchCommandsResponse_Response_RawDeleteRange:
		return c.RawDeleteRange
	case *tikvpb.BatchCommandsResponse_Response_RawBatchScan:
		return c.RawBatchScan
	case *tikvpb.BatchCommandsResponse_Response_Coprocessor:
		return c.Coprocessor
	case *tikvpb.BatchCommandsResponse_Response_PessimisticLock:
		return c.PessimisticLock
	case *tikvpb.BatchCommandsResponse_Response_PessimisticRollback:
		return c.PessimisticRollback
	case *tikvpb.BatchCommandsResponse_Response_CheckTxnStatus:
		return c.CheckTxnStatus
	case *tikvpb.BatchCommandsResponse_Response_TxnHeartBeat:
		return c.TxnHeartBeat
	case *tikvpb.BatchCommandsResponse_Response_CheckSecondaryLocks:
		return c.CheckSecondaryLocks
	case *tikvpb.BatchCommandsResponse_Response_FlashbackToVersion:
		return c.FlashbackToVersion
	case *tikvpb.BatchCommandsResponse_Response_PrepareFlashbackToVersion:
		return c.PrepareFlashbackToVersion
	case *tikvpb.BatchCommandsResponse_Response_Flush:
		return c.Flush
	case *tikvpb.BatchCommandsResponse_Response_BufferBatchGet:
		return c.BufferBatchGet
	case *tikvpb.BatchCommandsResponse_Response_GetHealthFeedback:
		return c.GetHealthFeedback
	case *tikvpb.BatchCommandsResponse_Response_BroadcastTxnStatus:
		return c.BroadcastTxnStatus
	}
	return nil
}

// batchCmds lists the commands BatchCommands carries.
var batchCmds = []transport.Cmd{
	transport.CmdGet,
	transport.CmdScan,
	transport.CmdPrewrite,
	transport.CmdCommit,
	transport.CmdCleanup,
	transport.CmdBatchGet,
	transport.CmdBatchRollback,
	transport.CmdScanLock,
	transport.CmdResolveLock,
	transport.CmdGC,
	transport.CmdDeleteRange,
	transport.CmdRawGet,
	transport.CmdRawBatchGet,
	transport.CmdRawPut,
	transport.CmdRawBatchPut,
	transport.CmdRawDelete,
	transport.CmdRawBatchDelete,
	transport.CmdRawScan,
	transport.CmdRawDeleteRange,
	transport.CmdRawBatchScan,
	transport.CmdCoprocessor,
	transport.CmdPessimisticLock,
	transport.CmdPessimisticRollback,
	transport.CmdCheckTxnStatus,
	transport.CmdTxnHeartBeat,
	transport.CmdCheckSecondaryLocks,
	transport.CmdFlashbackToVersion,
	transport.CmdPrepareFlashbackToVersion,
	transport.CmdFlush,
	transport.CmdBufferBatchGet,
	transport.CmdGetHealthFeedback,
	transport.CmdBroadcastTxnStatus,
}
