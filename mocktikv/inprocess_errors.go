package mocktikv

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// The in-process Sender must fail exactly as tikvgo's gRPC transport does
// against the served cluster (STYLE.md 16), or a client bug that only the
// network shows stays hidden: a CAS that never failed over because a
// stopped store looked "not sent" in process but "outcome unknown" over
// the wire, or the other way round. Every error it returns therefore
// carries the gRPC status the wire would carry (status.Code reads it) and
// wraps transport.ErrNotSent exactly when the gRPC path does. The errors
// below are what TestFaultClassification measures on both paths.

// wireError is an error the in-process Sender returns as it is (so that
// errors.Is and errors.As reach err: a test may Fail a request with
// context.DeadlineExceeded or an error of its own) while reporting the
// gRPC status a client of the served cluster would get for it.
type wireError struct{ err error }

func (e *wireError) Error() string              { return e.err.Error() }
func (e *wireError) Unwrap() error              { return e.err }
func (e *wireError) GRPCStatus() *status.Status { return wireStatus(e.err) }

// wireStatus is the status err becomes over gRPC: its own if it carries
// one, Canceled or DeadlineExceeded for a context error (as grpc-go maps a
// handler's context error, and as the client reports its own ctx ending),
// Unknown otherwise.
func wireStatus(err error) *status.Status {
	if s, ok := status.FromError(err); ok {
		return s
	}
	return status.FromContextError(err)
}

// faultError marks the error of a Fail or LoseResponse action, so that a
// BatchCommands stream can tell a scripted transport failure (which breaks
// the stream, as a broken connection does) from a handler's error (which
// TiKV answers per sub-request).
type faultError struct{ wireError }

func newFaultError(err error) error { return &faultError{wireError{err}} }

// isFaultError reports whether err is a Fail or LoseResponse action's.
func isFaultError(err error) bool {
	var fe *faultError
	return errors.As(err, &fe)
}

// errConnRefused is the status a gRPC client gets when it dials a stopped
// store: the connection is refused before any stream exists.
var errConnRefused = status.Error(codes.Unavailable, "mocktikv: connection refused")

// storeDownError is the in-process Sender's error for a request to a
// stopped store: never sent (a dial failure, before any stream exists) and
// Unavailable, as tikvgo's transport reports a refused connection.
func storeDownError(id uint64) error {
	return fmt.Errorf("%w: store %d is down: %w", transport.ErrNotSent, id, errConnRefused)
}

// stoppedInFlightError is the in-process Sender's error for a request whose
// store stopped while it was in flight: the connection closed under it, so
// the outcome is unknown (not ErrNotSent) and the status is Unavailable, as
// grpc-go reports a connection closed mid-call ("error reading from
// server: EOF") on a unary call and on a BatchCommands stream.
func stoppedInFlightError(id uint64) error {
	return status.Errorf(codes.Unavailable, "mocktikv: store %d stopped with the request in flight", id)
}

// inFlightError is err, returned by the store for a request that reached
// it, as the in-process Sender returns it: an error without a gRPC status
// (a context that ended while the request was held) gets the one the wire
// gives it. It is never ErrNotSent: the request had arrived.
func inFlightError(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &wireError{err}
	}
	return err
}
