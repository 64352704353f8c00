package middleware

import (
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/coprocessor"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// requestInfo builds the controller's view of one attempt as the
// middleware does.
func requestInfo(cmd transport.Cmd, msg transport.Message, store uint64, source string) *rcRequest {
	var r rcRequest
	r.fill(&transport.Request{Cmd: cmd, Msg: msg, Target: transport.Target{StoreID: store}},
		&kvrpcpb.Context{RequestSource: source})
	return &r
}

// A read is no write and costs no write bytes; a prewrite writes its
// mutations and primary, and with an internal "others" source bypasses
// the controller; a commit writes its keys; an attempt without a store
// reports store 0.
//
// ports client-go's TestMakeRequestInfo
// (internal/resourcecontrol/resource_control_test.go)
func TestRCMakeRequestInfo(t *testing.T) {
	r := requestInfo(transport.CmdBatchGet, &kvrpcpb.BatchGetRequest{}, 1, "")
	if r.IsWrite() || r.WriteBytes() != 0 || r.bypass() || r.StoreID() != 1 {
		t.Errorf("BatchGet: write %v, %d bytes, bypass %v, store %d; want a read on store 1",
			r.IsWrite(), r.WriteBytes(), r.bypass(), r.StoreID())
	}
	prewrite := &kvrpcpb.PrewriteRequest{
		Mutations:   []*kvrpcpb.Mutation{{Key: []byte("foo"), Value: []byte("bar")}},
		PrimaryLock: []byte("baz"),
	}
	r = requestInfo(transport.CmdPrewrite, prewrite, 2, "xxx_internal_others")
	if !r.IsWrite() || r.WriteBytes() != 9 || !r.bypass() || r.StoreID() != 2 {
		t.Errorf("internal prewrite: write %v, %d bytes, bypass %v, store %d; want a 9-byte bypassed write on store 2",
			r.IsWrite(), r.WriteBytes(), r.bypass(), r.StoreID())
	}
	commit := &kvrpcpb.CommitRequest{Keys: [][]byte{[]byte("qux")}}
	r = requestInfo(transport.CmdCommit, commit, 3, "")
	if !r.IsWrite() || r.WriteBytes() != 3 || r.bypass() || r.StoreID() != 3 {
		t.Errorf("commit: write %v, %d bytes, bypass %v, store %d; want a 3-byte write on store 3",
			r.IsWrite(), r.WriteBytes(), r.bypass(), r.StoreID())
	}
	if r = requestInfo(transport.CmdCommit, commit, 0, ""); r.StoreID() != 0 || r.WriteBytes() != 3 {
		t.Errorf("commit without a store: store %d, %d bytes; want 0 and 3", r.StoreID(), r.WriteBytes())
	}
}

// Only coprocessor requests report IsCop; point gets, batch gets and
// scans do not. No read-size hint is carried, which the controller reads
// as zero (the hint-less half of client-go's case).
//
// ports client-go's TestMakeRequestInfoIsCop and the no-hint half of
// TestMakeRequestInfoPredictedReadBytes
// (internal/resourcecontrol/resource_control_test.go)
func TestRCMakeRequestInfoIsCop(t *testing.T) {
	if r := requestInfo(transport.CmdCoprocessor, &coprocessor.Request{}, 1, ""); !r.IsCop() {
		t.Error("a coprocessor request does not report IsCop")
	}
	for _, tc := range []struct {
		cmd transport.Cmd
		msg transport.Message
	}{
		{transport.CmdGet, &kvrpcpb.GetRequest{}},
		{transport.CmdBatchGet, &kvrpcpb.BatchGetRequest{}},
		{transport.CmdScan, &kvrpcpb.ScanRequest{}},
	} {
		if r := requestInfo(tc.cmd, tc.msg, 1, ""); r.IsCop() {
			t.Errorf("%s reports IsCop", tc.cmd)
		}
	}
	var info any = requestInfo(transport.CmdCoprocessor, &coprocessor.Request{}, 1, "")
	if _, ok := info.(interface{ PredictedReadBytes() uint64 }); ok {
		t.Error("request info offers a read-size hint tikvgo never sets")
	}
}

// A coprocessor response with a scan detail is charged the processed
// versions' bytes, not its data's size.
//
// ports client-go's TestResponseInfoReadBytes
// (internal/resourcecontrol/resource_control_test.go), classic (not
// NextGen) accounting
func TestRCResponseInfoReadBytes(t *testing.T) {
	resp := &coprocessor.Response{Data: []byte("0123456789"), ExecDetailsV2: &kvrpcpb.ExecDetailsV2{
		ScanDetailV2: &kvrpcpb.ScanDetailV2{TotalVersionsSize: 100, ProcessedVersionsSize: 80},
	}}
	if r := newRCResponse(resp); r.ReadBytes() != 80 {
		t.Errorf("read %d bytes, want the processed versions' 80", r.ReadBytes())
	}
}

// Each nested task of a store-batched coprocessor response adds its scan
// bytes (or, without a scan detail, its data) and its KV CPU to the
// top level's.
//
// ports client-go's TestResponseInfoBatchedTasks
// (internal/resourcecontrol/resource_control_test.go)
func TestRCResponseInfoBatchedTasks(t *testing.T) {
	detail := func(total, processed uint64, wallNs uint64) *kvrpcpb.ExecDetailsV2 {
		return &kvrpcpb.ExecDetailsV2{
			ScanDetailV2: &kvrpcpb.ScanDetailV2{TotalVersionsSize: total, ProcessedVersionsSize: processed},
			TimeDetailV2: &kvrpcpb.TimeDetailV2{ProcessWallTimeNs: wallNs},
		}
	}
	resp := &coprocessor.Response{
		ExecDetailsV2: detail(100, 80, 1000),
		BatchResponses: []*coprocessor.StoreBatchTaskResponse{
			{Data: []byte("data"), ExecDetailsV2: detail(15, 10, 100)},
			{ExecDetailsV2: detail(25, 20, 200)},
			{Data: []byte("12345678")},
		},
	}
	r := newRCResponse(resp)
	if want := uint64(80 + 10 + 20 + 8); r.ReadBytes() != want {
		t.Errorf("read %d bytes, want %d", r.ReadBytes(), want)
	}
	if want := time.Duration(1000 + 100 + 200); r.KVCPU() != want {
		t.Errorf("KV CPU %v, want %v", r.KVCPU(), want)
	}
}
