package txn

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
)

// WithVariables sets the snapshot's retry knobs (kv.Variables: backoff
// weight, first wait on a live lock, kill flag), which every read carries
// (pipeline.WithVariables). Variables already in a read's context are
// replaced.
func WithVariables(v kv.Variables) SnapshotOption {
	return func(c *snapshotConfig) { c.vars, c.varsSet = v, true }
}

// WithBackoffWeight scales every backoff budget of the transaction's
// reads and commit by w/kv.DefaultBackoffWeight (client-go's
// Variables.BackOffWeight, default 2): 4 lets its requests retry twice as
// long before they give up. w <= 0 means the default.
func WithBackoffWeight(w int) BeginOption {
	return withVars(func(v *kv.Variables) { v.BackoffWeight = w })
}

// WithLockFastBackoff sets the first wait of the transaction's reads when
// they meet a live lock (client-go's Variables.BackoffLockFast, default
// kv.DefaultLockFastBackoff); later waits double it.
func WithLockFastBackoff(d time.Duration) BeginOption {
	return withVars(func(v *kv.Variables) { v.LockFastBackoff = d })
}

// WithKillSignal gives the transaction a kill flag (client-go's
// Variables.Killed): when another goroutine stores a non-zero signal in
// it, the transaction's reads and its prewrite stop at the next attempt
// or after the current backoff sleep, failing with a
// *kv.QueryInterruptedError (errors.Is kv.ErrQueryInterrupted); a commit
// stopped in its prewrite rolls back what it wrote. Once the prewrite has
// finished, the commit of the primary is not interrupted: the transaction
// then commits or fails as it would have. The flag is the caller's to
// reset. Cancelling the context stops everything, commit included.
func WithKillSignal(flag *atomic.Uint32) BeginOption {
	return withVars(func(v *kv.Variables) { v.Killed = flag })
}

// withVars is a BeginOption that changes the transaction's variables,
// which live in its snapshot's configuration: the reads use them, and
// Commit takes them from there.
func withVars(f func(*kv.Variables)) BeginOption {
	return func(c *beginConfig) {
		c.snapOpts = append(c.snapOpts, func(sc *snapshotConfig) {
			f(&sc.vars)
			sc.varsSet = true
		})
	}
}

// Variables returns the snapshot's retry knobs (WithVariables).
func (s *Snapshot) Variables() kv.Variables { return s.cfg.vars }

// withVariables returns ctx carrying the snapshot's variables, if any
// were set.
func (s *Snapshot) withVariables(ctx context.Context) context.Context {
	if !s.cfg.varsSet {
		return ctx
	}
	return pipeline.WithVariables(ctx, s.cfg.vars)
}
