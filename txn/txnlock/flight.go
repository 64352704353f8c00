package txnlock

import (
	"context"
	"errors"
	"sync"
)

// flightGroup collapses concurrent identical work (a status check of one
// transaction, a region-wide resolve of one transaction in one region)
// into one execution, as golang.org/x/sync/singleflight does, with two
// differences that matter here: the leader runs the work in its own
// goroutine (the work uses the leader's context, which carries its
// request's retry state, so it must not move to another goroutine), and a
// follower stops waiting when its own context ends instead of being tied
// to the leader's. Nothing is started that outlives the call.
type flightGroup struct {
	mu      sync.Mutex
	flights map[string]*flight
}

type flight struct {
	done chan struct{}
	val  any
	err  error
}

// do runs fn once for all concurrent callers with the same key. A follower
// whose leader failed only because the leader's context ended, while the
// follower's is still live, runs the work again rather than inherit a
// cancellation that was not its own.
func (g *flightGroup) do(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	for {
		g.mu.Lock()
		if g.flights == nil {
			g.flights = make(map[string]*flight)
		}
		if f, ok := g.flights[key]; ok {
			g.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
			if f.err != nil && ctx.Err() == nil && isContextErr(f.err) {
				continue
			}
			return f.val, f.err
		}
		// Until fn returns, the outcome is "abandoned": what followers see
		// if fn panics out of the leader.
		f := &flight{done: make(chan struct{}), err: errFlightAbandoned}
		g.flights[key] = f
		g.mu.Unlock()

		func() {
			defer func() {
				g.mu.Lock()
				delete(g.flights, key)
				g.mu.Unlock()
				close(f.done)
			}()
			f.val, f.err = fn(ctx)
		}()
		return f.val, f.err
	}
}

// errFlightAbandoned is what followers get when the leader's work
// panicked.
var errFlightAbandoned = errors.New("txnlock: shared request abandoned by its leader")

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
