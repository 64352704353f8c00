package mocktikv

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// BatchCommands serves TiKV's multiplexed stream (src/server/service/kv.rs
// batch_commands): each BatchCommandsRequest carries sub-requests tagged with
// request ids; every sub-request gets exactly one sub-response carrying its
// id, in some later BatchCommandsResponse. Sub-requests run through the same
// handlers as the unary RPCs, so they are observed and checked alike.
//
// A cluster-id mismatch fails the whole stream with INVALID_ARGUMENT, as in
// TiKV. A sub-request of a command the mock does not implement yet fails the
// stream with UNIMPLEMENTED rather than going unanswered. Empty sub-requests
// are echoed with their test_id, after delay_time ms when that is >= 10.
func (s *tikvService) BatchCommands(stream tikvpb.Tikv_BatchCommandsServer) error {
	var (
		sendMu  sync.Mutex
		pending sync.WaitGroup
		ctx     = stream.Context()
	)
	defer pending.Wait()
	send := func(resp *tikvpb.BatchCommandsResponse) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return stream.Send(resp)
	}
	for {
		batch, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(batch.Requests) != len(batch.RequestIds) {
			return status.Error(codes.InvalidArgument, "mocktikv: requests and request_ids differ in length")
		}
		out := &tikvpb.BatchCommandsResponse{}
		for i, sub := range batch.Requests {
			id := batch.RequestIds[i]
			if empty, ok := sub.Cmd.(*tikvpb.BatchCommandsRequest_Request_Empty); ok {
				resp := &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_Empty{
					Empty: &tikvpb.BatchCommandsEmptyResponse{TestId: empty.Empty.GetTestId()},
				}}
				if d := empty.Empty.GetDelayTime(); d >= 10 {
					pending.Add(1)
					go func() {
						defer pending.Done()
						select {
						case <-time.After(time.Duration(d) * time.Millisecond):
							_ = send(&tikvpb.BatchCommandsResponse{Responses: []*tikvpb.BatchCommandsResponse_Response{resp}, RequestIds: []uint64{id}})
						case <-stream.Context().Done():
						}
					}()
					continue
				}
				out.Responses = append(out.Responses, resp)
				out.RequestIds = append(out.RequestIds, id)
				continue
			}
			cmd, msg := unwrapBatchRequest(sub)
			if cmd == transport.CmdInvalid {
				return status.Errorf(codes.Unimplemented, "mocktikv: batch sub-request %T is not implemented", sub.Cmd)
			}
			resp, err := s.c.handle(ctx, s.storeID, cmd, msg)
			if err != nil {
				return err
			}
			wrapped := wrapBatchResponse(resp)
			if wrapped == nil {
				return status.Errorf(codes.Internal, "mocktikv: no batch response for %T", resp)
			}
			out.Responses = append(out.Responses, wrapped)
			out.RequestIds = append(out.RequestIds, id)
		}
		if len(out.RequestIds) > 0 {
			if err := send(out); err != nil {
				return err
			}
		}
	}
}

// unwrapBatchRequest returns a sub-request's command and message, or
// CmdInvalid for one the mock does not serve.
func unwrapBatchRequest(r *tikvpb.BatchCommandsRequest_Request) (transport.Cmd, transport.Message) {
	switch c := r.Cmd.(type) {
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
	}
	return transport.CmdInvalid, nil
}

// wrapBatchResponse puts a handler's response into the stream's oneof; nil
// for a type it does not know.
func wrapBatchResponse(m transport.Message) *tikvpb.BatchCommandsResponse_Response {
	switch r := m.(type) {
	case *kvrpcpb.RawGetResponse:
		return &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_RawGet{RawGet: r}}
	case *kvrpcpb.RawBatchGetResponse:
		return &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchGet{RawBatchGet: r}}
	case *kvrpcpb.RawPutResponse:
		return &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_RawPut{RawPut: r}}
	case *kvrpcpb.RawBatchPutResponse:
		return &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchPut{RawBatchPut: r}}
	case *kvrpcpb.RawDeleteResponse:
		return &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_RawDelete{RawDelete: r}}
	case *kvrpcpb.RawBatchDeleteResponse:
		return &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchDelete{RawBatchDelete: r}}
	case *kvrpcpb.RawScanResponse:
		return &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_RawScan{RawScan: r}}
	case *kvrpcpb.RawDeleteRangeResponse:
		return &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_RawDeleteRange{RawDeleteRange: r}}
	}
	// Unreachable while unwrapBatchRequest lists the same commands.
	return nil
}
