package logging

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// RateLimit wraps h so that a record whose level and message equal those of
// one passed within the last every is dropped and counted instead. The
// first record of a kind always passes; the first one after the window has
// run out passes too, carrying a "suppressed" attribute with the number
// dropped since the last one that passed. Records below minLevel are never
// limited. Handlers derived with WithAttrs or WithGroup share the limiter,
// so one message logged through differently-decorated loggers is still one
// kind.
//
// The limiter reads the clock with time.Now, so tests can drive it with
// testing/synctest. It is safe for concurrent use.
func RateLimit(h slog.Handler, every time.Duration, minLevel slog.Level) slog.Handler {
	return &rateLimited{next: h, state: &limitState{every: every, min: minLevel, seen: map[limitKey]*limitEntry{}}}
}

type rateLimited struct {
	next  slog.Handler
	state *limitState
}

type limitKey struct {
	level slog.Level
	msg   string
}

type limitEntry struct {
	passed     time.Time // when the last record of this kind went out
	suppressed int       // dropped since then
}

type limitState struct {
	every time.Duration
	min   slog.Level

	mu   sync.Mutex
	seen map[limitKey]*limitEntry
}

// maxKinds bounds the limiter's memory: beyond it, kinds whose window has
// run out are forgotten (they have nothing left to suppress).
const maxKinds = 1024

// admit says whether a record of the kind may pass now, and how many of
// the kind were dropped before it. weight is how many repeats the record
// stands for: 1, plus those a limiter in front of this one already
// dropped and counted on it, so that nothing dropped goes uncounted.
func (s *limitState) admit(k limitKey, now time.Time, weight func() int) (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.seen[k]
	if e == nil {
		if len(s.seen) >= maxKinds {
			s.sweepLocked(now)
		}
		s.seen[k] = &limitEntry{passed: now}
		return true, 0
	}
	if now.Sub(e.passed) < s.every {
		e.suppressed += weight()
		return false, 0
	}
	n := e.suppressed
	e.passed, e.suppressed = now, 0
	return true, n
}

// sweepLocked forgets the kinds whose window has run out. The suppressed
// count of such a kind is lost; that is the price of bounded memory.
func (s *limitState) sweepLocked(now time.Time) {
	for k, e := range s.seen {
		if now.Sub(e.passed) >= s.every {
			delete(s.seen, k)
		}
	}
}

func (h *rateLimited) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *rateLimited) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.state.min {
		return h.next.Handle(ctx, r)
	}
	ok, suppressed := h.state.admit(limitKey{r.Level, r.Message}, time.Now(), func() int { return 1 + suppressedIn(r) })
	if !ok {
		return nil
	}
	if suppressed > 0 {
		r = withSuppressed(r, suppressed)
	}
	return h.next.Handle(ctx, r)
}

// suppressedIn returns the repeats a limiter in front already counted on
// r (its "suppressed" attribute), 0 when none.
func suppressedIn(r slog.Record) int {
	n := 0
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "suppressed" {
			n = int(a.Value.Int64())
			return false
		}
		return true
	})
	return n
}

// withSuppressed returns r with n more suppressed repeats: when a limiter
// in front of this one (a cluster's own, before the process's default
// logger's) already counted some, the record keeps one "suppressed"
// attribute with the sum rather than two.
func withSuppressed(r slog.Record, n int) slog.Record {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == "suppressed"
		return !found
	})
	if !found {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", n))
		return r
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "suppressed" {
			n += int(a.Value.Int64())
			return true
		}
		out.AddAttrs(a)
		return true
	})
	out.AddAttrs(slog.Int("suppressed", n))
	return out
}

func (h *rateLimited) WithAttrs(as []slog.Attr) slog.Handler {
	return &rateLimited{next: h.next.WithAttrs(as), state: h.state}
}

func (h *rateLimited) WithGroup(name string) slog.Handler {
	return &rateLimited{next: h.next.WithGroup(name), state: h.state}
}
