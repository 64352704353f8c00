package kv

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Sentinel errors. Compare with errors.Is; the concrete error usually wraps
// one of these with the detail of what happened.
var (
	// ErrUndetermined means a non-idempotent request (a commit, a raw CAS)
	// may or may not have taken effect: it was sent, and no answer came back.
	// Callers must not treat it as success or as failure; they may re-read
	// to find out. It is never cleaned up behind the caller's back.
	ErrUndetermined = errors.New("tikv: result undetermined")

	// ErrNotFound is returned by single-key reads when the key has no
	// value.
	ErrNotFound = errors.New("tikv: key not found")

	// ErrClosed is returned by every call made after Close.
	ErrClosed = errors.New("tikv: client is closed")

	// ErrNotSent marks errors that happened before a request reached TiKV:
	// a dial failure, an open circuit breaker, a rate-limit wait cut short.
	// Such a request is safe to send again even when its command is not
	// idempotent. transport.ErrNotSent is this same value; it lives here so
	// that errors summarising many requests (PartialWriteError) can tell it
	// apart.
	ErrNotSent = errors.New("tikv: request not sent")

	// ErrPDUnavailable means PD could not be reached, or did not answer,
	// before the connect timeout or the caller's context ended. The error
	// wrapping it names the root cause (a refused connection, a failed TLS
	// handshake, ...). A request whose pdRPC backoff ran out (PD could
	// not route it in time) matches it too: client-go's
	// ErrPDServerTimeout.
	ErrPDUnavailable = errors.New("tikv: PD unavailable")

	// ErrProtocol marks a response that breaks TiKV's protocol in a way
	// the client cannot work around: a scan page that does not advance, a
	// key outside the range or keyspace asked for. Retrying would not help.
	ErrProtocol = errors.New("tikv: response violates the protocol")

	// ErrInvalidArgument marks bad input detected before anything was sent,
	// such as an empty key or a range whose end precedes its start.
	ErrInvalidArgument = errors.New("tikv: invalid argument")
)

// Undetermined wraps cause so that errors.Is(err, ErrUndetermined) holds and
// the cause stays reachable through errors.Unwrap / errors.As.
func Undetermined(cause error) error {
	return &undeterminedError{cause: cause}
}

type undeterminedError struct{ cause error }

func (e *undeterminedError) Error() string {
	return fmt.Sprintf("%v: %v", ErrUndetermined, e.cause)
}

func (e *undeterminedError) Unwrap() []error { return []error{ErrUndetermined, e.cause} }

// InvalidArgument returns an error wrapping ErrInvalidArgument with a reason.
func InvalidArgument(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}

// RegionError is a region-level error reported by TiKV (errorpb.Error) that
// the routing layer could not absorb: its retries ran out, or the kind of
// error is one a retry cannot fix (Fatal).
//
// Inside the pipeline a non-fatal RegionError is the signal to re-split a
// shard against fresh region metadata; it only reaches callers when that
// re-splitting gave up.
type RegionError struct {
	RegionID uint64
	// Err is TiKV's error as received. It is nil when no replica of the
	// region could be tried (every store holding one is unreachable, or
	// every replica refused): Cause then says why.
	Err *errorpb.Error
	// Fatal is set for errors no retry can fix (for example
	// RaftEntryTooLarge): the pipeline returns them without re-splitting.
	Fatal bool
	// Cause, when set, is what led to the error on the client's side, for
	// example the send failure that left no replica to try.
	Cause error
}

// Error describes the failure on one line.
func (e *RegionError) Error() string {
	kind := "no replica available"
	if e.Err != nil {
		kind = RegionErrorKind(e.Err)
	}
	msg := fmt.Sprintf("tikv: region %d: %s", e.RegionID, kind)
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Unwrap returns Cause.
func (e *RegionError) Unwrap() error { return e.Cause }

// RegionErrorKind names the variant of an errorpb.Error that is set, such as
// "NotLeader" or "EpochNotMatch"; it is a stable label for metrics and logs.
func RegionErrorKind(e *errorpb.Error) string {
	switch {
	case e == nil:
		return "None"
	case e.NotLeader != nil:
		return "NotLeader"
	case e.RegionNotFound != nil:
		return "RegionNotFound"
	case e.KeyNotInRegion != nil:
		return "KeyNotInRegion"
	case e.EpochNotMatch != nil:
		return "EpochNotMatch"
	case e.ServerIsBusy != nil:
		return "ServerIsBusy"
	case e.StaleCommand != nil:
		return "StaleCommand"
	case e.StoreNotMatch != nil:
		return "StoreNotMatch"
	case e.RaftEntryTooLarge != nil:
		return "RaftEntryTooLarge"
	case e.MaxTimestampNotSynced != nil:
		return "MaxTimestampNotSynced"
	case e.ReadIndexNotReady != nil:
		return "ReadIndexNotReady"
	case e.ProposalInMergingMode != nil:
		return "ProposalInMergingMode"
	case e.DataIsNotReady != nil:
		return "DataIsNotReady"
	case e.RegionNotInitialized != nil:
		return "RegionNotInitialized"
	case e.DiskFull != nil:
		return "DiskFull"
	case e.RecoveryInProgress != nil:
		return "RecoveryInProgress"
	case e.FlashbackInProgress != nil:
		return "FlashbackInProgress"
	case e.FlashbackNotPrepared != nil:
		return "FlashbackNotPrepared"
	case e.IsWitness != nil:
		return "IsWitness"
	case e.MismatchPeerId != nil:
		return "MismatchPeerId"
	case e.BucketVersionNotMatch != nil:
		return "BucketVersionNotMatch"
	case e.UndeterminedResult != nil:
		return "UndeterminedResult"
	default:
		return "Unknown"
	}
}

// BackoffExhaustedError is returned when a retry loop stops waiting, because
// a policy's attempt budget ran out or the caller's context ended. Cause is
// the error that caused the last retry, so a caller sees why the request kept
// failing, not only that time ran out.
type BackoffExhaustedError struct {
	// Policy names the backoff policy of the last wait (for example
	// "tikvRPC" or "regionMiss").
	Policy string
	// Attempts counts the waits made under Policy.
	Attempts int
	// Slept is the total time slept by the retry loop, over all policies.
	Slept time.Duration
	// Cause is the error that triggered the last retry.
	Cause error
	// Stop is why the loop stopped: the context's error, an error naming
	// the backoff budget a wait would have exceeded, or nil when the
	// policy's attempt limit (MaxAttempts) ran out.
	Stop error
}

// Error describes the failure on one line.
func (e *BackoffExhaustedError) Error() string {
	why := "attempts exhausted"
	if e.Stop != nil {
		why = e.Stop.Error()
	}
	return fmt.Sprintf("tikv: gave up after %d %s backoffs (slept %v, %s): %v",
		e.Attempts, e.Policy, e.Slept, why, e.Cause)
}

// Unwrap exposes both the stop reason (so errors.Is(err,
// context.DeadlineExceeded) holds when the deadline ended the loop) and the
// last cause.
func (e *BackoffExhaustedError) Unwrap() []error {
	if e.Stop == nil {
		return []error{e.Cause}
	}
	return []error{e.Stop, e.Cause}
}

// ServerError is an error TiKV returned as a message in a response body (raw
// commands report failures such as a bad column family this way).
type ServerError struct {
	// Cmd is the command that failed, such as "RawPut".
	Cmd string
	// Msg is TiKV's message, verbatim.
	Msg string
}

// Error describes the failure on one line.
func (e *ServerError) Error() string { return fmt.Sprintf("tikv: %s: %s", e.Cmd, e.Msg) }

// apiVersionNotMatched starts the text of TiKV's ApiVersionNotMatched error
// (TiKV's src/storage/errors.rs, ErrorInner::ApiVersionNotMatched: "Api version in request
// does not match with TiKV storage, cmd: ..., storage: ..., request: ...").
const apiVersionNotMatched = "Api version in request does not match with TiKV storage"

// Is makes errors.Is(err, ErrAPIVersionMismatch) hold for TiKV's answer to
// a request of another API version than its storage's, so a mismatch Connect
// could not detect (no store status address) is still typed at the first
// request.
func (e *ServerError) Is(target error) bool {
	return target == ErrAPIVersionMismatch && strings.HasPrefix(e.Msg, apiVersionNotMatched)
}

// StoreUnreachableError says a store could not be reached: a send to it
// failed and its health check did not pass. Cause is the latest send
// failure.
type StoreUnreachableError struct {
	StoreID uint64
	Cause   error
}

// Error describes the failure on one line.
func (e *StoreUnreachableError) Error() string {
	return fmt.Sprintf("tikv: store %d is unreachable: %v", e.StoreID, e.Cause)
}

// Unwrap returns Cause.
func (e *StoreUnreachableError) Unwrap() error { return e.Cause }

// ErrKeyspaceNotFound means PD knows no keyspace of the name Connect was
// asked to work in (tikv.WithKeyspace). PD answers LoadKeyspace with
// ENTRY_NOT_FOUND then (PD's server/keyspace_service.go).
var ErrKeyspaceNotFound = errors.New("tikv: keyspace not found")

// ErrAPIVersionMismatch means the client's API version (tikv.WithAPIVersion,
// tikv.WithKeyspace) is one the cluster's storage does not serve: TiKV
// would refuse its requests with ApiVersionNotMatched (TiKV's
// src/storage/mod.rs, check_api_version). *APIVersionMismatchError wraps it
// when Connect finds out.
var ErrAPIVersionMismatch = errors.New("tikv: API version mismatch")

// APIVersionMismatchError is ErrAPIVersionMismatch found at Connect: the
// configuration a store reports (its status address's /config,
// storage.api-version) rules out the API version requests would declare.
type APIVersionMismatchError struct {
	// Client is the API version the client's requests declare.
	Client kvrpcpb.APIVersion
	// Storage is the store's storage.api-version: V1, V1TTL (version 1
	// with enable-ttl) or V2.
	Storage kvrpcpb.APIVersion
	// StoreID and StatusAddr name the store that was asked.
	StoreID    uint64
	StatusAddr string
}

// Error describes the failure on one line.
func (e *APIVersionMismatchError) Error() string {
	return fmt.Sprintf("%v: client requests declare %s but store %d (status %s) runs storage.api-version %s",
		ErrAPIVersionMismatch, e.Client, e.StoreID, e.StatusAddr, e.Storage)
}

// Unwrap makes errors.Is(err, ErrAPIVersionMismatch) hold.
func (e *APIVersionMismatchError) Unwrap() error { return ErrAPIVersionMismatch }
