package plans

import (
	"github.com/pingcap/kvproto/pkg/coprocessor"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
)

// Administrative and diagnostic command descriptors. Their keys belong to
// no key space of their own (transport.Cmd.KeyMode reports none): the
// caller encodes them for the space it means, and any Env may send them.
//
// GetStoreSafeTS has no descriptor: its response carries no region error,
// so it is not a pipeline.Response; it is a store-level command, sent to
// each store (transport.CmdStoreSafeTS through a transport.Sender).
var (
	// UnsafeDestroyRange deletes every version of every key in a range on
	// a whole store, bypassing Raft (TiKV's gc_worker; store-level, the
	// region in the Context is ignored). It is NOT idempotent: keyed by
	// no timestamp, a copy resent late would delete what was written in
	// the range since. It is meant for ranges nothing writes any more
	// (a dropped table after its GC safe point).
	UnsafeDestroyRange = pipeline.Method[*kvrpcpb.UnsafeDestroyRangeRequest, *kvrpcpb.UnsafeDestroyRangeResponse]{
		Cmd: transport.CmdUnsafeDestroyRange, Err: StringErr[*kvrpcpb.UnsafeDestroyRangeResponse](transport.CmdUnsafeDestroyRange),
	}
	// SplitRegion splits a region at the given keys (Idempotent): the
	// split bumps the region's epoch version, so a repeat carrying the old
	// epoch fails with EpochNotMatch instead of splitting again
	// (raftstore's validate_split_region). Its key errors are mapped as
	// KeyErrors does.
	SplitRegion = pipeline.Method[*kvrpcpb.SplitRegionRequest, *kvrpcpb.SplitRegionResponse]{
		Cmd: transport.CmdSplitRegion, Err: KeyErrs[*kvrpcpb.SplitRegionResponse](), Idempotent: true,
	}
	// MvccGetByKey reads every MVCC version of a key (Read, Idempotent).
	MvccGetByKey = pipeline.Method[*kvrpcpb.MvccGetByKeyRequest, *kvrpcpb.MvccGetByKeyResponse]{
		Cmd: transport.CmdMvccGetByKey, Err: StringErr[*kvrpcpb.MvccGetByKeyResponse](transport.CmdMvccGetByKey), Idempotent: true, Read: true,
	}
	// MvccGetByStartTs finds the key a transaction wrote in a region and
	// its MVCC versions (Read, Idempotent).
	MvccGetByStartTs = pipeline.Method[*kvrpcpb.MvccGetByStartTsRequest, *kvrpcpb.MvccGetByStartTsResponse]{
		Cmd: transport.CmdMvccGetByStartTs, Err: StringErr[*kvrpcpb.MvccGetByStartTsResponse](transport.CmdMvccGetByStartTs), Idempotent: true, Read: true,
	}
	// GetLockWaitInfo lists a store's lock waiters (Read, Idempotent).
	GetLockWaitInfo = pipeline.Method[*kvrpcpb.GetLockWaitInfoRequest, *kvrpcpb.GetLockWaitInfoResponse]{
		Cmd: transport.CmdGetLockWaitInfo, Err: StringErr[*kvrpcpb.GetLockWaitInfoResponse](transport.CmdGetLockWaitInfo), Idempotent: true, Read: true,
	}
	// GetStoreSafeTS asks a store for the safe ts of a key range, the
	// timestamp below which its replicas can serve stale reads (Read,
	// Idempotent). Store-level, with no kvrpcpb.Context and no region
	// error: send it with pipeline.AllStores.
	GetStoreSafeTS = pipeline.Method[*kvrpcpb.StoreSafeTSRequest, *kvrpcpb.StoreSafeTSResponse]{
		Cmd: transport.CmdStoreSafeTS, Idempotent: true, Read: true,
	}
	// GetHealthFeedback asks a store for its health feedback (Read,
	// Idempotent); its body never fails.
	GetHealthFeedback = pipeline.Method[*kvrpcpb.GetHealthFeedbackRequest, *kvrpcpb.GetHealthFeedbackResponse]{
		Cmd: transport.CmdGetHealthFeedback, Idempotent: true, Read: true,
	}
	// BroadcastTxnStatus tells a store the status of transactions (a
	// pipelined transaction's min commit ts, its commit ts, its rollback,
	// its completion), which TiKV keeps in its transaction status cache
	// (Idempotent: a status only ever moves forward there). Store-level,
	// with no region: send it with pipeline.AllStores. Its response has no
	// error field.
	BroadcastTxnStatus = pipeline.Method[*kvrpcpb.BroadcastTxnStatusRequest, *kvrpcpb.BroadcastTxnStatusResponse]{
		Cmd: transport.CmdBroadcastTxnStatus, Idempotent: true,
	}
	// Coprocessor runs a pushed-down read (a DAG, an analyze, a checksum)
	// over key ranges (Read, Idempotent). Err is CoprocessorErr.
	Coprocessor = pipeline.Method[*coprocessor.Request, *coprocessor.Response]{
		Cmd: transport.CmdCoprocessor, Err: CoprocessorErr(transport.CmdCoprocessor), Idempotent: true, Read: true,
	}
)

// CoprocessorErr returns the Method.Err of a coprocessor response: a
// *kv.LockedError for the lock the read met (the caller resolves it and
// sends the task again), a *kv.ServerError naming cmd for TiKV's
// other_error.
func CoprocessorErr(cmd transport.Cmd) func(*coprocessor.Response) error {
	return func(resp *coprocessor.Response) error {
		if l := resp.GetLocked(); l != nil {
			return &kv.LockedError{Locks: LocksFromInfo(l)}
		}
		if msg := resp.GetOtherError(); msg != "" {
			return &kv.ServerError{Cmd: cmd.String(), Msg: msg}
		}
		return nil
	}
}
