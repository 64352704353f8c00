package twopc

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/tikvgo/tikv/transport"
)

// rpcCounter counts one transaction's attempts by command, for
// CommitDetails.
type rpcCounter struct {
	prewrite, commit, heartbeat, tso atomic.Int32
	// exec gathers the answers' exec details and the retries' sleeps.
	exec execTally
}

type rpcCounterKey struct{}

// countingSender is the committer's Env.Sender: it counts each attempt
// against the transaction whose Commit context it runs under, sends it
// on and records its answer's exec details. Work on the Group carries no
// counter and is not counted.
type countingSender struct {
	next transport.Sender
}

func (s countingSender) Send(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	n, ok := ctx.Value(rpcCounterKey{}).(*rpcCounter)
	if ok {
		switch req.Cmd {
		case transport.CmdPrewrite:
			n.prewrite.Add(1)
		case transport.CmdCommit:
			n.commit.Add(1)
		case transport.CmdTxnHeartBeat:
			n.heartbeat.Add(1)
		}
	}
	if !ok {
		return s.next.Send(ctx, req)
	}
	start := time.Now()
	resp, err := s.next.Send(ctx, req)
	if err == nil {
		n.exec.attempt(req, time.Since(start), resp)
	}
	return resp, err
}
