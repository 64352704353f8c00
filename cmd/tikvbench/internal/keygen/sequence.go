package keygen

import (
	"sync"
	"sync/atomic"
)

// Sequence hands out insert numbers and tracks which records exist. An
// insert Claims the next number and reports Done when its write finished;
// Limit is the length of the longest prefix 0..Limit()-1 of numbers all
// Done, so a reader choosing below Limit never asks for a record whose
// insert is still in flight (YCSB's acknowledged counter). Safe for
// concurrent use.
type Sequence struct {
	next  atomic.Int64
	limit atomic.Int64

	mu      sync.Mutex
	pending map[int64]struct{} // Done numbers above limit, guarded by mu
}

// NewSequence returns a Sequence whose numbers below start already exist
// (the loaded records): Claim returns start first and Limit starts there.
func NewSequence(start int64) *Sequence {
	s := &Sequence{pending: map[int64]struct{}{}}
	s.next.Store(start)
	s.limit.Store(start)
	return s
}

// Claim returns a number no other caller gets.
func (s *Sequence) Claim() int64 { return s.next.Add(1) - 1 }

// Done marks a claimed number finished (whether its write succeeded or
// not: a failed insert must not stall Limit; a read of its record then
// fails with not-found, which the caller counts).
func (s *Sequence) Done(k int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lim := s.limit.Load()
	if k != lim {
		s.pending[k] = struct{}{}
		return
	}
	for lim++; ; lim++ {
		if _, ok := s.pending[lim]; !ok {
			break
		}
		delete(s.pending, lim)
	}
	s.limit.Store(lim)
}

// Limit returns how many records exist: every number below it is Done.
func (s *Sequence) Limit() int64 { return s.limit.Load() }
