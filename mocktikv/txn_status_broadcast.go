package mocktikv

import (
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/mocktikv/internal/mvcc"
	"github.com/tikvgo/tikv/transport"
)

// TxnCacheKind is the kind of a transaction's state in the transaction
// status cache (TiKV's TxnState variants).
type TxnCacheKind int

// The kinds of TxnCacheState.
const (
	// TxnCacheOngoing: the transaction still runs; TS is its min commit
	// ts, the smallest commit ts it may get.
	TxnCacheOngoing TxnCacheKind = TxnCacheKind(mvcc.TxnCacheOngoing)
	// TxnCacheCommitted: the transaction committed at TS.
	TxnCacheCommitted TxnCacheKind = TxnCacheKind(mvcc.TxnCacheCommitted)
	// TxnCacheRolledBack: the transaction was rolled back.
	TxnCacheRolledBack TxnCacheKind = TxnCacheKind(mvcc.TxnCacheRolledBack)
)

// TxnCacheState is what the mock's transaction status cache knows of one
// transaction (TiKV's TxnState).
type TxnCacheState struct {
	Kind TxnCacheKind
	TS   uint64
}

// TxnStatus returns what the transaction status cache knows of the
// transaction startTS: commits recorded by the commands that learnt them,
// and what BroadcastTxnStatus told (a pipelined transaction's min commit
// ts while it runs, its commit or rollback; a completed one leaves the
// cache's part for ongoing large transactions). TiKV keeps one cache per
// instance; the mock keeps one for the whole cluster, so a status
// broadcast to any store shows here. In TiKV the resolved-ts worker reads
// an ongoing transaction's min commit ts from it to advance past its
// locks; the mock has no such worker (see SetSafeTS), so nothing else
// reads the ongoing part.
func (c *Cluster) TxnStatus(startTS uint64) (TxnCacheState, bool) {
	s, ok := c.txn.store.TxnStatus(startTS)
	return TxnCacheState{Kind: TxnCacheKind(s.Kind), TS: s.TS}, ok
}

// broadcastTxnStatus is BroadcastTxnStatus (src/server/service/kv.rs
// future_broadcast_txn_status, Storage::update_txn_status_cache): the
// statuses go into the store's transaction status cache. It is
// store-level: no region, no epoch, only the cluster id is checked (by
// handle), and the response carries nothing. A status TiKV would assert
// on (a completed transaction said to be ongoing, a commit ts below the
// cached min commit ts) leaves the cache unchanged.
func (c *Cluster) broadcastTxnStatus(_ uint64, req *kvrpcpb.BroadcastTxnStatusRequest) *kvrpcpb.BroadcastTxnStatusResponse {
	c.txn.store.UpdateTxnStatus(req.TxnStatus)
	return &kvrpcpb.BroadcastTxnStatusResponse{}
}

// BroadcastTxnStatus serves BroadcastTxnStatus over gRPC.
func (s *tikvService) BroadcastTxnStatus(ctx context.Context, req *kvrpcpb.BroadcastTxnStatusRequest) (*kvrpcpb.BroadcastTxnStatusResponse, error) {
	return serve[*kvrpcpb.BroadcastTxnStatusResponse](ctx, s, transport.CmdBroadcastTxnStatus, req)
}
