package middleware

import (
	"context"
	"errors"
	"testing"
)

// TestBreakerCountsForwardedAttemptsAgainstTheProxy: an attempt forwarded by
// a follower (transport.Target.ForwardedHost, tikv.WithForwarding) travels on
// the client's connection to the proxy, so its transport failures open the
// proxy's breaker, not the leader's; and the leader's open breaker (its
// direct connection is dead) does not refuse attempts that reach it through a
// proxy.
func TestBreakerCountsForwardedAttemptsAgainstTheProxy(t *testing.T) {
	fake := newScripted()
	b := NewCircuitBreaker(BreakerConfig{Failures: 2})
	s := b.Middleware()(fake)
	ctx := context.Background()
	forwarded := func() error {
		req := rawGet(1)
		req.Target.Addr, req.Target.ForwardedHost, req.Target.ProxyStoreID = addrOf(2), addrOf(1), 2
		_, err := s.Send(ctx, req)
		return err
	}

	fake.set(1, failing)
	for range 2 {
		if _, err := s.Send(ctx, rawGet(1)); !errors.Is(err, errUnavailable) {
			t.Fatalf("direct send = %v, want the transport's error", err)
		}
	}
	if st := b.State(1); st != BreakerOpen {
		t.Fatalf("leader's breaker %v after 2 failures, want open", st)
	}
	fake.set(1, nil)
	if err := forwarded(); err != nil {
		t.Fatalf("forwarded send with the leader's breaker open = %v, want it through", err)
	}

	fake.set(1, failing) // the scripted fake answers by Target.StoreID
	for range 2 {
		if err := forwarded(); !errors.Is(err, errUnavailable) {
			t.Fatalf("forwarded send = %v, want the transport's error", err)
		}
	}
	if st := b.State(2); st != BreakerOpen {
		t.Fatalf("proxy's breaker %v after 2 forwarded failures, want open", st)
	}
	var open *BreakerOpenError
	if err := forwarded(); !errors.As(err, &open) || open.StoreID != 2 {
		t.Fatalf("forwarded send through the proxy's open breaker = %v, want *BreakerOpenError for store 2", err)
	}
}
