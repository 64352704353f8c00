package transport

import (
	"fmt"
	"reflect"

	"github.com/pingcap/kvproto/pkg/coprocessor"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
)

// StartTS returns the transaction timestamp the attempt's command works
// at, 0 when it has none (client-go's tikvrpc.Request.GetStartTS): the
// read version of KvGet, KvBatchGet, KvScan, KvBufferBatchGet and
// Coprocessor; the start version of the transaction a prewrite, commit,
// cleanup, rollback, lock, heartbeat, flush or resolve-lock command
// belongs to; the lock's ts of KvCheckTxnStatus; the max version of
// KvScanLock; the start ts of a flashback and of MvccGetByStartTs. Raw and
// store-level commands have none. Middleware uses it to tag or route by
// transaction without knowing every message type.
func (r *Request) StartTS() uint64 {
	switch m := r.Msg.(type) {
	case *kvrpcpb.GetRequest:
		return m.GetVersion()
	case *kvrpcpb.ScanRequest:
		return m.GetVersion()
	case *kvrpcpb.BatchGetRequest:
		return m.GetVersion()
	case *kvrpcpb.BufferBatchGetRequest:
		return m.GetVersion()
	case *kvrpcpb.PrewriteRequest:
		return m.GetStartVersion()
	case *kvrpcpb.CommitRequest:
		return m.GetStartVersion()
	case *kvrpcpb.CleanupRequest:
		return m.GetStartVersion()
	case *kvrpcpb.BatchRollbackRequest:
		return m.GetStartVersion()
	case *kvrpcpb.ScanLockRequest:
		return m.GetMaxVersion()
	case *kvrpcpb.ResolveLockRequest:
		return m.GetStartVersion()
	case *kvrpcpb.PessimisticLockRequest:
		return m.GetStartVersion()
	case *kvrpcpb.PessimisticRollbackRequest:
		return m.GetStartVersion()
	case *kvrpcpb.TxnHeartBeatRequest:
		return m.GetStartVersion()
	case *kvrpcpb.CheckTxnStatusRequest:
		return m.GetLockTs()
	case *kvrpcpb.CheckSecondaryLocksRequest:
		return m.GetStartVersion()
	case *kvrpcpb.FlashbackToVersionRequest:
		return m.GetStartTs()
	case *kvrpcpb.PrepareFlashbackToVersionRequest:
		return m.GetStartTs()
	case *kvrpcpb.FlushRequest:
		return m.GetStartTs()
	case *kvrpcpb.MvccGetByStartTsRequest:
		return m.GetStartTs()
	case *coprocessor.Request:
		return m.GetStartTs()
	}
	return 0
}

// sizer is a gogo-protobuf message: it knows its encoded size.
type sizer interface{ Size() int }

// Size returns the encoded size of the attempt's message in bytes, for
// every command (client-go's Request.GetSize counts only some commands;
// the wire carries them all). The keyspace layer may still add a prefix
// to each key below the middleware that asks.
func (r *Request) Size() int {
	if s, ok := r.Msg.(sizer); ok {
		return s.Size()
	}
	return 0
}

// IsTxnWrite reports a transactional command that writes data or locks
// (client-go's Request.IsTxnWriteRequest, for fault injection and
// accounting): Cmd.IsWrite and the transactional key space.
func (c Cmd) IsTxnWrite() bool {
	m, ok := c.KeyMode()
	return ok && m == kv.ModeTxn && c.IsWrite()
}

// IsRawWrite reports a raw command that writes (client-go's
// Request.IsRawWriteRequest lists RawPut, RawBatchPut and RawDelete only;
// this includes every raw write: the batch delete, the range delete and
// CompareAndSwap too).
func (c Cmd) IsRawWrite() bool {
	m, ok := c.KeyMode()
	return ok && m == kv.ModeRaw && c.IsWrite()
}

// Size returns the encoded size of the response message in bytes
// (client-go's Response.GetSize).
func (r *Response) Size() int {
	if s, ok := r.Msg.(sizer); ok {
		return s.Size()
	}
	return 0
}

// RegionError returns the region error the response carries, nil when it
// has none or its command cannot carry one (client-go's
// Response.GetRegionError).
func (r *Response) RegionError() *errorpb.Error {
	if m, ok := r.Msg.(interface{ GetRegionError() *errorpb.Error }); ok {
		return m.GetRegionError()
	}
	return nil
}

// ExecDetailsV2 returns TiKV's execution details of the response, nil
// when it has none (client-go's Response.GetExecDetailsV2).
func (r *Response) ExecDetailsV2() *kvrpcpb.ExecDetailsV2 {
	if m, ok := r.Msg.(interface{ GetExecDetailsV2() *kvrpcpb.ExecDetailsV2 }); ok {
		return m.GetExecDetailsV2()
	}
	return nil
}

// RegionErrorResponse returns the response TiKV would send for cmd when it
// refuses the request with the region error e: an empty response of cmd's
// type with only its region_error set (client-go's GenRegionErrorResp). A
// middleware or a test Sender uses it to answer an attempt as a store
// would, so that pipeline.Retry handles the answer as TiKV's. A command
// whose response has no region_error field (GetStoreSafeTS,
// BroadcastTxnStatus) is refused
// with an error wrapping kv.ErrInvalidArgument.
func RegionErrorResponse(cmd Cmd, e *errorpb.Error) (*Response, error) {
	if !cmd.Valid() {
		return nil, fmt.Errorf("transport: region error response for %v: %w", cmd, kv.ErrInvalidArgument)
	}
	msg := cmd.NewResponse()
	v := reflect.ValueOf(msg).Elem()
	f := v.FieldByName("RegionError")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*errorpb.Error]() {
		return nil, fmt.Errorf("transport: %s's response carries no region error: %w", cmd, kv.ErrInvalidArgument)
	}
	f.Set(reflect.ValueOf(e))
	return &Response{Msg: msg}, nil
}
