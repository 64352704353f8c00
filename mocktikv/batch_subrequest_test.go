package mocktikv

import (
	"errors"
	"io"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"

	"github.com/tikvgo/tikv/transport"
)

// TestBatchCommandsAnswersEachSubRequest: as in TiKV's
// handle_batch_commands_request, each sub-request is answered on its own and
// the stream stays open. In one batch, beside a request held in flight: a
// command the store does not serve and an empty oneof get an empty answer
// under their ids, a failing GC gets none, a region error is that
// sub-request's answer; none of them disturbs the held request, the
// well-formed neighbours, or the next batch on the same stream.
func TestBatchCommandsAnswersEachSubRequest(t *testing.T) {
	c := Start(t)
	gate := NewGate()
	c.Inject(Fault{Cmd: transport.CmdRawPut, Key: []byte("held"), Steps: []Step{Always(Block(gate))}})
	busy := &errorpb.Error{Message: "busy", ServerIsBusy: &errorpb.ServerIsBusy{Reason: "test"}}
	c.Inject(Fault{Cmd: transport.CmdRawGet, Key: []byte("busy"), Steps: []Step{Always(RegionError(busy))}})
	rctx := leaderCtx(c, "a")
	stream := openBatch(timeout(t), t, c, 1)

	noErr(t, stream.Send(&tikvpb.BatchCommandsRequest{
		RequestIds: []uint64{1, 2, 3, 4, 5, 6},
		Requests: []*tikvpb.BatchCommandsRequest_Request{
			wrapBatchRequest(t, transport.CmdRawPut, &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte("held"), Value: []byte("h")}),
			{Cmd: &tikvpb.BatchCommandsRequest_Request_Import{Import: &kvrpcpb.ImportRequest{}}},
			{}, // no cmd: TiKV's "invalid request"
			wrapBatchRequest(t, transport.CmdGC, &kvrpcpb.GCRequest{Context: rctx}),
			wrapBatchRequest(t, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("busy")}),
			wrapBatchRequest(t, transport.CmdRawPut, &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte("b"), Value: []byte("2")}),
		},
	}))
	<-gate.Arrived()
	got := recvIDs(t, stream, 4)
	eq(t, len(got), 4, "answers")
	eq(t, got[2] != nil && got[2].Cmd == nil, true, "unserved command answered empty: %v", got[2])
	eq(t, got[3] != nil && got[3].Cmd == nil, true, "empty oneof answered empty: %v", got[3])
	eqProto(t, got[5].GetRawGet().GetRegionError(), busy, "region error of its own sub-request")
	eq(t, got[6].GetRawPut() != nil && got[6].GetRawPut().GetRegionError() == nil && got[6].GetRawPut().GetError() == "", true, "neighbour served: %v", got[6])

	// The stream is still open: the next batch is served.
	noErr(t, stream.Send(&tikvpb.BatchCommandsRequest{
		RequestIds: []uint64{7},
		Requests:   []*tikvpb.BatchCommandsRequest_Request{wrapBatchRequest(t, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("b")})},
	}))
	eq(t, string(recvIDs(t, stream, 1)[7].GetRawGet().GetValue()), "2", "next batch")

	// The held request was not disturbed: released, it is answered, and
	// then the stream ends cleanly with no answer to the GC.
	gate.Open()
	noErr(t, stream.CloseSend())
	held := recvIDs(t, stream, 1)
	eq(t, held[1].GetRawPut() != nil && held[1].GetRawPut().GetError() == "", true, "held request answered: %v", held)
	_, err := stream.Recv()
	eq(t, errors.Is(err, io.EOF), true, "stream ends cleanly, GC unanswered: %v", err)
	eq(t, hasValue(t, c, "held", "h"), true, "held put applied")
}
