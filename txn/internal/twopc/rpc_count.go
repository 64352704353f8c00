package twopc

import (
	"context"
	"sync/atomic"

	"github.com/tikvgo/tikv/transport"
)

// rpcCounter counts one transaction's attempts by command, for
// CommitDetails.
type rpcCounter struct {
	prewrite, commit, heartbeat, tso atomic.Int32
}

type rpcCounterKey struct{}

// countingSender is the committer's Env.Sender: it counts each attempt
// against the transaction whose Commit context it runs under, then sends
// it on. Work on the Group carries no counter and is not counted.
type countingSender struct {
	next transport.Sender
}

func (s countingSender) Send(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	if n, ok := ctx.Value(rpcCounterKey{}).(*rpcCounter); ok {
		switch req.Cmd {
		case transport.CmdPrewrite:
			n.prewrite.Add(1)
		case transport.CmdCommit:
			n.commit.Add(1)
		case transport.CmdTxnHeartBeat:
			n.heartbeat.Add(1)
		}
	}
	return s.next.Send(ctx, req)
}
