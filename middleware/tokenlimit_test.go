package middleware

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tikvgo/tikv/transport"
)

// gate is a fake store that holds every attempt until released, counting
// those in flight.
type gate struct {
	mu       sync.Mutex
	inFlight map[uint64]int
	release  chan struct{}
}

func (g *gate) Send(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	g.mu.Lock()
	g.inFlight[req.Target.StoreID]++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inFlight[req.Target.StoreID]--
		g.mu.Unlock()
	}()
	<-g.release
	return &transport.Response{}, nil
}

func (g *gate) count(store uint64) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight[store]
}

// TestStoreTokenLimitBoundsInFlight runs in virtual time: with a limit of
// 2, a third attempt to the same store queues until one returns, while an
// attempt to another store goes at once; a queued attempt whose context
// ends fails with a *LimitError wrapping ErrNotSent.
//
// It ports client-go's TestStoreTokenLimit
// (internal/locate/region_request3_test.go): a store at its token limit
// refuses the request with a typed error naming the store (tikvgo queues
// for a token first, client-go fails at once).
//
// It also ports client-go's TestRateLimit (util/rate_limit_test.go): a taker past
// the capacity blocks, leaves when its done signal (our ctx) fires, and is
// admitted when a token comes back. Its double-PutToken panic has no
// counterpart: the layer returns each token itself when Send returns.
func TestStoreTokenLimitBoundsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &gate{inFlight: map[uint64]int{}, release: make(chan struct{})}
		s := transport.Chain(g, StoreTokenLimit(2))
		var wg sync.WaitGroup
		send := func(store uint64) {
			wg.Go(func() {
				if _, err := s.Send(context.Background(), rawGet(store)); err != nil {
					t.Error(err)
				}
			})
		}
		send(1)
		send(1)
		send(1)
		send(2)
		synctest.Wait()
		if a, b := g.count(1), g.count(2); a != 2 || b != 1 {
			t.Fatalf("in flight: store 1 %d, store 2 %d; want 2 and 1", a, b)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.Send(ctx, rawGet(1))
		var le *LimitError
		if !errors.As(err, &le) || le.Limit != "store tokens" || le.StoreID != 1 ||
			!errors.Is(err, transport.ErrNotSent) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("queued attempt past its deadline = %v, want a store-token *LimitError, not sent", err)
		}
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Fatalf("the wait lasted %v, want the context's 50ms", d)
		}

		g.release <- struct{}{} // one of store 1's attempts returns ...
		synctest.Wait()
		if a := g.count(1); a != 2 {
			t.Fatalf("after one returned, store 1 has %d in flight, want the queued one admitted (2)", a)
		}
		close(g.release)
		wg.Wait()
	})
}

// TestStoreTokenReleasedWhenAttemptFails: a failed attempt gives its token
// back as it returns, so the next attempt (a retry after backoff) does not
// wait for a token the failed one still held.
func TestStoreTokenReleasedWhenAttemptFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newScripted()
		fake.set(1, failing)
		s := transport.Chain(fake, StoreTokenLimit(1))
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			_, err := s.Send(ctx, rawGet(1))
			cancel()
			if !errors.Is(err, errUnavailable) {
				t.Fatalf("attempt = %v, want the store's failure (a token was free)", err)
			}
		}
		if n := fake.count(1); n != 3 {
			t.Fatalf("store reached %d times, want 3", n)
		}
	})
}
