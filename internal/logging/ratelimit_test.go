package logging

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recorder is a slog.Handler that keeps what it is given.
type recorder struct {
	mu      sync.Mutex
	level   slog.Level
	records []slog.Record
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) take() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.records
	r.records = nil
	return out
}

func suppressedOf(rec slog.Record) int {
	n := 0
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "suppressed" {
			n = int(a.Value.Int64())
		}
		return true
	})
	return n
}

// The same warning within the window is dropped and counted; the first one
// after the window passes with the count; other messages, other levels and
// records below the limited level are not affected.
func TestRateLimitDropsRepeatsWithinTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{level: slog.LevelDebug}
		l := slog.New(RateLimit(rec, 10*time.Second, slog.LevelWarn))

		l.Warn("pd down", "try", 1)
		for i := range 5 {
			time.Sleep(time.Second)
			l.Warn("pd down", "try", i+2) // within 10 s of the first
		}
		l.Warn("other")                // another kind passes
		l.Error("pd down")             // another level is another kind
		l.Info("pd down")              // below the limited level
		l.Info("pd down")              // ... every time
		l.With("a", 1).Warn("pd down") // a derived logger shares the limiter
		got := rec.take()
		if len(got) != 5 {
			t.Fatalf("passed %d records within the window, want 5: %v", len(got), got)
		}

		time.Sleep(5 * time.Second) // 10 s after the first passed
		l.Warn("pd down")
		got = rec.take()
		if len(got) != 1 || suppressedOf(got[0]) != 6 {
			t.Fatalf("after the window: %v, want one record with suppressed=6", got)
		}
		// The window restarts at the record that passed.
		time.Sleep(9 * time.Second)
		l.Warn("pd down")
		if got := rec.take(); len(got) != 0 {
			t.Fatalf("a repeat 9 s after the last passed one went out: %v", got)
		}
		time.Sleep(time.Second)
		l.Warn("pd down")
		if got := rec.take(); len(got) != 1 || suppressedOf(got[0]) != 1 {
			t.Fatalf("got %v, want one record with suppressed=1", got)
		}
	})
}

// Memory stays bounded: past maxKinds, the kinds whose window is over are
// forgotten.
func TestRateLimitForgetsExpiredKinds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		h := RateLimit(rec, time.Second, slog.LevelWarn).(*rateLimited)
		l := slog.New(h)
		for i := range maxKinds {
			l.Warn(strings.Repeat("x", i+1))
		}
		time.Sleep(time.Second)
		l.Warn("new kind")
		h.state.mu.Lock()
		n := len(h.state.seen)
		h.state.mu.Unlock()
		if n != 1 {
			t.Fatalf("limiter remembers %d kinds after the sweep, want 1", n)
		}
		if got := len(rec.take()); got != maxKinds+1 {
			t.Fatalf("passed %d records, want %d", got, maxKinds+1)
		}
	})
}

// The quiet logger writes warnings and errors only.
func TestNewQuietWritesWarningsAndErrorsOnly(t *testing.T) {
	var buf bytes.Buffer
	l := NewQuiet(&buf)
	l.Debug("debug line")
	l.Info("info line")
	if buf.Len() != 0 {
		t.Fatalf("quiet logger wrote %q for debug and info", buf.String())
	}
	l.Warn("warn line")
	l.Error("error line")
	if s := buf.String(); !strings.Contains(s, "warn line") || !strings.Contains(s, "error line") {
		t.Fatalf("quiet logger wrote %q, want the warning and the error", s)
	}
}

// Two limiters in a row (a cluster's own in front of the default
// logger's): a record that passes both after repeats were dropped by each
// carries one "suppressed" attribute with the sum, and its other
// attributes unchanged.
func TestRateLimitChainedSumsSuppressed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{level: slog.LevelDebug}
		inner := RateLimit(rec, 10*time.Second, slog.LevelWarn)
		outer := slog.New(RateLimit(inner, 2*time.Second, slog.LevelWarn))

		outer.Warn("store down", "addr", "a") // passes both
		time.Sleep(time.Second)
		outer.Warn("store down", "addr", "a") // dropped by the outer one
		time.Sleep(time.Second)
		outer.Warn("store down", "addr", "a") // passes the outer (suppressed=1), dropped by the inner
		time.Sleep(time.Second)
		outer.Warn("store down", "addr", "a") // dropped by the outer one
		time.Sleep(8 * time.Second)
		outer.Warn("store down", "addr", "a") // passes both: 1 from the outer, 2 from the inner (the record it dropped stood for 2)
		got := rec.take()
		if len(got) != 2 {
			t.Fatalf("passed %d records, want 2: %v", len(got), got)
		}
		n, addr := 0, ""
		got[1].Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "suppressed":
				n++
			case "addr":
				addr = a.Value.String()
			}
			return true
		})
		if n != 1 || suppressedOf(got[1]) != 3 || addr != "a" {
			t.Fatalf("record %v: %d suppressed attributes (want 1) of total %d (want 3), addr %q", got[1], n, suppressedOf(got[1]), addr)
		}
	})
}
