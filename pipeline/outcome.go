package pipeline

import (
	"errors"
	"fmt"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
)

// PieceState is what became of one piece of a sharded request.
type PieceState int

const (
	// PieceDone: the piece's Step succeeded.
	PieceDone PieceState = iota
	// PieceFailed: the piece's Step failed with an error that does not say
	// "undetermined". For Retry this means no attempt of the piece can
	// have taken effect: a write that may have applied is always reported
	// as kv.ErrUndetermined.
	PieceFailed
	// PieceUndetermined: the piece failed with kv.ErrUndetermined; a write
	// may or may not have taken effect.
	PieceUndetermined
	// PieceNotRun: the piece was never started, because another piece had
	// already failed.
	PieceNotRun
)

// String names the state.
func (s PieceState) String() string {
	switch s {
	case PieceDone:
		return "done"
	case PieceFailed:
		return "failed"
	case PieceUndetermined:
		return "undetermined"
	default:
		return "not run"
	}
}

func stateOf(err error) PieceState {
	switch {
	case err == nil:
		return PieceDone
	case errors.Is(err, kv.ErrUndetermined):
		return PieceUndetermined
	default:
		return PieceFailed
	}
}

// PieceOutcome is one leaf piece of a sharded request: the region and
// request it was last routed with, and what became of it. Region is nil
// only for a request that failed before it could be routed at all.
type PieceOutcome[Req, Resp any] struct {
	Region *pdclient.Region
	Req    Req
	Resp   Resp // set when State is PieceDone
	Err    error
	State  PieceState
}

// ShardError is the error of a Shard call of several pieces in which some
// failed. Pieces holds every leaf piece in key order, so a caller can tell
// which parts of a write took effect (PieceDone), did not (PieceFailed,
// PieceNotRun) or may have (PieceUndetermined).
//
// errors.Is(err, kv.ErrUndetermined) holds when a piece is undetermined;
// errors.Is(err, kv.ErrNotSent) only when no piece may have reached TiKV
// (every failed piece's error is a not-sent one, and none succeeded).
// Other errors.Is and errors.As checks look into First.
type ShardError[Req, Resp any] struct {
	Pieces []PieceOutcome[Req, Resp]
	// cause is the failure that stopped the call, which may be earlier in
	// time than failures of lower-keyed pieces it caused (cancellations).
	cause error
}

// First returns the failure that stopped the request: the first piece to
// fail, in time.
func (e *ShardError[Req, Resp]) First() error {
	if e.cause != nil {
		return e.cause
	}
	for _, p := range e.Pieces {
		if p.Err != nil {
			return p.Err
		}
	}
	return nil
}

// Error describes the failure on one line.
func (e *ShardError[Req, Resp]) Error() string {
	failed := 0
	for _, p := range e.Pieces {
		if p.State != PieceDone {
			failed++
		}
	}
	return fmt.Sprintf("tikv: %d of %d pieces did not complete: %v", failed, len(e.Pieces), e.First())
}

// Is implements the matching rules in the type's doc.
func (e *ShardError[Req, Resp]) Is(target error) bool {
	switch target {
	case kv.ErrUndetermined:
		for _, p := range e.Pieces {
			if p.State == PieceUndetermined {
				return true
			}
		}
		return false
	case kv.ErrNotSent:
		for _, p := range e.Pieces {
			if p.State == PieceDone || p.State == PieceUndetermined ||
				(p.State == PieceFailed && !errors.Is(p.Err, kv.ErrNotSent)) {
				return false
			}
		}
		return true
	}
	return errors.Is(e.First(), target)
}

// As looks into First.
func (e *ShardError[Req, Resp]) As(target any) bool { return errors.As(e.First(), target) }

// collectPieces turns the outcomes of a Shard call into its result.
//
// The parts are appended to into (a caller's buffer, maybe nil).
func collectPieces[Req, Resp any](pieces []PieceOutcome[Req, Resp], cause error, into []Part[Req, Resp]) ([]Part[Req, Resp], error) {
	for _, p := range pieces {
		if p.State == PieceDone {
			continue
		}
		if len(pieces) == 1 {
			return nil, p.Err
		}
		return nil, &ShardError[Req, Resp]{Pieces: pieces, cause: cause}
	}
	parts := into[:0]
	if cap(parts) < len(pieces) {
		parts = make([]Part[Req, Resp], 0, len(pieces))
	}
	for _, p := range pieces {
		parts = append(parts, Part[Req, Resp]{Region: p.Region, Req: p.Req, Resp: p.Resp})
	}
	return parts, nil
}
