package transport

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/pingcap/kvproto/pkg/coprocessor"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/protobuf/encoding/protowire"
)

// batchCodec converts one command's messages to and from the oneofs of
// tikvpb.BatchCommandsRequest_Request and BatchCommandsResponse_Response.
// Each func type-asserts its Message argument to the command's type.
type batchCodec struct {
	// field is the command's field number in the request oneof. The send
	// loop writes a sub-request as this field around bytes the caller has
	// already marshalled, so the wrapper message is never built.
	field protowire.Number

	wrapReq    func(Message, *tikvpb.BatchCommandsRequest_Request)
	unwrapReq  func(*tikvpb.BatchCommandsRequest_Request) Message // nil: another command
	wrapResp   func(Message, *tikvpb.BatchCommandsResponse_Response)
	unwrapResp func(*tikvpb.BatchCommandsResponse_Response) Message // nil: another command
}

// regBatch marks cmd batchable. The getters are the generated oneof
// accessors, which return nil when the oneof holds another command.
func regBatch[QT any, Q interface {
	*QT
	Message
}, RT any, R interface {
	*RT
	Message
}](
	cmd Cmd,
	wrapReq func(Q, *tikvpb.BatchCommandsRequest_Request),
	getReq func(*tikvpb.BatchCommandsRequest_Request) Q,
	wrapResp func(R, *tikvpb.BatchCommandsResponse_Response),
	getResp func(*tikvpb.BatchCommandsResponse_Response) R,
) {
	c := &batchCodec{
		wrapReq: func(m Message, r *tikvpb.BatchCommandsRequest_Request) { wrapReq(m.(Q), r) },
		unwrapReq: func(r *tikvpb.BatchCommandsRequest_Request) Message {
			if q := getReq(r); q != nil {
				return q
			}
			return nil
		},
		wrapResp: func(m Message, r *tikvpb.BatchCommandsResponse_Response) { wrapResp(m.(R), r) },
		unwrapResp: func(r *tikvpb.BatchCommandsResponse_Response) Message {
			if m := getResp(r); m != nil {
				return m
			}
			return nil
		},
	}
	// Read the field number off the wire form of an empty sub-request
	// rather than restating kvproto's numbering here.
	var probe tikvpb.BatchCommandsRequest_Request
	wrapReq(Q(new(QT)), &probe)
	b, err := probe.Marshal()
	if err != nil {
		panic(fmt.Sprintf("transport: marshal BatchCommands probe for %s: %v", cmd, err))
	}
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || typ != protowire.BytesType {
		panic(fmt.Sprintf("transport: BatchCommands oneof field of %s is not a message", cmd))
	}
	c.field = num
	cmdTable[cmd].batch = c
}

type (
	bReq  = tikvpb.BatchCommandsRequest_Request
	bResp = tikvpb.BatchCommandsResponse_Response
)

// registerBatchCodecs lists the commands client-go's
// tikvrpc.Request.ToBatchCommandsRequest converts, in its order. The others
// (RawGetKeyTTL, RawCompareAndSwap, RawChecksum, RawBatchScan, SplitRegion,
// UnsafeDestroyRange, StoreSafeTS, Mvcc*, GetLockWaitInfo) are always unary.
func registerBatchCodecs() {
	regBatch(CmdGet,
		func(m *kvrpcpb.GetRequest, r *bReq) { r.Cmd = &tikvpb.BatchCommandsRequest_Request_Get{Get: m} }, (*bReq).GetGet,
		func(m *kvrpcpb.GetResponse, r *bResp) { r.Cmd = &tikvpb.BatchCommandsResponse_Response_Get{Get: m} }, (*bResp).GetGet)
	regBatch(CmdScan,
		func(m *kvrpcpb.ScanRequest, r *bReq) { r.Cmd = &tikvpb.BatchCommandsRequest_Request_Scan{Scan: m} }, (*bReq).GetScan,
		func(m *kvrpcpb.ScanResponse, r *bResp) { r.Cmd = &tikvpb.BatchCommandsResponse_Response_Scan{Scan: m} }, (*bResp).GetScan)
	regBatch(CmdPrewrite,
		func(m *kvrpcpb.PrewriteRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_Prewrite{Prewrite: m}
		}, (*bReq).GetPrewrite,
		func(m *kvrpcpb.PrewriteResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_Prewrite{Prewrite: m}
		}, (*bResp).GetPrewrite)
	regBatch(CmdCommit,
		func(m *kvrpcpb.CommitRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_Commit{Commit: m}
		}, (*bReq).GetCommit,
		func(m *kvrpcpb.CommitResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_Commit{Commit: m}
		}, (*bResp).GetCommit)
	regBatch(CmdCleanup,
		func(m *kvrpcpb.CleanupRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_Cleanup{Cleanup: m}
		}, (*bReq).GetCleanup,
		func(m *kvrpcpb.CleanupResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_Cleanup{Cleanup: m}
		}, (*bResp).GetCleanup)
	regBatch(CmdBatchGet,
		func(m *kvrpcpb.BatchGetRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_BatchGet{BatchGet: m}
		}, (*bReq).GetBatchGet,
		func(m *kvrpcpb.BatchGetResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_BatchGet{BatchGet: m}
		}, (*bResp).GetBatchGet)
	regBatch(CmdBatchRollback,
		func(m *kvrpcpb.BatchRollbackRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_BatchRollback{BatchRollback: m}
		}, (*bReq).GetBatchRollback,
		func(m *kvrpcpb.BatchRollbackResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_BatchRollback{BatchRollback: m}
		}, (*bResp).GetBatchRollback)
	regBatch(CmdScanLock,
		func(m *kvrpcpb.ScanLockRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_ScanLock{ScanLock: m}
		}, (*bReq).GetScanLock,
		func(m *kvrpcpb.ScanLockResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_ScanLock{ScanLock: m}
		}, (*bResp).GetScanLock)
	regBatch(CmdResolveLock,
		func(m *kvrpcpb.ResolveLockRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_ResolveLock{ResolveLock: m}
		}, (*bReq).GetResolveLock,
		func(m *kvrpcpb.ResolveLockResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_ResolveLock{ResolveLock: m}
		}, (*bResp).GetResolveLock)
	regBatch(CmdGC,
		func(m *kvrpcpb.GCRequest, r *bReq) { r.Cmd = &tikvpb.BatchCommandsRequest_Request_GC{GC: m} }, (*bReq).GetGC,
		func(m *kvrpcpb.GCResponse, r *bResp) { r.Cmd = &tikvpb.BatchCommandsResponse_Response_GC{GC: m} }, (*bResp).GetGC)
	regBatch(CmdDeleteRange,
		func(m *kvrpcpb.DeleteRangeRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_DeleteRange{DeleteRange: m}
		}, (*bReq).GetDeleteRange,
		func(m *kvrpcpb.DeleteRangeResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_DeleteRange{DeleteRange: m}
		}, (*bResp).GetDeleteRange)
	regBatch(CmdRawGet,
		func(m *kvrpcpb.RawGetRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_RawGet{RawGet: m}
		}, (*bReq).GetRawGet,
		func(m *kvrpcpb.RawGetResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_RawGet{RawGet: m}
		}, (*bResp).GetRawGet)
	regBatch(CmdRawBatchGet,
		func(m *kvrpcpb.RawBatchGetRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_RawBatchGet{RawBatchGet: m}
		}, (*bReq).GetRawBatchGet,
		func(m *kvrpcpb.RawBatchGetResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_RawBatchGet{RawBatchGet: m}
		}, (*bResp).GetRawBatchGet)
	regBatch(CmdRawPut,
		func(m *kvrpcpb.RawPutRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_RawPut{RawPut: m}
		}, (*bReq).GetRawPut,
		func(m *kvrpcpb.RawPutResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_RawPut{RawPut: m}
		}, (*bResp).GetRawPut)
	regBatch(CmdRawBatchPut,
		func(m *kvrpcpb.RawBatchPutRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_RawBatchPut{RawBatchPut: m}
		}, (*bReq).GetRawBatchPut,
		func(m *kvrpcpb.RawBatchPutResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_RawBatchPut{RawBatchPut: m}
		}, (*bResp).GetRawBatchPut)
	regBatch(CmdRawDelete,
		func(m *kvrpcpb.RawDeleteRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_RawDelete{RawDelete: m}
		}, (*bReq).GetRawDelete,
		func(m *kvrpcpb.RawDeleteResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_RawDelete{RawDelete: m}
		}, (*bResp).GetRawDelete)
	regBatch(CmdRawBatchDelete,
		func(m *kvrpcpb.RawBatchDeleteRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_RawBatchDelete{RawBatchDelete: m}
		}, (*bReq).GetRawBatchDelete,
		func(m *kvrpcpb.RawBatchDeleteResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_RawBatchDelete{RawBatchDelete: m}
		}, (*bResp).GetRawBatchDelete)
	regBatch(CmdRawDeleteRange,
		func(m *kvrpcpb.RawDeleteRangeRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_RawDeleteRange{RawDeleteRange: m}
		}, (*bReq).GetRawDeleteRange,
		func(m *kvrpcpb.RawDeleteRangeResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_RawDeleteRange{RawDeleteRange: m}
		}, (*bResp).GetRawDeleteRange)
	regBatch(CmdRawScan,
		func(m *kvrpcpb.RawScanRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_RawScan{RawScan: m}
		}, (*bReq).GetRawScan,
		func(m *kvrpcpb.RawScanResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_RawScan{RawScan: m}
		}, (*bResp).GetRawScan)
	regBatch(CmdCoprocessor,
		func(m *coprocessor.Request, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_Coprocessor{Coprocessor: m}
		}, (*bReq).GetCoprocessor,
		func(m *coprocessor.Response, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_Coprocessor{Coprocessor: m}
		}, (*bResp).GetCoprocessor)
	regBatch(CmdPessimisticLock,
		func(m *kvrpcpb.PessimisticLockRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_PessimisticLock{PessimisticLock: m}
		}, (*bReq).GetPessimisticLock,
		func(m *kvrpcpb.PessimisticLockResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_PessimisticLock{PessimisticLock: m}
		}, (*bResp).GetPessimisticLock)
	regBatch(CmdPessimisticRollback,
		func(m *kvrpcpb.PessimisticRollbackRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_PessimisticRollback{PessimisticRollback: m}
		}, (*bReq).GetPessimisticRollback,
		func(m *kvrpcpb.PessimisticRollbackResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_PessimisticRollback{PessimisticRollback: m}
		}, (*bResp).GetPessimisticRollback)
	regBatch(CmdCheckTxnStatus,
		func(m *kvrpcpb.CheckTxnStatusRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_CheckTxnStatus{CheckTxnStatus: m}
		}, (*bReq).GetCheckTxnStatus,
		func(m *kvrpcpb.CheckTxnStatusResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_CheckTxnStatus{CheckTxnStatus: m}
		}, (*bResp).GetCheckTxnStatus)
	regBatch(CmdCheckSecondaryLocks,
		func(m *kvrpcpb.CheckSecondaryLocksRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_CheckSecondaryLocks{CheckSecondaryLocks: m}
		}, (*bReq).GetCheckSecondaryLocks,
		func(m *kvrpcpb.CheckSecondaryLocksResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_CheckSecondaryLocks{CheckSecondaryLocks: m}
		}, (*bResp).GetCheckSecondaryLocks)
	regBatch(CmdTxnHeartBeat,
		func(m *kvrpcpb.TxnHeartBeatRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_TxnHeartBeat{TxnHeartBeat: m}
		}, (*bReq).GetTxnHeartBeat,
		func(m *kvrpcpb.TxnHeartBeatResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_TxnHeartBeat{TxnHeartBeat: m}
		}, (*bResp).GetTxnHeartBeat)
	regBatch(CmdFlashbackToVersion,
		func(m *kvrpcpb.FlashbackToVersionRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_FlashbackToVersion{FlashbackToVersion: m}
		}, (*bReq).GetFlashbackToVersion,
		func(m *kvrpcpb.FlashbackToVersionResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_FlashbackToVersion{FlashbackToVersion: m}
		}, (*bResp).GetFlashbackToVersion)
	regBatch(CmdPrepareFlashbackToVersion,
		func(m *kvrpcpb.PrepareFlashbackToVersionRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_PrepareFlashbackToVersion{PrepareFlashbackToVersion: m}
		}, (*bReq).GetPrepareFlashbackToVersion,
		func(m *kvrpcpb.PrepareFlashbackToVersionResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_PrepareFlashbackToVersion{PrepareFlashbackToVersion: m}
		}, (*bResp).GetPrepareFlashbackToVersion)
	regBatch(CmdFlush,
		func(m *kvrpcpb.FlushRequest, r *bReq) { r.Cmd = &tikvpb.BatchCommandsRequest_Request_Flush{Flush: m} }, (*bReq).GetFlush,
		func(m *kvrpcpb.FlushResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_Flush{Flush: m}
		}, (*bResp).GetFlush)
	regBatch(CmdBufferBatchGet,
		func(m *kvrpcpb.BufferBatchGetRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_BufferBatchGet{BufferBatchGet: m}
		}, (*bReq).GetBufferBatchGet,
		func(m *kvrpcpb.BufferBatchGetResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_BufferBatchGet{BufferBatchGet: m}
		}, (*bResp).GetBufferBatchGet)
	regBatch(CmdGetHealthFeedback,
		func(m *kvrpcpb.GetHealthFeedbackRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_GetHealthFeedback{GetHealthFeedback: m}
		}, (*bReq).GetGetHealthFeedback,
		func(m *kvrpcpb.GetHealthFeedbackResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_GetHealthFeedback{GetHealthFeedback: m}
		}, (*bResp).GetGetHealthFeedback)
	regBatch(CmdBroadcastTxnStatus,
		func(m *kvrpcpb.BroadcastTxnStatusRequest, r *bReq) {
			r.Cmd = &tikvpb.BatchCommandsRequest_Request_BroadcastTxnStatus{BroadcastTxnStatus: m}
		}, (*bReq).GetBroadcastTxnStatus,
		func(m *kvrpcpb.BroadcastTxnStatusResponse, r *bResp) {
			r.Cmd = &tikvpb.BatchCommandsResponse_Response_BroadcastTxnStatus{BroadcastTxnStatus: m}
		}, (*bResp).GetBroadcastTxnStatus)
}

// Batchable reports whether c travels in a BatchCommands stream when the
// Pool batches: exactly the commands client-go's ToBatchCommandsRequest
// converts. Every other command, a described one included (see Describe),
// is always a unary call.
func (c Cmd) Batchable() bool { return c > CmdInvalid && c < cmdCount && cmdTable[c].batch != nil }

// WrapBatchRequest returns a BatchCommands sub-request carrying msg, which
// must be of c's request type; nil when c is not Batchable. msg is
// referenced, not copied.
func (c Cmd) WrapBatchRequest(msg Message) *tikvpb.BatchCommandsRequest_Request {
	b := c.info().batch
	if b == nil {
		return nil
	}
	r := new(tikvpb.BatchCommandsRequest_Request)
	b.wrapReq(msg, r)
	return r
}

// ErrMalformedBatchResponse is wrapped by the error a request sent in a
// BatchCommands stream fails with when the server's answer to it cannot be
// its response: a sub-response carrying another command's message, or
// none, or a request id answered without a body. The request may have been
// executed, so it does not wrap ErrNotSent. (Bytes that do not decode at all
// break the stream: gRPC reports them as an Internal status.)
var ErrMalformedBatchResponse = errors.New("transport: malformed BatchCommands response")

// UnwrapBatchResponse returns the response of c's type that a BatchCommands
// sub-response carries. It fails when c is not Batchable, and with an error
// wrapping ErrMalformedBatchResponse when r carries another command, or none.
func (c Cmd) UnwrapBatchResponse(r *tikvpb.BatchCommandsResponse_Response) (Message, error) {
	b := c.info().batch
	if b == nil {
		return nil, fmt.Errorf("transport: %s is not a BatchCommands command", c)
	}
	if m := b.unwrapResp(r); m != nil {
		return m, nil
	}
	return nil, fmt.Errorf("%w: the response to %s carries %T", ErrMalformedBatchResponse, c, r.GetCmd())
}

// WrapBatchResponse returns a BatchCommands sub-response carrying msg, which
// must be of c's response type; nil when c is not Batchable. It is the
// server side of UnwrapBatchResponse, for test servers.
func (c Cmd) WrapBatchResponse(msg Message) *tikvpb.BatchCommandsResponse_Response {
	b := c.info().batch
	if b == nil {
		return nil
	}
	r := new(tikvpb.BatchCommandsResponse_Response)
	b.wrapResp(msg, r)
	return r
}

// UnwrapBatchRequest returns the command and request message a BatchCommands
// sub-request carries, for servers. ok is false when the sub-request is
// empty, an Empty probe, or a command that is not Batchable.
func UnwrapBatchRequest(r *tikvpb.BatchCommandsRequest_Request) (cmd Cmd, msg Message, ok bool) {
	if r == nil || r.Cmd == nil {
		return CmdInvalid, nil, false
	}
	c, found := batchCmdByType()[reflect.TypeOf(r.Cmd)]
	if !found {
		return CmdInvalid, nil, false
	}
	return c, cmdTable[c].batch.unwrapReq(r), true
}

// batchCmdByType maps each oneof wrapper type to its command.
var batchCmdByType = sync.OnceValue(func() map[reflect.Type]Cmd {
	m := make(map[reflect.Type]Cmd)
	for c := CmdInvalid + 1; c < cmdCount; c++ {
		if r := c.WrapBatchRequest(c.NewRequest()); r != nil {
			m[reflect.TypeOf(r.Cmd)] = c
		}
	}
	return m
})

// sizedMarshaler is what gogo-protobuf generates for every kvproto message:
// marshalling into a caller's buffer lets a pooled entry reuse it.
type sizedMarshaler interface {
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
}

// marshalInto encodes msg into buf, reusing its capacity.
func marshalInto(buf []byte, msg Message) ([]byte, error) {
	m, ok := msg.(sizedMarshaler)
	if !ok {
		return gogoCodec{}.Marshal(msg)
	}
	n := m.Size()
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := m.MarshalToSizedBuffer(buf); err != nil {
		return nil, err
	}
	return buf, nil
}
