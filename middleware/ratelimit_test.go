package middleware

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/time/rate"

	"github.com/tikvgo/tikv/transport"
)

// TestRateLimitGlobalPacesAttempts runs in virtual time: at 10 attempts a
// second with a burst of 1, five attempts take 400ms, whichever stores
// they go to.
func TestRateLimitGlobalPacesAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newScripted()
		s := transport.Chain(fake, RateLimit(RateLimitConfig{Rate: 10, Burst: 1}))
		start := time.Now()
		for i := range 5 {
			if _, err := s.Send(context.Background(), rawGet(uint64(1+i%2))); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d != 400*time.Millisecond {
			t.Fatalf("5 attempts at 10/s took %v, want 400ms", d)
		}
	})
}

// TestRateLimitPerStoreBuckets: each store has its own bucket, so two
// stores at 10/s each (burst 1) serve two attempts apiece in 100ms, where one store
// would need 300ms for four.
func TestRateLimitPerStoreBuckets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newScripted()
		s := transport.Chain(fake, RateLimit(RateLimitConfig{StoreRate: 10, StoreBurst: 1}))
		start := time.Now()
		for _, store := range []uint64{1, 2, 1, 2} {
			if _, err := s.Send(context.Background(), rawGet(store)); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Fatalf("2+2 attempts at 10/s per store took %v, want 100ms", d)
		}
		for range 2 {
			if _, err := s.Send(context.Background(), rawGet(1)); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d != 300*time.Millisecond {
			t.Fatalf("two more to store 1 ended at %v, want 300ms", d)
		}
	})
}

// TestRateLimitRefusalIsNotSent: a token that would come after the
// context's deadline is refused at once, and a wait cut short by
// cancellation ends when the context does; both fail with a *LimitError
// wrapping ErrNotSent and ErrLimited, and nothing reaches the store.
func TestRateLimitRefusalIsNotSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newScripted()
		s := transport.Chain(fake, RateLimit(RateLimitConfig{Rate: 1}))
		if _, err := s.Send(context.Background(), rawGet(1)); err != nil { // takes the burst
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.Send(ctx, rawGet(1))
		var le *LimitError
		if !errors.As(err, &le) || le.Limit != "rate" || !errors.Is(err, transport.ErrNotSent) ||
			!errors.Is(err, ErrLimited) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("send whose token comes after the deadline = %v, want a rate *LimitError, not sent, deadline exceeded", err)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("refusal took %v, want at once", d)
		}

		ctx2, cancel2 := context.WithCancel(context.Background())
		go func() {
			time.Sleep(300 * time.Millisecond)
			cancel2()
		}()
		_, err = s.Send(ctx2, rawGet(1))
		if !errors.Is(err, transport.ErrNotSent) || !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled wait = %v, want not sent and canceled", err)
		}
		if d := time.Since(start); d != 300*time.Millisecond {
			t.Fatalf("cancelled wait ended at %v, want 300ms (when the context was cancelled)", d)
		}
		if n := fake.count(1); n != 1 {
			t.Fatalf("store reached %d times, want only the first attempt", n)
		}
	})
}

// TestRateLimitOffPassesThrough: a zero config adds no layer at all.
func TestRateLimitOffPassesThrough(t *testing.T) {
	fake := newScripted()
	if s := RateLimit(RateLimitConfig{})(fake); s != transport.Sender(fake) {
		t.Fatalf("RateLimit with no limits wrapped the sender: %T", s)
	}
	if burstFor(rate.Inf, 0) <= 0 || burstFor(2.5, 0) != 3 || burstFor(0.1, 0) != 1 || burstFor(5, 7) != 7 {
		t.Fatal("default bursts wrong")
	}
}
