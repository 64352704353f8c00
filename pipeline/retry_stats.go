package pipeline

import (
	"errors"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/transport"
)

// recordAttempt adds one attempt of a region command to the piece's
// observe.CallStats: where it went (the peer's role as the selector saw
// it), its read mode, its round trip and its outcome.
func (d *regionRetry[Req, Resp]) recordAttempt(sent *transport.Request, t target, rctx *kvrpcpb.Context,
	spent time.Duration, resp *transport.Response, err error) {
	a := observe.Access{
		PeerID: t.replica.peer.GetId(), Role: peerRole(d.sel.isLeader(t.replica), t.replica.peer),
		ReplicaRead: rctx.ReplicaRead, StaleRead: rctx.StaleRead,
	}
	recordAttempt(d.st.stats, a, sent, spent, resp, err)
}

// recordAttempt fills a (its peer and read mode already set) with the
// attempt's identity, target, round trip and outcome, and adds it to stats.
func recordAttempt(stats *observe.CallStats, a observe.Access, sent *transport.Request, spent time.Duration, resp *transport.Response, err error) {
	a.Call, a.Piece, a.Attempt, a.Cmd = sent.Call, sent.Piece, sent.Attempt, sent.Cmd.String()
	a.StoreID, a.Addr, a.RegionID = sent.Target.StoreID, sent.Target.Addr, sent.Target.RegionID
	a.Duration = spent
	switch {
	case err != nil:
		a.Err = err
		switch {
		case errors.Is(err, transport.ErrNotSent):
			a.ErrKind = "NotSent"
		case isDeadline(err):
			a.ErrKind = "Timeout"
		default:
			a.ErrKind = "SendFailed"
		}
	case resp != nil:
		if r, ok := resp.Msg.(interface{ GetRegionError() *errorpb.Error }); ok && r.GetRegionError() != nil {
			a.ErrKind = kv.RegionErrorKind(r.GetRegionError())
			a.Err = &kv.RegionError{RegionID: sent.Target.RegionID, Err: r.GetRegionError()}
		}
	}
	stats.RecordAttempt(a)
}

// peerRole names a peer's role for observe.Access.Role.
func peerRole(leader bool, p *metapb.Peer) string {
	switch {
	case leader:
		return "leader"
	case p.GetRole() == metapb.PeerRole_Learner:
		return "learner"
	}
	return "follower"
}
