package kv

import (
	"errors"
	"fmt"
)

// PartialWriteError is returned by a write that went to several regions
// when some of its pieces failed: the write is neither done nor undone. It
// says, key by key (range by range for a range delete), what is known:
//
//   - Applied: TiKV acknowledged the piece that held these keys.
//   - NotApplied: the piece provably did not take effect (it was never
//     sent, or TiKV refused it before executing it).
//   - Undetermined: the piece may or may not have taken effect.
//
// errors.Is(err, ErrUndetermined) holds when Undetermined is not empty,
// and errors.Is(err, ErrNotSent) never holds, since part of the write was
// sent. Cause is the first piece's failure; errors.Is and errors.As look
// into it (except for ErrNotSent).
type PartialWriteError struct {
	// Op names the write, such as "BatchPut".
	Op string
	// Keys of a batch write, by outcome.
	Applied, NotApplied, Undetermined []Key
	// Ranges of a range delete, by outcome.
	AppliedRanges, NotAppliedRanges, UndeterminedRanges []KeyRange
	// Cause is the first piece's failure.
	Cause error
}

// Error describes the failure on one line.
func (e *PartialWriteError) Error() string {
	na := len(e.NotApplied) + len(e.NotAppliedRanges)
	und := len(e.Undetermined) + len(e.UndeterminedRanges)
	app := len(e.Applied) + len(e.AppliedRanges)
	unit := "keys"
	if len(e.AppliedRanges)+len(e.NotAppliedRanges)+len(e.UndeterminedRanges) > 0 {
		unit = "ranges"
	}
	return fmt.Sprintf("tikv: %s partly failed (%s: %d applied, %d not applied, %d undetermined): %v",
		e.Op, unit, app, na, und, e.Cause)
}

// Is reports ErrUndetermined when some keys are undetermined, never
// ErrNotSent, and otherwise what Cause is.
func (e *PartialWriteError) Is(target error) bool {
	switch target {
	case ErrUndetermined:
		return len(e.Undetermined)+len(e.UndeterminedRanges) > 0
	case ErrNotSent:
		return false
	}
	return errors.Is(e.Cause, target)
}

// As finds a typed error in Cause.
func (e *PartialWriteError) As(target any) bool { return errors.As(e.Cause, target) }
