package txn

import (
	"context"
	"sync"
)

// CommitRecorder collects the details of the commits made with one context
// (client-go's CommitDetailCtxKey): put it in the context with
// WithCommitRecorder, and every Txn.Commit made with that context (or one
// derived from it) records into it. A second commit through the same
// context is a retry, as when Client.Update runs its function again after
// a conflict. Safe for concurrent use.
type CommitRecorder struct {
	mu      sync.Mutex
	last    CommitDetails
	commits int
}

// WithCommitRecorder returns a context whose commits record into r.
func WithCommitRecorder(ctx context.Context, r *CommitRecorder) context.Context {
	return context.WithValue(ctx, commitRecorderKey{}, r)
}

type commitRecorderKey struct{}

// Last returns the details of the latest commit recorded (the zero value
// before any).
func (r *CommitRecorder) Last() CommitDetails {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// Commits counts the commits tried through the recorder's context,
// failed ones included.
func (r *CommitRecorder) Commits() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.commits
}

// Retries counts the commits after the first (client-go's
// CommitDetails.TxnRetry).
func (r *CommitRecorder) Retries() int {
	if n := r.Commits(); n > 1 {
		return n - 1
	}
	return 0
}

// recordCommit hands a commit's details to the context's recorder, if any.
// Only commits that reached the committer count: a read-only transaction's
// Commit sends nothing and records nothing.
func recordCommit(ctx context.Context, d CommitDetails) {
	r, _ := ctx.Value(commitRecorderKey{}).(*CommitRecorder)
	if r == nil {
		return
	}
	r.mu.Lock()
	r.last = d
	r.commits++
	r.mu.Unlock()
}
