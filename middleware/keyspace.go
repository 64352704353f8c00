package middleware

import (
	"context"
	"strings"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/internal/apicodec"
	"github.com/tikvgo/tikv/transport"
)

// Keyspace returns the innermost protocol layer: the API codec (client-go's
// apicodec at the RPC boundary). Above it requests and responses carry
// logical keys; below it, the keys TiKV stores: under API v2 every key of a
// request gets its keyspace prefix (raw commands use raw, the others txn)
// and the Context says api_version V2 and the keyspace id; every key of the
// response (pairs, locks, key errors, region errors) loses it again, and the
// region boundaries TiKV reports (EpochNotMatch, KeyNotInRegion) are decoded
// and clamped to the keyspace, for raw and txn v2 and for txn v1 (whose
// boundaries are memcomparable-encoded).
//
// It never modifies the caller's message: fields it changes are copied.
// Commands that carry no keys pass through. A nil codec means "leave that
// mode alone".
func Keyspace(raw, txn *apicodec.Codec) transport.Middleware {
	return func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			c := txn
			if strings.HasPrefix(req.Cmd.String(), "Raw") {
				c = raw
			}
			if c == nil || c.Identity() {
				return next.Send(ctx, req)
			}
			out := *req
			if c.V2() {
				out.Msg = encodeRequest(c, req.Msg)
				if rc := req.Cmd.Context(out.Msg); rc != nil {
					// The attempt's Context is its own (the pipeline copies it
					// per attempt), so the codec may set the fields it owns.
					rc.ApiVersion = c.APIVersion()
					rc.Keyspace = &kvrpcpb.Context_KeyspaceId{KeyspaceId: c.KeyspaceID()}
				}
			}
			resp, err := next.Send(ctx, &out)
			if resp != nil && resp.Msg != nil {
				decodeResponse(c, resp.Msg)
			}
			return resp, err
		})
	}
}

// encodeRequest returns a copy of msg whose keys carry the keyspace prefix.
func encodeRequest(c *apicodec.Codec, msg transport.Message) transport.Message {
	k, end := c.EncodeKey, c.EncodeEnd
	keys := func(ks [][]byte) [][]byte {
		out := make([][]byte, len(ks))
		for i, x := range ks {
			out[i] = k(x)
		}
		return out
	}
	muts := func(ms []*kvrpcpb.Mutation) []*kvrpcpb.Mutation {
		out := make([]*kvrpcpb.Mutation, len(ms))
		for i, m := range ms {
			cp := *m
			cp.Key = k(m.Key)
			out[i] = &cp
		}
		return out
	}
	// scanBounds encodes a scan's bounds; reverse scans take start_key as
	// the upper bound.
	scanBounds := func(start, stop []byte, reverse bool) ([]byte, []byte) {
		if reverse {
			return end(start), k(stop)
		}
		return k(start), end(stop)
	}
	ranges := func(rs []*kvrpcpb.KeyRange, reverse bool) []*kvrpcpb.KeyRange {
		out := make([]*kvrpcpb.KeyRange, len(rs))
		for i, r := range rs {
			s, e := scanBounds(r.StartKey, r.EndKey, reverse)
			out[i] = &kvrpcpb.KeyRange{StartKey: s, EndKey: e}
		}
		return out
	}
	switch m := msg.(type) {
	case *kvrpcpb.RawGetRequest:
		cp := *m
		cp.Key = k(m.Key)
		return &cp
	case *kvrpcpb.RawBatchGetRequest:
		cp := *m
		cp.Keys = keys(m.Keys)
		return &cp
	case *kvrpcpb.RawPutRequest:
		cp := *m
		cp.Key = k(m.Key)
		return &cp
	case *kvrpcpb.RawBatchPutRequest:
		cp := *m
		cp.Pairs = make([]*kvrpcpb.KvPair, len(m.Pairs))
		for i, p := range m.Pairs {
			pc := *p
			pc.Key = k(p.Key)
			cp.Pairs[i] = &pc
		}
		return &cp
	case *kvrpcpb.RawDeleteRequest:
		cp := *m
		cp.Key = k(m.Key)
		return &cp
	case *kvrpcpb.RawBatchDeleteRequest:
		cp := *m
		cp.Keys = keys(m.Keys)
		return &cp
	case *kvrpcpb.RawScanRequest:
		cp := *m
		cp.StartKey, cp.EndKey = scanBounds(m.StartKey, m.EndKey, m.Reverse)
		return &cp
	case *kvrpcpb.RawDeleteRangeRequest:
		cp := *m
		cp.StartKey, cp.EndKey = k(m.StartKey), end(m.EndKey)
		return &cp
	case *kvrpcpb.RawBatchScanRequest:
		cp := *m
		cp.Ranges = ranges(m.Ranges, m.Reverse)
		return &cp
	case *kvrpcpb.RawGetKeyTTLRequest:
		cp := *m
		cp.Key = k(m.Key)
		return &cp
	case *kvrpcpb.RawCASRequest:
		cp := *m
		cp.Key = k(m.Key)
		return &cp
	case *kvrpcpb.RawChecksumRequest:
		cp := *m
		cp.Ranges = ranges(m.Ranges, false)
		return &cp

	case *kvrpcpb.GetRequest:
		cp := *m
		cp.Key = k(m.Key)
		return &cp
	case *kvrpcpb.ScanRequest:
		cp := *m
		cp.StartKey, cp.EndKey = scanBounds(m.StartKey, m.EndKey, m.Reverse)
		return &cp
	case *kvrpcpb.BatchGetRequest:
		cp := *m
		cp.Keys = keys(m.Keys)
		return &cp
	case *kvrpcpb.BufferBatchGetRequest:
		cp := *m
		cp.Keys = keys(m.Keys)
		return &cp
	case *kvrpcpb.PrewriteRequest:
		cp := *m
		cp.Mutations, cp.PrimaryLock, cp.Secondaries = muts(m.Mutations), k(m.PrimaryLock), keys(m.Secondaries)
		return &cp
	case *kvrpcpb.FlushRequest:
		cp := *m
		cp.Mutations, cp.PrimaryKey = muts(m.Mutations), k(m.PrimaryKey)
		return &cp
	case *kvrpcpb.PessimisticLockRequest:
		cp := *m
		cp.Mutations, cp.PrimaryLock = muts(m.Mutations), k(m.PrimaryLock)
		return &cp
	case *kvrpcpb.PessimisticRollbackRequest:
		cp := *m
		cp.Keys = keys(m.Keys)
		return &cp
	case *kvrpcpb.CommitRequest:
		cp := *m
		cp.Keys, cp.PrimaryKey = keys(m.Keys), k(m.PrimaryKey)
		return &cp
	case *kvrpcpb.CleanupRequest:
		cp := *m
		cp.Key = k(m.Key)
		return &cp
	case *kvrpcpb.BatchRollbackRequest:
		cp := *m
		cp.Keys = keys(m.Keys)
		return &cp
	case *kvrpcpb.ScanLockRequest:
		cp := *m
		cp.StartKey, cp.EndKey = k(m.StartKey), end(m.EndKey)
		return &cp
	case *kvrpcpb.ResolveLockRequest:
		cp := *m
		cp.Keys = keys(m.Keys)
		return &cp
	case *kvrpcpb.CheckTxnStatusRequest:
		cp := *m
		cp.PrimaryKey = k(m.PrimaryKey)
		return &cp
	case *kvrpcpb.CheckSecondaryLocksRequest:
		cp := *m
		cp.Keys = keys(m.Keys)
		return &cp
	case *kvrpcpb.TxnHeartBeatRequest:
		cp := *m
		cp.PrimaryLock = k(m.PrimaryLock)
		return &cp
	case *kvrpcpb.DeleteRangeRequest:
		cp := *m
		cp.StartKey, cp.EndKey = k(m.StartKey), end(m.EndKey)
		return &cp
	case *kvrpcpb.UnsafeDestroyRangeRequest:
		cp := *m
		cp.StartKey, cp.EndKey = k(m.StartKey), end(m.EndKey)
		return &cp
	case *kvrpcpb.MvccGetByKeyRequest:
		cp := *m
		cp.Key = k(m.Key)
		return &cp
	case *kvrpcpb.SplitRegionRequest:
		cp := *m
		cp.SplitKey, cp.SplitKeys = k(m.SplitKey), keys(m.SplitKeys)
		return &cp
	}
	return msg
}

// decodeResponse strips the keyspace prefix from every key of a response
// (which the transport allocated for this attempt alone) and decodes the
// region boundaries of region errors.
func decodeResponse(c *apicodec.Codec, msg transport.Message) {
	d := func(b []byte) []byte {
		if out, err := c.DecodeKey(b); err == nil {
			return out
		}
		return b
	}
	if !c.V2() {
		d = func(b []byte) []byte { return b }
	}
	lock := func(l *kvrpcpb.LockInfo) {
		if l == nil {
			return
		}
		l.PrimaryLock, l.Key = d(l.PrimaryLock), d(l.Key)
		for i := range l.Secondaries {
			l.Secondaries[i] = d(l.Secondaries[i])
		}
		for _, s := range l.SharedLockInfos {
			s.PrimaryLock, s.Key = d(s.PrimaryLock), d(s.Key)
		}
	}
	keyErr := func(e *kvrpcpb.KeyError) {
		if e == nil {
			return
		}
		lock(e.Locked)
		if x := e.Conflict; x != nil {
			x.Key, x.Primary = d(x.Key), d(x.Primary)
		}
		if x := e.AlreadyExist; x != nil {
			x.Key = d(x.Key)
		}
		if x := e.Deadlock; x != nil {
			x.LockKey, x.DeadlockKey = d(x.LockKey), d(x.DeadlockKey)
			for _, w := range x.WaitChain {
				w.Key = d(w.Key)
			}
		}
		if x := e.CommitTsExpired; x != nil {
			x.Key = d(x.Key)
		}
		if x := e.TxnNotFound; x != nil {
			x.PrimaryKey = d(x.PrimaryKey)
		}
		if x := e.AssertionFailed; x != nil {
			x.Key = d(x.Key)
		}
		if x := e.PrimaryMismatch; x != nil {
			lock(x.LockInfo)
		}
		if x := e.TxnLockNotFound; x != nil {
			x.Key = d(x.Key)
		}
	}
	pairs := func(ps []*kvrpcpb.KvPair) {
		for _, p := range ps {
			p.Key = d(p.Key)
			keyErr(p.Error)
		}
	}
	keyErrs := func(es []*kvrpcpb.KeyError) {
		for _, e := range es {
			keyErr(e)
		}
	}
	switch m := msg.(type) {
	case *kvrpcpb.RawBatchGetResponse:
		pairs(m.Pairs)
	case *kvrpcpb.RawScanResponse:
		pairs(m.Kvs)
	case *kvrpcpb.RawBatchScanResponse:
		pairs(m.Kvs)
	case *kvrpcpb.GetResponse:
		keyErr(m.Error)
	case *kvrpcpb.ScanResponse:
		pairs(m.Pairs)
		keyErr(m.Error)
	case *kvrpcpb.BatchGetResponse:
		pairs(m.Pairs)
		keyErr(m.Error)
	case *kvrpcpb.BufferBatchGetResponse:
		pairs(m.Pairs)
		keyErr(m.Error)
	case *kvrpcpb.PrewriteResponse:
		keyErrs(m.Errors)
	case *kvrpcpb.FlushResponse:
		keyErrs(m.Errors)
	case *kvrpcpb.PessimisticLockResponse:
		keyErrs(m.Errors)
	case *kvrpcpb.PessimisticRollbackResponse:
		keyErrs(m.Errors)
	case *kvrpcpb.CommitResponse:
		keyErr(m.Error)
	case *kvrpcpb.CleanupResponse:
		keyErr(m.Error)
	case *kvrpcpb.BatchRollbackResponse:
		keyErr(m.Error)
	case *kvrpcpb.ScanLockResponse:
		keyErr(m.Error)
		for _, l := range m.Locks {
			lock(l)
		}
	case *kvrpcpb.ResolveLockResponse:
		keyErr(m.Error)
	case *kvrpcpb.CheckTxnStatusResponse:
		keyErr(m.Error)
		lock(m.LockInfo)
	case *kvrpcpb.CheckSecondaryLocksResponse:
		keyErr(m.Error)
		for _, l := range m.Locks {
			lock(l)
		}
	case *kvrpcpb.TxnHeartBeatResponse:
		keyErr(m.Error)
	case *kvrpcpb.MvccGetByStartTsResponse:
		m.Key = d(m.Key)
	case *kvrpcpb.SplitRegionResponse:
		m.Regions = decodeRegions(c, m.Regions)
		m.Left, m.Right = decodeRegion(c, m.Left), decodeRegion(c, m.Right)
	}
	if re, ok := msg.(interface{ GetRegionError() *errorpb.Error }); ok {
		decodeRegionError(c, d, re.GetRegionError())
	}
}

// decodeRegionError decodes the keys and regions inside TiKV's region
// errors, so the region cache learns logical boundaries.
func decodeRegionError(c *apicodec.Codec, d func([]byte) []byte, e *errorpb.Error) {
	if e == nil {
		return
	}
	if x := e.EpochNotMatch; x != nil {
		x.CurrentRegions = decodeRegions(c, x.CurrentRegions)
	}
	if x := e.KeyNotInRegion; x != nil {
		x.Key = d(x.Key)
		if r := decodeRegion(c, &metapb.Region{StartKey: x.StartKey, EndKey: x.EndKey}); r != nil {
			x.StartKey, x.EndKey = r.StartKey, r.EndKey
		}
	}
}

func decodeRegion(c *apicodec.Codec, r *metapb.Region) *metapb.Region {
	if r == nil {
		return nil
	}
	out, err := c.DecodeRegion(r)
	if err != nil {
		return nil
	}
	return out
}

// decodeRegions decodes regions, dropping those outside the keyspace.
func decodeRegions(c *apicodec.Codec, rs []*metapb.Region) []*metapb.Region {
	out := rs[:0:0]
	for _, r := range rs {
		if d := decodeRegion(c, r); d != nil {
			out = append(out, d)
		}
	}
	return out
}
