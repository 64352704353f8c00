package middleware

import (
	"errors"
	"fmt"

	"github.com/tikvgo/tikv/transport"
)

// ErrLimited is wrapped by every error of a client-side limiter (RateLimit,
// StoreTokenLimit): the attempt waited for its turn and the wait was cut
// short, so nothing was sent. The circuit breaker does not count such
// errors against the store.
var ErrLimited = errors.New("tikv: client-side limit")

// LimitError is a limiter's refusal: the wait for a rate token or a store
// token ended before the attempt could go (its context ended, or the rate
// limiter saw that the token would come after the context's deadline). It
// wraps ErrLimited, transport.ErrNotSent (the pipeline may send the attempt
// again, even when the command is not idempotent) and Cause.
type LimitError struct {
	// Limit names the limit waited for: "rate", "store rate" or "store
	// tokens".
	Limit string
	// StoreID is the attempt's store.
	StoreID uint64
	// Cause is why the wait ended: the context's error, or
	// context.DeadlineExceeded when the token would come too late.
	Cause error
}

// Error names the store, the limit and the cause, on one line.
func (e *LimitError) Error() string {
	return fmt.Sprintf("store %d: %s limit wait: %v", e.StoreID, e.Limit, e.Cause)
}

// Unwrap returns ErrLimited, transport.ErrNotSent and the cause.
func (e *LimitError) Unwrap() []error {
	return []error{ErrLimited, transport.ErrNotSent, e.Cause}
}
