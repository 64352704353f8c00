package middleware

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
)

var errUnavailable = errors.New("rpc error: code = Unavailable desc = connection refused")

func failing() (*transport.Response, error) { return nil, errUnavailable }

// TestBreakerOpensOnTransportFailuresOnly: region errors never count; the
// configured number of transport failures in a row opens the store's
// breaker, after which attempts fail at once with a *BreakerOpenError that
// wraps transport.ErrNotSent and never reach the store. Other stores are
// unaffected.
func TestBreakerOpensOnTransportFailuresOnly(t *testing.T) {
	fake := newScripted()
	b := NewCircuitBreaker(BreakerConfig{Failures: 3})
	s := transport.Chain(fake, b.Middleware())
	ctx := context.Background()

	fake.set(1, regionErrorAnswer)
	for range 10 {
		if _, err := s.Send(ctx, rawGet(1)); err != nil {
			t.Fatal(err)
		}
	}
	if st := b.State(1); st != BreakerClosed {
		t.Fatalf("after 10 region errors state = %v, want closed", st)
	}

	fake.set(1, failing)
	for i := range 3 {
		if _, err := s.Send(ctx, rawGet(1)); !errors.Is(err, errUnavailable) {
			t.Fatalf("failure %d = %v, want the transport's error", i, err)
		}
	}
	if st := b.State(1); st != BreakerOpen {
		t.Fatalf("after 3 transport failures state = %v, want open", st)
	}
	before := fake.count(1)
	_, err := s.Send(ctx, rawGet(1))
	var open *BreakerOpenError
	if !errors.As(err, &open) || open.StoreID != 1 || !errors.Is(err, transport.ErrNotSent) || !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("send through an open breaker = %v, want *BreakerOpenError for store 1 wrapping ErrNotSent", err)
	}
	if fake.count(1) != before {
		t.Fatal("an open breaker let the attempt reach the store")
	}
	if _, err := s.Send(ctx, rawGet(2)); err != nil {
		t.Fatalf("store 2 = %v: its breaker is its own", err)
	}
	if got := b.States(); len(got) != 2 || got[1] != BreakerOpen || got[2] != BreakerClosed {
		t.Fatalf("States = %v, want 1 open and 2 closed", got)
	}
}

// TestBreakerIgnoresWhatIsNotTheStores: a cancelled call, a limiter's
// refusal, a request timed out in the client's queue, a closed client and
// an invalid request are not the store's failures and never open it; a
// success between failures resets the count.
func TestBreakerIgnoresWhatIsNotTheStores(t *testing.T) {
	fake := newScripted()
	b := NewCircuitBreaker(BreakerConfig{Failures: 2})
	s := transport.Chain(fake, b.Middleware())
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		ctx context.Context
		err error
	}{
		{cancelled, context.Canceled},
		{context.Background(), &LimitError{Limit: "rate", StoreID: 1, Cause: context.DeadlineExceeded}},
		{context.Background(), fmt.Errorf("%w: queued for a BatchCommands stream: %w", transport.ErrNotSent, context.DeadlineExceeded)},
		{context.Background(), kv.ErrClosed},
		{context.Background(), kv.InvalidArgument("bad")},
	}
	for _, c := range cases {
		fake.set(1, func() (*transport.Response, error) { return nil, c.err })
		for range 5 {
			if _, err := s.Send(c.ctx, rawGet(1)); !errors.Is(err, c.err) {
				t.Fatalf("send = %v, want %v", err, c.err)
			}
		}
		if st := b.State(1); st != BreakerClosed {
			t.Fatalf("after 5 × %v state = %v, want closed", c.err, st)
		}
	}
	// One failure, a success, one failure: never two in a row.
	for _, f := range []func() (*transport.Response, error){failing, nil, failing} {
		fake.set(1, f)
		_, _ = s.Send(context.Background(), rawGet(1))
	}
	if st := b.State(1); st != BreakerClosed {
		t.Fatalf("after failure, success, failure state = %v, want closed", st)
	}
}

// TestBreakerHalfOpensAfterTimeout runs in virtual time: an open breaker
// turns half-open after OpenTimeout; a failed probe opens it again, a
// successful one closes it. OnStateChange sees every transition.
func TestBreakerHalfOpensAfterTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newScripted()
		var changes []string
		b := NewCircuitBreaker(BreakerConfig{Failures: 1, OpenTimeout: time.Second, OnStateChange: func(id uint64, from, to BreakerState) {
			changes = append(changes, fmt.Sprintf("%d:%v->%v", id, from, to))
		}})
		s := transport.Chain(fake, b.Middleware())
		ctx := context.Background()
		fake.set(1, failing)
		_, _ = s.Send(ctx, rawGet(1))
		if st := b.State(1); st != BreakerOpen {
			t.Fatalf("state = %v, want open", st)
		}
		time.Sleep(time.Second)
		if st := b.State(1); st != BreakerOpen {
			t.Fatalf("state at the timeout = %v, want open", st)
		}
		time.Sleep(time.Nanosecond)
		if st := b.State(1); st != BreakerHalfOpen {
			t.Fatalf("state past the timeout = %v, want half-open", st)
		}
		if _, err := s.Send(ctx, rawGet(1)); !errors.Is(err, errUnavailable) {
			t.Fatalf("half-open probe = %v, want it sent and failing", err)
		}
		if st := b.State(1); st != BreakerOpen {
			t.Fatalf("after a failed probe state = %v, want open", st)
		}
		time.Sleep(time.Second + time.Nanosecond)
		fake.set(1, regionErrorAnswer) // answered: the store is back
		if _, err := s.Send(ctx, rawGet(1)); err != nil {
			t.Fatal(err)
		}
		if st := b.State(1); st != BreakerClosed {
			t.Fatalf("after a successful probe state = %v, want closed", st)
		}
		want := []string{"1:closed->open", "1:open->half-open", "1:half-open->open", "1:open->half-open", "1:half-open->closed"}
		if !slices.Equal(changes, want) {
			t.Fatalf("transitions = %v, want %v", changes, want)
		}
	})
}

// fakeHealth answers health checks by address and counts them.
type fakeHealth struct {
	err    error
	checks int
}

func (h *fakeHealth) CheckHealth(context.Context, string) error {
	h.checks++
	return h.err
}

// TestBreakerHealthChecks: failed health checks of a known store count
// towards its breaker, passing ones do not reset the count; an open breaker fails the check without asking the
// store; once half-open the check goes through and a serving store closes
// the breaker. Addresses no attempt has used are checked plainly.
func TestBreakerHealthChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newScripted()
		b := NewCircuitBreaker(BreakerConfig{Failures: 3, OpenTimeout: time.Second})
		s := transport.Chain(fake, b.Middleware())
		ctx := context.Background()
		inner := &fakeHealth{err: errUnavailable}
		hc := b.HealthChecker(inner)

		if err := hc.CheckHealth(ctx, "unknown:1"); !errors.Is(err, errUnavailable) || inner.checks != 1 {
			t.Fatalf("check of an unknown address = %v after %d checks, want the inner check's answer", err, inner.checks)
		}
		if b.State(1) != BreakerClosed {
			t.Fatal("an unknown address touched store 1's breaker")
		}
		fake.set(1, failing)
		_, _ = s.Send(ctx, rawGet(1)) // one failed send, and the address is learnt
		// A passing check in the closed state does not wipe it out.
		inner.err = nil
		if err := hc.CheckHealth(ctx, addrOf(1)); err != nil {
			t.Fatal(err)
		}
		inner.err = errUnavailable
		for range 2 {
			_ = hc.CheckHealth(ctx, addrOf(1))
		}
		if st := b.State(1); st != BreakerOpen {
			t.Fatalf("after a failed send and two failed checks state = %v, want open", st)
		}
		checks := inner.checks
		if checks != 4 {
			t.Fatalf("inner checks = %d, want 4", checks)
		}
		err := hc.CheckHealth(ctx, addrOf(1))
		var open *BreakerOpenError
		if !errors.As(err, &open) || inner.checks != checks {
			t.Fatalf("check while open = %v (%d inner checks, want %d): want a refusal without asking", err, inner.checks, checks)
		}
		time.Sleep(time.Second + time.Nanosecond)
		inner.err = nil
		if err := hc.CheckHealth(ctx, addrOf(1)); err != nil || inner.checks != checks+1 {
			t.Fatalf("half-open check = %v with %d inner checks, want a real, passing check", err, inner.checks)
		}
		if st := b.State(1); st != BreakerClosed {
			t.Fatalf("after a passing half-open check state = %v, want closed", st)
		}
	})
}
