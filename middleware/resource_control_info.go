package middleware

import (
	"strings"
	"time"

	"github.com/pingcap/kvproto/pkg/coprocessor"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/tikv/pd/client/resource_group/controller"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
)

// What the resource-group controller learns of one attempt, built the way
// client-go's internal/resourcecontrol builds it (MakeRequestInfo,
// MakeResponseInfo), so that a request costs the same RU through tikvgo as
// through client-go. Where client-go has nothing to copy (its RawKV client
// bypasses resource control), the raw commands are charged by the bytes
// they write and read; this is tikvgo's own rule.

// internalOthers is the request source of internal requests that client-go
// exempts from resource control (util.InternalRequestPrefix +
// util.InternalTxnOthers), such as `ALTER USER` from TiDB.
const internalOthers = "internal_others"

// rcRequest is the controller's RequestInfo for one attempt.
type rcRequest struct {
	write      bool
	writeBytes uint64
	storeID    uint64
	source     string
	msg        transport.Message
}

// fill describes req, whose Context is kctx, for the controller.
func (r *rcRequest) fill(req *transport.Request, kctx *kvrpcpb.Context) {
	*r = rcRequest{storeID: req.Target.StoreID, source: kctx.GetRequestSource(), msg: req.Msg}
	r.write, r.writeBytes = writeCost(req.Cmd, req.Msg)
}

// writeCost says whether cmd counts as a write and how many bytes it
// writes. client-go counts the transactional writes of
// tikvrpc.Request.IsTxnWriteRequest, charging bytes only for Prewrite
// (mutations, primary and secondaries) and Commit (keys); every other
// write costs its base RU alone.
func writeCost(cmd transport.Cmd, msg transport.Message) (write bool, n uint64) {
	switch m := msg.(type) {
	case *kvrpcpb.PrewriteRequest:
		for _, mu := range m.GetMutations() {
			n += uint64(len(mu.GetKey()) + len(mu.GetValue()))
		}
		n += uint64(len(m.GetPrimaryLock()))
		for _, s := range m.GetSecondaries() {
			n += uint64(len(s))
		}
		return true, n
	case *kvrpcpb.CommitRequest:
		for _, k := range m.GetKeys() {
			n += uint64(len(k))
		}
		return true, n
	case *kvrpcpb.RawPutRequest:
		return true, uint64(len(m.GetKey()) + len(m.GetValue()))
	case *kvrpcpb.RawBatchPutRequest:
		for _, p := range m.GetPairs() {
			n += uint64(len(p.GetKey()) + len(p.GetValue()))
		}
		return true, n
	case *kvrpcpb.RawDeleteRequest:
		return true, uint64(len(m.GetKey()))
	case *kvrpcpb.RawBatchDeleteRequest:
		for _, k := range m.GetKeys() {
			n += uint64(len(k))
		}
		return true, n
	case *kvrpcpb.RawCASRequest:
		return true, uint64(len(m.GetKey()) + len(m.GetValue()))
	}
	switch cmd {
	case transport.CmdPessimisticLock, transport.CmdBatchRollback, transport.CmdPessimisticRollback,
		transport.CmdCheckTxnStatus, transport.CmdCheckSecondaryLocks, transport.CmdCleanup,
		transport.CmdTxnHeartBeat, transport.CmdResolveLock, transport.CmdFlashbackToVersion,
		transport.CmdPrepareFlashbackToVersion, transport.CmdFlush:
		return true, 0
	}
	if mode, ok := cmd.KeyMode(); ok && mode == kv.ModeRaw {
		return cmd.IsWrite(), 0 // RawDeleteRange
	}
	if _, described := cmd.Descriptor(); described {
		return cmd.IsWrite(), 0
	}
	return false, 0
}

// bypass reports the requests client-go exempts from resource control:
// internal ones whose source says "others".
func (r *rcRequest) bypass() bool { return strings.Contains(r.source, internalOthers) }

// IsWrite implements controller.RequestInfo.
func (r *rcRequest) IsWrite() bool { return r.write }

// WriteBytes implements controller.RequestInfo.
func (r *rcRequest) WriteBytes() uint64 { return r.writeBytes }

// ReplicaNumber implements controller.RequestInfo. client-go counts the
// region's voters and learners; a tikvgo attempt names only its target
// peer, so every write is charged for one replica (client-go's own value
// when it does not know the region).
func (r *rcRequest) ReplicaNumber() int64 { return 1 }

// StoreID implements controller.RequestInfo.
func (r *rcRequest) StoreID() uint64 { return r.storeID }

// RequestSize implements controller.RequestInfo: the encoded request.
func (r *rcRequest) RequestSize() uint64 { return protoSize(r.msg) }

// AccessLocationType implements controller.RequestInfo. tikvgo knows no
// zones, so no traffic is charged as cross-zone.
func (r *rcRequest) AccessLocationType() controller.AccessLocationType {
	return controller.AccessUnknown
}

// RequestSource lets the controller attribute RU to the request source in
// its metrics.
func (r *rcRequest) RequestSource() string { return r.source }

// IsCop tells the controller a coprocessor read, which it alone accounts
// in its paging metrics (client-go's RequestInfo.IsCop). tikvgo carries no
// predicted-read-bytes hint (TiDB's planner sets client-go's), so the
// controller pre-charges nothing, client-go's behaviour for a zero hint.
func (r *rcRequest) IsCop() bool {
	_, ok := r.msg.(*coprocessor.Request)
	return ok
}

// rcResponse is the controller's ResponseInfo for one attempt.
type rcResponse struct {
	readBytes uint64
	kvCPU     time.Duration
	msg       transport.Message
}

// newRCResponse reads what a response cost TiKV: for Get and BatchGet the
// bytes of the versions TiKV processed (ScanDetailV2), for Scan the whole
// response, for a coprocessor response its data or its scan detail; and
// TiKV's process wall time as the KV CPU. Other responses cost nothing
// after the fact (client-go's MakeResponseInfo). Raw reads are charged the
// bytes of the values they return.
func newRCResponse(msg transport.Message) *rcResponse {
	r := &rcResponse{}
	r.fill(msg)
	return r
}

// fill sets r from msg (see newRCResponse).
func (r *rcResponse) fill(msg transport.Message) {
	*r = rcResponse{msg: msg}
	var v2 *kvrpcpb.ExecDetailsV2
	var v1 *kvrpcpb.ExecDetails
	switch m := msg.(type) {
	case *kvrpcpb.GetResponse:
		v2 = m.GetExecDetailsV2()
	case *kvrpcpb.BatchGetResponse:
		v2 = m.GetExecDetailsV2()
	case *kvrpcpb.ScanResponse:
		r.readBytes = protoSize(m)
	case *coprocessor.Response:
		v2, v1 = m.GetExecDetailsV2(), m.GetExecDetails()
		r.readBytes = uint64(m.Data.Size())
		// A store-batched coprocessor response answers several tasks; the
		// work of each nested one is not in the top-level details, so it
		// is charged on its own (client-go's MakeResponseInfo). The sums
		// are added after the top level is read below.
		defer func() {
			for _, b := range m.GetBatchResponses() {
				n := uint64(b.Data.Size())
				if sd := b.GetExecDetailsV2().GetScanDetailV2(); sd != nil {
					n = sd.GetProcessedVersionsSize()
				}
				r.readBytes += n
				r.kvCPU += kvCPU(b.GetExecDetailsV2(), nil)
			}
		}()
	case *kvrpcpb.RawGetResponse:
		r.readBytes = uint64(len(m.GetValue()))
	case *kvrpcpb.RawBatchGetResponse:
		r.readBytes = pairBytes(m.GetPairs())
	case *kvrpcpb.RawScanResponse:
		r.readBytes = pairBytes(m.GetKvs())
	case *kvrpcpb.RawBatchScanResponse:
		r.readBytes = pairBytes(m.GetKvs())
	default:
		return
	}
	if sd := v2.GetScanDetailV2(); sd != nil {
		r.readBytes = sd.GetProcessedVersionsSize()
	}
	r.kvCPU = kvCPU(v2, v1)
}

// kvCPU is TiKV's process wall time in the finest detail it reported.
func kvCPU(v2 *kvrpcpb.ExecDetailsV2, v1 *kvrpcpb.ExecDetails) time.Duration {
	switch {
	case v2.GetTimeDetailV2() != nil:
		return time.Duration(v2.GetTimeDetailV2().GetProcessWallTimeNs())
	case v2.GetTimeDetail() != nil:
		return time.Duration(v2.GetTimeDetail().GetProcessWallTimeMs()) * time.Millisecond
	case v1.GetTimeDetail() != nil:
		return time.Duration(v1.GetTimeDetail().GetProcessWallTimeMs()) * time.Millisecond
	}
	return 0
}

func pairBytes(pairs []*kvrpcpb.KvPair) (n uint64) {
	for _, p := range pairs {
		n += uint64(len(p.GetKey()) + len(p.GetValue()))
	}
	return n
}

// ReadBytes implements controller.ResponseInfo.
func (r *rcResponse) ReadBytes() uint64 { return r.readBytes }

// KVCPU implements controller.ResponseInfo.
func (r *rcResponse) KVCPU() time.Duration { return r.kvCPU }

// Succeed implements controller.ResponseInfo: a response arrived, so the
// write cost stands (client-go's answer too).
func (r *rcResponse) Succeed() bool { return true }

// ResponseSize implements controller.ResponseInfo: the encoded response.
func (r *rcResponse) ResponseSize() uint64 { return protoSize(r.msg) }

// protoSize is the encoded size of a kvproto message (gogo generates Size).
func protoSize(m transport.Message) uint64 {
	if s, ok := m.(interface{ Size() int }); ok {
		return uint64(s.Size())
	}
	return 0
}
