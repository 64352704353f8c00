package linearizability_test

import (
	"context"
	"sync"

	"github.com/tikvgo/tikv/transport"
)

// callIDKey carries a workload call's id in the contexts of its attempts.
type callIDKey struct{}

func withCallID(ctx context.Context, id uint64) context.Context {
	return context.WithValue(ctx, callIDKey{}, id)
}

// attemptLog is a client-wide middleware that remembers, for each
// workload call, the store its latest attempt went to: the fail-over check
// needs to know which store a call that ran out of time was stuck on. Safe
// for concurrent use.
type attemptLog struct {
	mu   sync.Mutex
	last map[uint64]uint64 // call id -> store id
}

func newAttemptLog() *attemptLog { return &attemptLog{last: map[uint64]uint64{}} }

func (l *attemptLog) middleware(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		if id, ok := ctx.Value(callIDKey{}).(uint64); ok {
			l.mu.Lock()
			l.last[id] = req.Target.StoreID
			l.mu.Unlock()
		}
		return next.Send(ctx, req)
	})
}

// lastStore returns the store of call id's latest attempt, 0 if none.
func (l *attemptLog) lastStore(id uint64) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last[id]
}
