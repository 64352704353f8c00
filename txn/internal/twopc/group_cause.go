package twopc

import (
	"context"

	"github.com/tikvgo/tikv/observe"
)

// goCaused runs task on the Group as Go does, with its context marked as
// caused by the call whose context is cause (observe.WithCause): the
// background work of a commit (its secondaries, its rollback) runs on the
// Group's context, not the caller's, so that it outlives Commit, and the
// mark lets tracing link its spans to the TxnCommit call that left it
// rather than show them as unrelated traces.
func (g *Group) goCaused(cause context.Context, task func(ctx context.Context) error) error {
	return g.Go(func(ctx context.Context) error { return task(observe.WithCause(ctx, cause)) })
}
