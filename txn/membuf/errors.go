package membuf

import (
	"errors"
	"fmt"
)

// ErrTooLarge is the sentinel every *TooLargeError matches with errors.Is:
// a write was refused because it would exceed one of the buffer's Limits.
var ErrTooLarge = errors.New("membuf: transaction buffer limit exceeded")

// ErrIteratorInvalidated is reported by an Iterator (Err), by Entries and by
// the union iterators when the buffer was written after the iteration began.
// client-go panics in this case (art/art_iterator.go checkSeqNo); we stop the
// iteration and report it, so the caller's loop ends with an error instead of
// a crash. The buffer itself is never affected.
var ErrIteratorInvalidated = errors.New("membuf: buffer modified during iteration")

// Limit names which of the Limits a refused write would have exceeded.
type Limit uint8

// The limits.
const (
	// LimitKeySize is Limits.MaxKeySize.
	LimitKeySize Limit = iota + 1
	// LimitEntrySize is Limits.MaxEntrySize (key plus value bytes).
	LimitEntrySize
	// LimitEntries is Limits.MaxEntries.
	LimitEntries
	// LimitTotalSize is Limits.MaxSize.
	LimitTotalSize
)

// String names the limit.
func (l Limit) String() string {
	switch l {
	case LimitKeySize:
		return "key size"
	case LimitEntrySize:
		return "entry size"
	case LimitEntries:
		return "entry count"
	case LimitTotalSize:
		return "buffer size"
	}
	return fmt.Sprintf("Limit(%d)", uint8(l))
}

// TooLargeError is returned when a write would exceed a limit; the buffer is
// left unchanged. Want is the size (or count) the write would have reached.
type TooLargeError struct {
	Limit Limit
	Max   uint64
	Want  uint64
}

// Error describes the limit on one line.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("membuf: %s %d exceeds limit %d", e.Limit, e.Want, e.Max)
}

// Unwrap returns ErrTooLarge.
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }
