package transport

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// clientGoBatchable is client-go's tikvrpc.Request.ToBatchCommandsRequest
// list, minus Empty, which tikvgo has no Cmd for.
var clientGoBatchable = map[Cmd]bool{
	CmdGet: true, CmdScan: true, CmdPrewrite: true, CmdCommit: true, CmdCleanup: true,
	CmdBatchGet: true, CmdBatchRollback: true, CmdScanLock: true, CmdResolveLock: true,
	CmdGC: true, CmdDeleteRange: true,
	CmdRawGet: true, CmdRawBatchGet: true, CmdRawPut: true, CmdRawBatchPut: true,
	CmdRawDelete: true, CmdRawBatchDelete: true, CmdRawDeleteRange: true, CmdRawScan: true,
	CmdCoprocessor: true, CmdPessimisticLock: true, CmdPessimisticRollback: true,
	CmdCheckTxnStatus: true, CmdCheckSecondaryLocks: true, CmdTxnHeartBeat: true,
	CmdFlashbackToVersion: true, CmdPrepareFlashbackToVersion: true, CmdFlush: true,
	CmdBufferBatchGet: true, CmdGetHealthFeedback: true, CmdBroadcastTxnStatus: true,
}

func TestCmdBatchableIsClientGoList(t *testing.T) {
	for _, c := range allCmds() {
		assert.Equal(t, clientGoBatchable[c], c.Batchable(), "%s", c)
	}
	for _, c := range []Cmd{CmdInvalid, neverCmd, CmdRawGetKeyTTL, CmdRawCompareAndSwap, CmdRawChecksum,
		CmdRawBatchScan, CmdSplitRegion, CmdUnsafeDestroyRange, CmdStoreSafeTS, CmdMvccGetByKey,
		CmdMvccGetByStartTs, CmdGetLockWaitInfo} {
		assert.False(t, c.Batchable(), "%s", c)
	}
}

// oneofMessage returns the full name of the message a BatchCommands
// request or response oneof holds.
func oneofMessage(t *testing.T, m Message) protoreflect.FullName {
	t.Helper()
	r := protoadapt.MessageV2Of(m).ProtoReflect()
	od := r.Descriptor().Oneofs().ByName("cmd")
	require.NotNil(t, od)
	fd := r.WhichOneof(od)
	require.NotNil(t, fd, "oneof not set")
	return fd.Message().FullName()
}

func TestCmdBatchWrapUnwrapEveryCmd(t *testing.T) {
	for c := range clientGoBatchable {
		t.Run(c.String(), func(t *testing.T) {
			req := c.WithContext(c.NewRequest(), &kvrpcpb.Context{RegionId: 7})
			breq := c.WrapBatchRequest(req)
			require.NotNil(t, breq)
			require.Equal(t, messageName(req), oneofMessage(t, breq), "request oneof field")

			gotCmd, gotMsg, ok := UnwrapBatchRequest(breq)
			require.True(t, ok)
			require.Equal(t, c, gotCmd)
			require.Same(t, req, gotMsg)

			// The field number the send loop writes is the oneof's.
			wire, err := breq.Marshal()
			require.NoError(t, err)
			num, _, _ := protowire.ConsumeTag(wire)
			require.Equal(t, cmdTable[c].batch.field, num)

			resp := c.NewResponse()
			bresp := c.WrapBatchResponse(resp)
			require.NotNil(t, bresp)
			require.Equal(t, messageName(resp), oneofMessage(t, bresp), "response oneof field")
			got, err := c.UnwrapBatchResponse(bresp)
			require.NoError(t, err)
			require.Same(t, resp, got)

			// Every other command's response is refused.
			for other := range clientGoBatchable {
				if other != c {
					_, err := other.UnwrapBatchResponse(bresp)
					require.Error(t, err, "%s accepted %s's response", other, c)
				}
			}
		})
	}
}

func TestCmdBatchNotBatchable(t *testing.T) {
	for _, c := range allCmds() {
		if c.Batchable() {
			continue
		}
		require.Nil(t, c.WrapBatchRequest(c.NewRequest()), "%s", c)
		require.Nil(t, c.WrapBatchResponse(c.NewResponse()), "%s", c)
		_, err := c.UnwrapBatchResponse(&tikvpb.BatchCommandsResponse_Response{})
		require.Error(t, err, "%s", c)
	}
	_, err := CmdRawGet.UnwrapBatchResponse(&tikvpb.BatchCommandsResponse_Response{})
	require.Error(t, err, "a response without a command")

	for name, r := range map[string]*tikvpb.BatchCommandsRequest_Request{
		"nil":   nil,
		"unset": {},
		"empty": {Cmd: &tikvpb.BatchCommandsRequest_Request_Empty{Empty: &tikvpb.BatchCommandsEmptyRequest{}}},
		"other": {Cmd: &tikvpb.BatchCommandsRequest_Request_RawCoprocessor{RawCoprocessor: &kvrpcpb.RawCoprocessorRequest{}}},
	} {
		c, m, ok := UnwrapBatchRequest(r)
		require.False(t, ok, name)
		require.Equal(t, CmdInvalid, c, name)
		require.Nil(t, m, name)
	}
}

// TestEncodeBatchWireFormat checks the hand-built BatchCommandsRequest
// against kvproto's decoder, with every batchable command in one batch.
//
// ports client-go's TestEncodedBatchCmd_SizeAndMarshalTo and
// TestEncodeRequestCmd_Basic (internal/client/client_batch_test.go): a
// batch of pre-encoded sub-requests has the size and bytes of the same
// batch marshalled whole.
func TestEncodeBatchWireFormat(t *testing.T) {
	var (
		entries []*batchEntry
		ids     []uint64
		want    []Message
		cmds    []Cmd
	)
	id := uint64(1)
	for _, c := range allCmds() {
		if !c.Batchable() {
			continue
		}
		req := c.WithContext(c.NewRequest(), &kvrpcpb.Context{RegionId: id, RequestSource: "test"})
		buf, err := marshalInto(nil, req)
		require.NoError(t, err)
		entries = append(entries, &batchEntry{buf: buf, field: cmdTable[c].batch.field})
		ids = append(ids, id<<40) // multi-byte varints
		want = append(want, req)
		cmds = append(cmds, c)
		id++
	}
	wire := encodeBatch(entries, ids, 1234567890123)

	var got tikvpb.BatchCommandsRequest
	require.NoError(t, got.Unmarshal(wire))
	require.Equal(t, ids, got.RequestIds)
	require.EqualValues(t, 1234567890123, got.ClientSendTimeNs)
	require.Len(t, got.Requests, len(want))
	for i, r := range got.Requests {
		c, m, ok := UnwrapBatchRequest(r)
		require.True(t, ok, "%d", i)
		require.Equal(t, cmds[i], c)
		require.True(t, proto.Equal(protoadapt.MessageV2Of(want[i]), protoadapt.MessageV2Of(m)), "%s", c)
	}

	// And byte for byte what kvproto's marshaller writes.
	ref := &tikvpb.BatchCommandsRequest{RequestIds: ids, ClientSendTimeNs: 1234567890123}
	for i, c := range cmds {
		ref.Requests = append(ref.Requests, c.WrapBatchRequest(want[i]))
	}
	refWire, err := ref.Marshal()
	require.NoError(t, err)
	require.Equal(t, refWire, []byte(wire))
}

func TestMarshalIntoReusesBuffer(t *testing.T) {
	req := &kvrpcpb.RawGetRequest{Key: []byte("key"), Cf: "default"}
	want, err := req.Marshal()
	require.NoError(t, err)
	buf := make([]byte, 0, 64)
	got, err := marshalInto(buf, req)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Same(t, &buf[:1][0], &got[0], "the buffer was not reused")
	got, err = marshalInto(nil, req)
	require.NoError(t, err)
	require.Equal(t, want, got)
}
