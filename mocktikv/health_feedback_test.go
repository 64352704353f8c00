package mocktikv

import (
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// emptyBatch is a batch of one Empty sub-request.
func emptyBatch(id uint64) *tikvpb.BatchCommandsRequest {
	return &tikvpb.BatchCommandsRequest{
		RequestIds: []uint64{id},
		Requests:   []*tikvpb.BatchCommandsRequest_Request{{Cmd: &tikvpb.BatchCommandsRequest_Request_Empty{Empty: &tikvpb.BatchCommandsEmptyRequest{TestId: id}}}},
	}
}

// feedbackBatch is a batch of one GetHealthFeedback sub-request.
func feedbackBatch(id uint64) *tikvpb.BatchCommandsRequest {
	return &tikvpb.BatchCommandsRequest{
		RequestIds: []uint64{id},
		Requests: []*tikvpb.BatchCommandsRequest_Request{{Cmd: &tikvpb.BatchCommandsRequest_Request_GetHealthFeedback{
			GetHealthFeedback: &kvrpcpb.GetHealthFeedbackRequest{Context: &kvrpcpb.Context{}},
		}}},
	}
}

// TestGetHealthFeedbackUnary: the unary RPC answers the store's feedback
// (store id, a sequence number starting at the store's start time in unix
// ms and growing by one per message, the slow score SetSlowScore set),
// checks the cluster id, and a restarted store starts over at score 1.
func TestGetHealthFeedbackUnary(t *testing.T) {
	before := uint64(time.Now().UnixMilli())
	c := Start(t, WithStores(2))
	cli := tikvpb.NewTikvClient(dialConn(t, c, 2))
	get := func() *kvrpcpb.HealthFeedback {
		t.Helper()
		resp := must(cli.GetHealthFeedback(timeout(t), &kvrpcpb.GetHealthFeedbackRequest{Context: &kvrpcpb.Context{ClusterId: c.ClusterID()}}))(t)
		eq(t, resp.RegionError == nil, true, "region error %v", resp.RegionError)
		return resp.HealthFeedback
	}
	first := get()
	eq(t, first.GetStoreId(), uint64(2), "store id")
	eq(t, first.GetSlowScore(), int32(1), "initial slow score")
	if seq := first.GetFeedbackSeqNo(); seq < before || seq > uint64(time.Now().UnixMilli()) {
		t.Fatalf("first feedback_seq_no %d, want the start time in unix ms (>= %d)", seq, before)
	}

	noErr(t, c.SetSlowScore(2, 80))
	second := get()
	eq(t, second.GetSlowScore(), int32(80), "slow score after SetSlowScore")
	eq(t, second.GetFeedbackSeqNo(), first.GetFeedbackSeqNo()+1, "next sequence number")

	// In process, the same answer.
	resp := must(c.Sender().Send(timeout(t), &transport.Request{
		Cmd: transport.CmdGetHealthFeedback, Msg: &kvrpcpb.GetHealthFeedbackRequest{}, Target: transport.Target{StoreID: 2},
	}))(t)
	hf := resp.Msg.(*kvrpcpb.GetHealthFeedbackResponse).HealthFeedback
	eq(t, [3]uint64{hf.GetStoreId(), hf.GetFeedbackSeqNo(), uint64(hf.GetSlowScore())}, [3]uint64{2, second.GetFeedbackSeqNo() + 1, 80}, "in-process feedback")

	_, err := cli.GetHealthFeedback(timeout(t), &kvrpcpb.GetHealthFeedbackRequest{Context: &kvrpcpb.Context{ClusterId: c.ClusterID() + 1}})
	eq(t, status.Code(err), codes.InvalidArgument, "other cluster: %v", err)

	noErr(t, c.StopStore(2))
	noErr(t, c.StartStore(2))
	cli = tikvpb.NewTikvClient(dialConn(t, c, 2)) // the old connection died with the store
	eq(t, get().GetSlowScore(), int32(1), "slow score of the restarted store")

	for _, bad := range []int{0, 101, -5} {
		if err := c.SetSlowScore(2, bad); err == nil {
			t.Fatalf("SetSlowScore(%d) succeeded", bad)
		}
	}
	if err := c.SetSlowScore(9, 50); err == nil {
		t.Fatal("SetSlowScore of an unknown store succeeded")
	}
}

// TestHealthFeedbackOnBatchCommands: TiKV attaches the store's feedback to
// the first response batch of a stream and then once per interval, and
// always to a batch answering GetHealthFeedback, whose sub-response holds
// the same feedback.
func TestHealthFeedbackOnBatchCommands(t *testing.T) {
	t.Run("interval", func(t *testing.T) {
		c := Start(t, WithHealthFeedbackInterval(time.Hour))
		noErr(t, c.SetSlowScore(1, 40))
		stream := openBatch(timeout(t), t, c, 1)

		noErr(t, stream.Send(emptyBatch(1)))
		first := must(stream.Recv())(t)
		hf := first.GetHealthFeedback()
		eq(t, hf != nil, true, "first batch of the stream carries feedback")
		eq(t, [2]uint64{hf.GetStoreId(), uint64(hf.GetSlowScore())}, [2]uint64{1, 40}, "store id and slow score")

		noErr(t, stream.Send(emptyBatch(2)))
		eq(t, must(stream.Recv())(t).GetHealthFeedback() == nil, true, "second batch within the interval carries none")

		noErr(t, stream.Send(feedbackBatch(3)))
		asked := must(stream.Recv())(t)
		eq(t, asked.RequestIds[0], uint64(3), "answer id")
		sub := asked.Responses[0].GetGetHealthFeedback()
		eqProto(t, asked.GetHealthFeedback(), sub.GetHealthFeedback(), "batch and sub-response feedback")
		eq(t, sub.GetHealthFeedback().GetFeedbackSeqNo(), hf.GetFeedbackSeqNo()+1, "sequence number")

		// A second stream starts with feedback of its own; the sequence
		// is the store's, shared by every stream.
		other := openBatch(timeout(t), t, c, 1)
		noErr(t, other.Send(emptyBatch(1)))
		eq(t, must(other.Recv())(t).GetHealthFeedback().GetFeedbackSeqNo(), hf.GetFeedbackSeqNo()+2, "second stream's first feedback")
	})
	t.Run("off", func(t *testing.T) {
		c := Start(t, WithHealthFeedbackInterval(0))
		stream := openBatch(timeout(t), t, c, 1)
		noErr(t, stream.Send(emptyBatch(1)))
		eq(t, must(stream.Recv())(t).GetHealthFeedback() == nil, true, "no periodic feedback")
		noErr(t, stream.Send(feedbackBatch(2)))
		asked := must(stream.Recv())(t)
		eq(t, asked.GetHealthFeedback().GetStoreId(), uint64(1), "feedback asked for is attached regardless")
	})
}

// TestFeedbackAttacherInterval: the attacher's clock rule, with explicit
// times (TiKV's attach_if_needed): the first batch, then the first one at
// least the interval after the last attached, including one answering
// GetHealthFeedback.
func TestFeedbackAttacherInterval(t *testing.T) {
	a := &feedbackAttacher{store: newStoreHealth(1), interval: time.Second}
	t0 := time.Unix(1000, 0)
	send := func(at time.Duration, asked bool) bool {
		out := &tikvpb.BatchCommandsResponse{Responses: []*tikvpb.BatchCommandsResponse_Response{{}}}
		if asked {
			out.Responses[0].Cmd = &tikvpb.BatchCommandsResponse_Response_GetHealthFeedback{GetHealthFeedback: &kvrpcpb.GetHealthFeedbackResponse{}}
		}
		a.attach(out, t0.Add(at))
		return out.HealthFeedback != nil
	}
	for i, step := range []struct {
		at    time.Duration
		asked bool
		want  bool
	}{
		{0, false, true},                       // first of the stream
		{999 * time.Millisecond, false, false}, // within the interval
		{time.Second, false, true},             // interval reached
		{1500 * time.Millisecond, true, true},  // asked for: always, and restarts the interval
		{2400 * time.Millisecond, false, false},
		{2500 * time.Millisecond, false, true},
	} {
		eq(t, send(step.at, step.asked), step.want, "batch %d at +%v", i, step.at)
	}
}

// TestGetHealthFeedbackEveryMode: the command answers alike in process and
// through tikvgo's transport, batched (where it rides the BatchCommands
// stream, as client-go sends it) and unary.
func TestGetHealthFeedbackEveryMode(t *testing.T) {
	for _, mode := range allSendModes {
		t.Run(string(mode), func(t *testing.T) {
			c := Start(t)
			noErr(t, c.SetSlowScore(1, 95))
			resp := must(senderFor(t, c, mode).Send(timeout(t), &transport.Request{
				Cmd:    transport.CmdGetHealthFeedback,
				Msg:    &kvrpcpb.GetHealthFeedbackRequest{Context: &kvrpcpb.Context{}},
				Target: transport.Target{StoreID: 1, Addr: c.StoreAddr(1)},
			}))(t)
			hf := resp.Msg.(*kvrpcpb.GetHealthFeedbackResponse).GetHealthFeedback()
			eq(t, [2]uint64{hf.GetStoreId(), uint64(hf.GetSlowScore())}, [2]uint64{1, 95}, "feedback")
		})
	}
}
