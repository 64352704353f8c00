package middleware

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tikvgo/tikv/transport"
)

// RateLimitConfig sets token-bucket limits (golang.org/x/time/rate) on
// physical attempts: one bucket for the whole client and one per store.
// A zero rate means no limit at that level.
type RateLimitConfig struct {
	// Rate is the client-wide number of attempts per second.
	Rate rate.Limit
	// Burst is the client-wide bucket size (default: Rate rounded up, at
	// least 1).
	Burst int
	// StoreRate is the number of attempts per second to any one store.
	StoreRate rate.Limit
	// StoreBurst is each store's bucket size (default: StoreRate rounded
	// up, at least 1).
	StoreBurst int
}

func burstFor(r rate.Limit, b int) int {
	if b > 0 {
		return b
	}
	if r == rate.Inf || float64(r) > math.MaxInt32 {
		return math.MaxInt32
	}
	return max(1, int(math.Ceil(float64(r))))
}

// RateLimit returns the layer that makes each attempt take a token from
// the store's bucket and then from the client-wide one, waiting for them
// as long as the attempt's context allows. A wait cut short, or one the
// limiter can tell would outlast the context's deadline, fails the attempt
// with a *LimitError (transport.ErrNotSent, ErrLimited) without sending it.
// A token is spent, not held: nothing is returned when the attempt ends,
// so a retry's backoff holds nothing either. Each call returns a layer with
// buckets of its own; the layer is safe for concurrent use and holds no
// goroutine. Attempts without a store (StoreID 0) take only the
// client-wide token.
func RateLimit(cfg RateLimitConfig) transport.Middleware {
	var global *rate.Limiter
	if cfg.Rate > 0 {
		global = rate.NewLimiter(cfg.Rate, burstFor(cfg.Rate, cfg.Burst))
	}
	var stores *perStore[rate.Limiter]
	if cfg.StoreRate > 0 {
		burst := burstFor(cfg.StoreRate, cfg.StoreBurst)
		stores = newPerStore(func() *rate.Limiter { return rate.NewLimiter(cfg.StoreRate, burst) })
	}
	return func(next transport.Sender) transport.Sender {
		if global == nil && stores == nil {
			return next
		}
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			id := req.Target.StoreID
			// One clock reading serves both buckets when tokens are there
			// (AllowN takes one, as Wait would); only a bucket that is
			// empty goes on to Wait, which reads the clock again.
			now := time.Now()
			if stores != nil && id != 0 {
				if lim := stores.get(id); !lim.AllowN(now, 1) {
					if err := lim.Wait(ctx); err != nil {
						return nil, &LimitError{Limit: "store rate", StoreID: id, Cause: waitCause(ctx)}
					}
				}
			}
			if global != nil && !global.AllowN(now, 1) {
				if err := global.Wait(ctx); err != nil {
					return nil, &LimitError{Limit: "rate", StoreID: id, Cause: waitCause(ctx)}
				}
			}
			return next.Send(ctx, req)
		})
	}
}

// waitCause is why a rate wait failed: the context's error, or, while the
// context is still live, the deadline the token would have come after.
func waitCause(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return context.DeadlineExceeded
}

// perStore lazily creates one T per store id.
type perStore[T any] struct {
	newT func() *T
	mu   sync.Mutex
	m    map[uint64]*T
}

func newPerStore[T any](newT func() *T) *perStore[T] {
	return &perStore[T]{newT: newT, m: make(map[uint64]*T)}
}

func (p *perStore[T]) get(id uint64) *T {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.m[id]
	if t == nil {
		t = p.newT()
		p.m[id] = t
	}
	return t
}
