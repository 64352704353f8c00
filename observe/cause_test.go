package observe_test

import (
	"context"
	"testing"

	"github.com/tikvgo/tikv/observe"
)

type ctxKey struct{}

// TestWithCause: the cause is recorded for CauseOf, and the work's context
// inherits neither its values nor its cancellation.
func TestWithCause(t *testing.T) {
	if observe.CauseOf(context.Background()) != nil {
		t.Fatal("CauseOf of a bare context is not nil")
	}
	cause, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "call"))
	work := observe.WithCause(context.Background(), cause)
	cancel()
	if got := observe.CauseOf(work); got != cause {
		t.Fatalf("CauseOf = %v, want the cause", got)
	}
	if work.Value(ctxKey{}) != nil {
		t.Error("work inherited a value of its cause")
	}
	if work.Err() != nil {
		t.Errorf("work ended with its cause: %v", work.Err())
	}
}
