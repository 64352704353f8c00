package pipeline

import (
	"context"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/pipeline/backoff"
	"github.com/tikvgo/tikv/transport"
)

// callVars is what a context carries for the plans called with it: the
// caller's kv.Variables and a listener of its backoffs. One value, so a
// plan looks it up once.
type callVars struct {
	vars      kv.Variables
	onBackoff func(observe.Event)
}

type callVarsKey struct{}

func callVarsFrom(ctx context.Context) callVars {
	v, _ := ctx.Value(callVarsKey{}).(callVars)
	return v
}

// WithVariables returns ctx carrying v for the plans called with it
// (client-go passes its kv.Variables to every Backoffer of a
// transaction):
//   - each request's backoff budget is scaled by v.BackoffWeight;
//   - a read that met a live lock first waits v.LockFastBackoff;
//   - when v.Killed is raised, Retry sends no further attempt of an
//     interruptible command (Interruptible) and no retry follows a
//     backoff sleep; the request fails with a *kv.QueryInterruptedError.
//
// A caller that must not be interrupted (a commit past its prewrite)
// passes v with Killed nil.
func WithVariables(ctx context.Context, v kv.Variables) context.Context {
	cv := callVarsFrom(ctx)
	cv.vars = v
	return context.WithValue(ctx, callVarsKey{}, cv)
}

// VariablesFrom returns the kv.Variables ctx carries (the zero value, all
// defaults, when none).
func VariablesFrom(ctx context.Context) kv.Variables { return callVarsFrom(ctx).vars }

// WithBackoffListener returns ctx under which every backoff sleep (not a
// wait refused for want of budget) of the
// plans called with it is reported to f as an observe.Backoff event (the
// event an Observer would see, its Call filled in when the call is
// observed), whether or not an Observer watches. A listener already in
// ctx is called too, after f. f is called from the plan's goroutines,
// possibly concurrently, and must be quick. It is how a transaction or a
// snapshot accounts its own backoffs (CommitDetails, runtime stats)
// without being the call's Observer.
func WithBackoffListener(ctx context.Context, f func(observe.Event)) context.Context {
	cv := callVarsFrom(ctx)
	if prev := cv.onBackoff; prev != nil {
		cv.onBackoff = func(e observe.Event) { f(e); prev(e) }
	} else {
		cv.onBackoff = f
	}
	return context.WithValue(ctx, callVarsKey{}, cv)
}

// Interruptible reports whether a raised kill flag may stop an attempt of
// cmd before it is sent: every command but those that finish or undo a
// transaction (Commit, BatchRollback, PessimisticRollback), which client-go
// sends whatever the flag says (tikvrpc.Request.IsInterruptible), so that
// a killed transaction does not leave its locks behind.
func Interruptible(cmd transport.Cmd) bool {
	switch cmd {
	case transport.CmdCommit, transport.CmdBatchRollback, transport.CmdPessimisticRollback:
		return false
	}
	return true
}

// lockFast returns the TxnLockFast policy with the caller's base.
func (v callVars) lockFast() backoff.Policy {
	p := backoff.TxnLockFast
	if v.vars.LockFastBackoff > 0 {
		p.Base = v.vars.LockFastBackoff
	}
	return p
}
