package pipeline

import (
	"context"
	"errors"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline/backoff"
)

// retryState is what one piece of a logical request carries from attempt to
// attempt, re-routes included: Shard and Stream hand the same retryState to
// every Retry of the piece (and a copy to each child when a re-split
// fans it out), so that
//
//   - the backoff budget and each policy's exponential growth are spent once
//     per request, not once per region visited (client-go threads one
//     Backoffer through a request the same way);
//   - attempt numbers keep growing across re-routes, so is_retry_request and
//     transport.Request.Attempt describe the logical request;
//   - a write whose earlier attempt may have applied is never reported as a
//     plain failure by a later attempt.
//
// A retryState is used by one goroutine at a time.
type retryState struct {
	bo *backoff.Backoffer
	// attempts counts the attempts sent so far.
	attempts int
	// maybeApplied is set once an attempt of a write failed after it may
	// have reached TiKV.
	maybeApplied bool
}

// fork returns a copy for one branch of a fan-out.
func (s *retryState) fork() *retryState {
	return &retryState{bo: s.bo.Clone(), attempts: s.attempts, maybeApplied: s.maybeApplied}
}

// settle returns the error a piece ends with: err itself, or err marked
// undetermined when an earlier attempt of the write may have applied.
func (s *retryState) settle(err error) error {
	if s.maybeApplied && !errors.Is(err, kv.ErrUndetermined) {
		return kv.Undetermined(err)
	}
	return err
}

type retryStateKey struct{}

// withRetryState returns ctx carrying s for the Steps called with it.
func withRetryState(ctx context.Context, s *retryState) context.Context {
	return context.WithValue(ctx, retryStateKey{}, s)
}

// retryStateFrom returns the retry state ctx carries, or a new one on e's
// budget when a Step is called on its own.
func retryStateFrom(ctx context.Context, e *Env) *retryState {
	if s, ok := ctx.Value(retryStateKey{}).(*retryState); ok {
		return s
	}
	return &retryState{bo: e.newBackoffer()}
}
