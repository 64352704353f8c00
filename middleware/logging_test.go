package middleware

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tikvgo/tikv/transport"
)

// records is a slog handler that keeps what it is given.
type records struct {
	mu  sync.Mutex
	got []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, rec.Clone())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func (r *records) take() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

func attr(rec slog.Record, key string) slog.Value {
	var v slog.Value
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value
			return false
		}
		return true
	})
	return v
}

// TestRequestLoggingRateLimitsADownStore runs in virtual time: a hundred
// failed attempts to a down store within the window give one line; another
// store's first failure is not hidden by it; after the window the next
// line carries the number suppressed. Answers (region errors included) and
// attempts whose caller gave up are not logged.
func TestRequestLoggingRateLimitsADownStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &records{}
		fake := newScripted()
		fake.set(1, failing)
		fake.set(2, failing)
		fake.set(3, regionErrorAnswer)
		s := transport.Chain(fake, RequestLogging(LoggingConfig{Logger: slog.New(h), Every: time.Second}))
		ctx := context.Background()
		for range 100 {
			_, _ = s.Send(ctx, rawGet(1))
			_, _ = s.Send(ctx, rawGet(3))
			time.Sleep(5 * time.Millisecond)
		}
		_, _ = s.Send(ctx, rawGet(2))
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		_, _ = s.Send(cancelled, rawGet(2))

		got := h.take()
		if len(got) != 2 || !strings.Contains(got[0].Message, "store 1") || !strings.Contains(got[1].Message, "store 2") {
			t.Fatalf("lines = %v, want one for store 1 and one for store 2", got)
		}
		first := got[0]
		if first.Level != slog.LevelWarn || attr(first, "cmd").String() != "RawGet" || attr(first, "store").Uint64() != 1 ||
			attr(first, "not_sent").Bool() || !strings.Contains(attr(first, "error").String(), "Unavailable") {
			t.Fatalf("line %v: want a warning naming the command, store and error", first)
		}

		time.Sleep(time.Second)
		_, _ = s.Send(ctx, rawGet(1))
		got = h.take()
		if len(got) != 1 || attr(got[0], "suppressed").Int64() != 99 {
			t.Fatalf("line after the window = %v, want one with suppressed=99", got)
		}
	})
}
