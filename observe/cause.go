package observe

import "context"

type causeKey struct{}

// WithCause returns work, the context of work a call leaves running after
// it returns (a transaction's secondaries committed in the background, the
// rollback of a failed commit), marked as caused by the call whose context
// is cause. work keeps its own values, deadline and cancellation: none of
// cause's is inherited, so the background work is not a part of the call
// (pipeline.BeginCall starts a call of its own) and does not end with it.
// Observers that trace calls link the background call to its cause
// (middleware/otelkv links their spans).
func WithCause(work, cause context.Context) context.Context {
	return context.WithValue(work, causeKey{}, cause)
}

// CauseOf returns the context WithCause recorded in ctx, or nil.
func CauseOf(ctx context.Context) context.Context {
	c, _ := ctx.Value(causeKey{}).(context.Context)
	return c
}
