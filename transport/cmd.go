package transport

import (
	"fmt"
	"reflect"

	"github.com/pingcap/kvproto/pkg/coprocessor"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
)

// Cmd identifies a TiKV command (one RPC of the tikvpb.Tikv service): one
// of the built-in commands below, or one made by Describe for an RPC the
// table lacks. A Cmd is a small integer, valid for the life of the process.
type Cmd uint16

// The built-in commands. The zero Cmd is invalid.
const (
	CmdInvalid Cmd = iota

	CmdGet
	CmdScan
	CmdPrewrite
	CmdPessimisticLock
	CmdPessimisticRollback
	CmdTxnHeartBeat
	CmdCheckTxnStatus
	CmdCheckSecondaryLocks
	CmdCommit
	CmdCleanup
	CmdBatchGet
	CmdBatchRollback
	CmdScanLock
	CmdResolveLock
	CmdGC
	CmdDeleteRange
	CmdPrepareFlashbackToVersion
	CmdFlashbackToVersion
	CmdFlush
	CmdBufferBatchGet

	CmdRawGet
	CmdRawBatchGet
	CmdRawPut
	CmdRawBatchPut
	CmdRawDelete
	CmdRawBatchDelete
	CmdRawScan
	CmdRawDeleteRange
	CmdRawBatchScan
	CmdRawGetKeyTTL
	CmdRawCompareAndSwap
	CmdRawChecksum

	CmdUnsafeDestroyRange
	CmdSplitRegion
	CmdMvccGetByKey
	CmdMvccGetByStartTs
	CmdStoreSafeTS
	CmdGetLockWaitInfo
	CmdGetHealthFeedback
	CmdCoprocessor
	CmdBroadcastTxnStatus

	cmdCount
)

// cmdInfo is one row of the command table. Rows never change once the
// command is in use: built-in rows are filled by init, described rows are
// complete before Describe publishes them.
type cmdInfo struct {
	name       string // the RPC's name in tikvpb.Tikv, e.g. "KvGet"
	fullMethod string // the gRPC method path, e.g. "/tikvpb.Tikv/KvGet"
	write      bool   // the command changes data (or locks)
	// mode is the key space of the command's keys; zero when it has none
	// (store-level and administrative commands).
	mode kv.KeyMode
	// reqType is the Go type of the request message, checked by the Pool.
	reqType reflect.Type
	// cmd is the row's own command.
	cmd Cmd
	// desc is the descriptor of a command made by Describe; nil for the
	// built-in ones.
	desc *CmdDesc
	// newReq and newResp allocate empty messages of the command's types.
	newReq  func() Message
	newResp func() Message
	// withContext returns a shallow copy of a request with its Context
	// replaced; nil for store-level commands that carry no Context.
	withContext func(Message, *kvrpcpb.Context) Message
	// context reads a request's Context; nil when it has none.
	context func(Message) *kvrpcpb.Context
	// copyWithContext returns a shallow copy of a request with a copy of
	// its Context (zero when it has none), both in one allocation.
	copyWithContext func(Message) (Message, *kvrpcpb.Context)
	// batch converts between the command's messages and the
	// BatchCommands oneof wrappers; nil for commands client-go never
	// batches. Filled by registerBatchCodecs (batch_cmds.go).
	batch *batchCodec
}

var cmdTable [cmdCount]cmdInfo

// reg fills one row of the table. ctxField returns the address of the
// request's Context field, which lets one generic function copy any request
// and swap its Context without reflection.
func reg[Q any, PQ interface {
	*Q
	Message
}, R any, PR interface {
	*R
	Message
}](cmd Cmd, name string, write bool, ctxField func(PQ) **kvrpcpb.Context) {
	info := cmdInfo{
		cmd:        cmd,
		name:       name,
		fullMethod: tikvService + name,
		write:      write,
		mode:       builtinMode(cmd),
		reqType:    reflect.TypeFor[PQ](),
		newReq:     func() Message { return PQ(new(Q)) },
		newResp:    func() Message { return PR(new(R)) },
	}
	if ctxField != nil {
		info.withContext = func(m Message, c *kvrpcpb.Context) Message {
			cp := PQ(new(Q))
			*cp = *m.(PQ)
			*ctxField(cp) = c
			return cp
		}
		info.context = func(m Message) *kvrpcpb.Context { return *ctxField(m.(PQ)) }
		info.copyWithContext = func(m Message) (Message, *kvrpcpb.Context) {
			both := new(struct {
				req Q
				ctx kvrpcpb.Context
			})
			cp := PQ(&both.req)
			*cp = *m.(PQ)
			if orig := *ctxField(cp); orig != nil {
				both.ctx = *orig
			}
			*ctxField(cp) = &both.ctx
			return cp, &both.ctx
		}
	}
	cmdTable[cmd] = info
}

func init() {
	reg[kvrpcpb.GetRequest, *kvrpcpb.GetRequest, kvrpcpb.GetResponse](CmdGet, "KvGet", false, func(r *kvrpcpb.GetRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.ScanRequest, *kvrpcpb.ScanRequest, kvrpcpb.ScanResponse](CmdScan, "KvScan", false, func(r *kvrpcpb.ScanRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.PrewriteRequest, *kvrpcpb.PrewriteRequest, kvrpcpb.PrewriteResponse](CmdPrewrite, "KvPrewrite", true, func(r *kvrpcpb.PrewriteRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.PessimisticLockRequest, *kvrpcpb.PessimisticLockRequest, kvrpcpb.PessimisticLockResponse](CmdPessimisticLock, "KvPessimisticLock", true, func(r *kvrpcpb.PessimisticLockRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.PessimisticRollbackRequest, *kvrpcpb.PessimisticRollbackRequest, kvrpcpb.PessimisticRollbackResponse](CmdPessimisticRollback, "KVPessimisticRollback", true, func(r *kvrpcpb.PessimisticRollbackRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.TxnHeartBeatRequest, *kvrpcpb.TxnHeartBeatRequest, kvrpcpb.TxnHeartBeatResponse](CmdTxnHeartBeat, "KvTxnHeartBeat", true, func(r *kvrpcpb.TxnHeartBeatRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.CheckTxnStatusRequest, *kvrpcpb.CheckTxnStatusRequest, kvrpcpb.CheckTxnStatusResponse](CmdCheckTxnStatus, "KvCheckTxnStatus", true, func(r *kvrpcpb.CheckTxnStatusRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.CheckSecondaryLocksRequest, *kvrpcpb.CheckSecondaryLocksRequest, kvrpcpb.CheckSecondaryLocksResponse](CmdCheckSecondaryLocks, "KvCheckSecondaryLocks", true, func(r *kvrpcpb.CheckSecondaryLocksRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.CommitRequest, *kvrpcpb.CommitRequest, kvrpcpb.CommitResponse](CmdCommit, "KvCommit", true, func(r *kvrpcpb.CommitRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.CleanupRequest, *kvrpcpb.CleanupRequest, kvrpcpb.CleanupResponse](CmdCleanup, "KvCleanup", true, func(r *kvrpcpb.CleanupRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.BatchGetRequest, *kvrpcpb.BatchGetRequest, kvrpcpb.BatchGetResponse](CmdBatchGet, "KvBatchGet", false, func(r *kvrpcpb.BatchGetRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.BatchRollbackRequest, *kvrpcpb.BatchRollbackRequest, kvrpcpb.BatchRollbackResponse](CmdBatchRollback, "KvBatchRollback", true, func(r *kvrpcpb.BatchRollbackRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.ScanLockRequest, *kvrpcpb.ScanLockRequest, kvrpcpb.ScanLockResponse](CmdScanLock, "KvScanLock", false, func(r *kvrpcpb.ScanLockRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.ResolveLockRequest, *kvrpcpb.ResolveLockRequest, kvrpcpb.ResolveLockResponse](CmdResolveLock, "KvResolveLock", true, func(r *kvrpcpb.ResolveLockRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.GCRequest, *kvrpcpb.GCRequest, kvrpcpb.GCResponse](CmdGC, "KvGC", true, func(r *kvrpcpb.GCRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.DeleteRangeRequest, *kvrpcpb.DeleteRangeRequest, kvrpcpb.DeleteRangeResponse](CmdDeleteRange, "KvDeleteRange", true, func(r *kvrpcpb.DeleteRangeRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.PrepareFlashbackToVersionRequest, *kvrpcpb.PrepareFlashbackToVersionRequest, kvrpcpb.PrepareFlashbackToVersionResponse](CmdPrepareFlashbackToVersion, "KvPrepareFlashbackToVersion", true, func(r *kvrpcpb.PrepareFlashbackToVersionRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.FlashbackToVersionRequest, *kvrpcpb.FlashbackToVersionRequest, kvrpcpb.FlashbackToVersionResponse](CmdFlashbackToVersion, "KvFlashbackToVersion", true, func(r *kvrpcpb.FlashbackToVersionRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.FlushRequest, *kvrpcpb.FlushRequest, kvrpcpb.FlushResponse](CmdFlush, "KvFlush", true, func(r *kvrpcpb.FlushRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.BufferBatchGetRequest, *kvrpcpb.BufferBatchGetRequest, kvrpcpb.BufferBatchGetResponse](CmdBufferBatchGet, "KvBufferBatchGet", false, func(r *kvrpcpb.BufferBatchGetRequest) **kvrpcpb.Context { return &r.Context })

	reg[kvrpcpb.RawGetRequest, *kvrpcpb.RawGetRequest, kvrpcpb.RawGetResponse](CmdRawGet, "RawGet", false, func(r *kvrpcpb.RawGetRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.RawBatchGetRequest, *kvrpcpb.RawBatchGetRequest, kvrpcpb.RawBatchGetResponse](CmdRawBatchGet, "RawBatchGet", false, func(r *kvrpcpb.RawBatchGetRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.RawPutRequest, *kvrpcpb.RawPutRequest, kvrpcpb.RawPutResponse](CmdRawPut, "RawPut", true, func(r *kvrpcpb.RawPutRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.RawBatchPutRequest, *kvrpcpb.RawBatchPutRequest, kvrpcpb.RawBatchPutResponse](CmdRawBatchPut, "RawBatchPut", true, func(r *kvrpcpb.RawBatchPutRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.RawDeleteRequest, *kvrpcpb.RawDeleteRequest, kvrpcpb.RawDeleteResponse](CmdRawDelete, "RawDelete", true, func(r *kvrpcpb.RawDeleteRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.RawBatchDeleteRequest, *kvrpcpb.RawBatchDeleteRequest, kvrpcpb.RawBatchDeleteResponse](CmdRawBatchDelete, "RawBatchDelete", true, func(r *kvrpcpb.RawBatchDeleteRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.RawScanRequest, *kvrpcpb.RawScanRequest, kvrpcpb.RawScanResponse](CmdRawScan, "RawScan", false, func(r *kvrpcpb.RawScanRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.RawDeleteRangeRequest, *kvrpcpb.RawDeleteRangeRequest, kvrpcpb.RawDeleteRangeResponse](CmdRawDeleteRange, "RawDeleteRange", true, func(r *kvrpcpb.RawDeleteRangeRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.RawBatchScanRequest, *kvrpcpb.RawBatchScanRequest, kvrpcpb.RawBatchScanResponse](CmdRawBatchScan, "RawBatchScan", false, func(r *kvrpcpb.RawBatchScanRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.RawGetKeyTTLRequest, *kvrpcpb.RawGetKeyTTLRequest, kvrpcpb.RawGetKeyTTLResponse](CmdRawGetKeyTTL, "RawGetKeyTTL", false, func(r *kvrpcpb.RawGetKeyTTLRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.RawCASRequest, *kvrpcpb.RawCASRequest, kvrpcpb.RawCASResponse](CmdRawCompareAndSwap, "RawCompareAndSwap", true, func(r *kvrpcpb.RawCASRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.RawChecksumRequest, *kvrpcpb.RawChecksumRequest, kvrpcpb.RawChecksumResponse](CmdRawChecksum, "RawChecksum", false, func(r *kvrpcpb.RawChecksumRequest) **kvrpcpb.Context { return &r.Context })

	reg[kvrpcpb.UnsafeDestroyRangeRequest, *kvrpcpb.UnsafeDestroyRangeRequest, kvrpcpb.UnsafeDestroyRangeResponse](CmdUnsafeDestroyRange, "UnsafeDestroyRange", true, func(r *kvrpcpb.UnsafeDestroyRangeRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.SplitRegionRequest, *kvrpcpb.SplitRegionRequest, kvrpcpb.SplitRegionResponse](CmdSplitRegion, "SplitRegion", true, func(r *kvrpcpb.SplitRegionRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.MvccGetByKeyRequest, *kvrpcpb.MvccGetByKeyRequest, kvrpcpb.MvccGetByKeyResponse](CmdMvccGetByKey, "MvccGetByKey", false, func(r *kvrpcpb.MvccGetByKeyRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.MvccGetByStartTsRequest, *kvrpcpb.MvccGetByStartTsRequest, kvrpcpb.MvccGetByStartTsResponse](CmdMvccGetByStartTs, "MvccGetByStartTs", false, func(r *kvrpcpb.MvccGetByStartTsRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.StoreSafeTSRequest, *kvrpcpb.StoreSafeTSRequest, kvrpcpb.StoreSafeTSResponse](CmdStoreSafeTS, "GetStoreSafeTS", false, nil)
	reg[kvrpcpb.GetLockWaitInfoRequest, *kvrpcpb.GetLockWaitInfoRequest, kvrpcpb.GetLockWaitInfoResponse](CmdGetLockWaitInfo, "GetLockWaitInfo", false, func(r *kvrpcpb.GetLockWaitInfoRequest) **kvrpcpb.Context { return &r.Context })
	reg[kvrpcpb.GetHealthFeedbackRequest, *kvrpcpb.GetHealthFeedbackRequest, kvrpcpb.GetHealthFeedbackResponse](CmdGetHealthFeedback, "GetHealthFeedback", false, func(r *kvrpcpb.GetHealthFeedbackRequest) **kvrpcpb.Context { return &r.Context })
	reg[coprocessor.Request, *coprocessor.Request, coprocessor.Response](CmdCoprocessor, "Coprocessor", false, func(r *coprocessor.Request) **kvrpcpb.Context { return &r.Context })
	// BroadcastTxnStatus changes no data and no lock but a store's state:
	// its transaction status cache (TiKV's update_txn_status_cache).
	reg[kvrpcpb.BroadcastTxnStatusRequest, *kvrpcpb.BroadcastTxnStatusRequest, kvrpcpb.BroadcastTxnStatusResponse](CmdBroadcastTxnStatus, "BroadcastTxnStatus", true, func(r *kvrpcpb.BroadcastTxnStatusRequest) **kvrpcpb.Context { return &r.Context })

	// After the rows exist: reg overwrites a whole row.
	registerBatchCodecs()
}

// tikvService prefixes the gRPC method path of every built-in command.
const tikvService = "/tikvpb.Tikv/"

// info returns c's row. A built-in command's row is a plain array index
// (the per-attempt hot path: no lock, no allocation); only a described
// command takes the slow path. It panics for a command that does not exist.
func (c Cmd) info() *cmdInfo {
	if c > CmdInvalid && c < cmdCount {
		return &cmdTable[c]
	}
	return describedInfo(c)
}

// Valid reports whether c is a known command: a built-in one, or one
// Describe returned.
func (c Cmd) Valid() bool {
	return (c > CmdInvalid && c < cmdCount) || lookupDescribed(c) != nil
}

// String returns the RPC name, such as "RawGet".
func (c Cmd) String() string {
	if c > CmdInvalid && c < cmdCount {
		return cmdTable[c].name
	}
	if info := lookupDescribed(c); info != nil {
		return info.name
	}
	return fmt.Sprintf("Cmd(%d)", uint16(c))
}

// FullMethod is the gRPC method path, such as "/tikvpb.Tikv/RawGet".
func (c Cmd) FullMethod() string { return c.info().fullMethod }

// IsWrite reports whether the command changes data or locks.
func (c Cmd) IsWrite() bool { return c.info().write }

// NewRequest allocates an empty request message of c's request type.
func (c Cmd) NewRequest() Message { return c.info().newReq() }

// NewResponse allocates an empty response message of c's response type.
func (c Cmd) NewResponse() Message { return c.info().newResp() }

// HasContext reports whether c's request carries a kvrpcpb.Context (region
// commands do; a few store-level commands do not).
func (c Cmd) HasContext() bool { return c.info().withContext != nil }

// WithContext returns a shallow copy of msg (which must be of c's request
// type) whose Context is ctx. msg itself is not modified, so the caller's
// request can be reused for every attempt.
func (c Cmd) WithContext(msg Message, ctx *kvrpcpb.Context) Message {
	info := c.info()
	if info.withContext == nil {
		return msg
	}
	return info.withContext(msg, ctx)
}

// CopyWithContext returns a shallow copy of msg (which must be of c's
// request type) carrying a copy of its Context (a zero Context when msg
// has none), and that copy, for the caller to fill: an attempt's own
// message and Context in one allocation. msg itself is not modified. For a
// command without a Context it returns msg and a new Context that goes
// nowhere.
func (c Cmd) CopyWithContext(msg Message) (Message, *kvrpcpb.Context) {
	info := c.info()
	switch {
	case info.copyWithContext != nil:
		return info.copyWithContext(msg)
	case info.withContext != nil:
		// A described command (Describe): the same, in two allocations.
		ctx := new(kvrpcpb.Context)
		if orig := info.context(msg); orig != nil {
			*ctx = *orig
		}
		return info.withContext(msg, ctx), ctx
	}
	return msg, new(kvrpcpb.Context)
}

// Context returns msg's kvrpcpb.Context, or nil when c carries none.
func (c Cmd) Context(msg Message) *kvrpcpb.Context {
	info := c.info()
	if info.context == nil {
		return nil
	}
	return info.context(msg)
}

// CmdByName returns the command whose RPC name is name ("RawGet"), for
// servers that dispatch on the gRPC method. Described commands are found
// too, once Describe has returned them.
func CmdByName(name string) (Cmd, bool) {
	for c := CmdInvalid + 1; c < cmdCount; c++ {
		if cmdTable[c].name == name {
			return c, true
		}
	}
	for _, info := range describedRows() {
		if info.name == name {
			return info.cmd, true
		}
	}
	return CmdInvalid, false
}
