package middleware

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
)

// BreakerState is the state of one store's circuit breaker.
type BreakerState int

const (
	// BreakerClosed: attempts pass and their transport failures are counted.
	BreakerClosed BreakerState = iota
	// BreakerHalfOpen: the open period is over; a few attempts (and health
	// checks) may pass to find out whether the store is back.
	BreakerHalfOpen
	// BreakerOpen: attempts to the store are refused without being sent.
	BreakerOpen
)

// String returns "closed", "half-open" or "open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerHalfOpen:
		return "half-open"
	case BreakerOpen:
		return "open"
	default:
		return "BreakerState(" + strconv.Itoa(int(s)) + ")"
	}
}

func breakerState(s gobreaker.State) BreakerState {
	switch s {
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	case gobreaker.StateOpen:
		return BreakerOpen
	default:
		return BreakerClosed
	}
}

// Defaults of BreakerConfig.
const (
	// DefaultBreakerFailures: three transport failures in a row. Health
	// checks count too, and the region cache checks a store right after a
	// failed send and then every second while it stays unreachable, so a
	// stopped store opens its breaker within about two seconds.
	DefaultBreakerFailures = 3
	// DefaultBreakerOpenTimeout is how long an open breaker refuses before
	// it lets a probe through: short, because the region cache's own
	// health checks already keep traffic off a dead store, and the breaker
	// must not keep a store that came back out for long.
	DefaultBreakerOpenTimeout = 5 * time.Second
)

// BreakerConfig configures the per-store circuit breaker. The zero value
// means the defaults.
type BreakerConfig struct {
	// Failures is how many consecutive transport failures open a store's
	// breaker (default DefaultBreakerFailures).
	Failures uint32
	// OpenTimeout is how long a breaker stays open before it turns
	// half-open (default DefaultBreakerOpenTimeout).
	OpenTimeout time.Duration
	// HalfOpenRequests is how many attempts a half-open breaker lets
	// through at once; that many successes in a row close it, one failure
	// opens it again (default 1).
	HalfOpenRequests uint32
	// OnStateChange, when set, is called on every transition of a store's
	// breaker (for metrics and logs). It runs under the breaker's lock:
	// it must be quick and must not call back into the CircuitBreaker.
	OnStateChange func(storeID uint64, from, to BreakerState)
}

// BreakerOpenError is returned, without sending, for an attempt to a store
// whose breaker is open (or half-open with its probes all taken). It wraps
// transport.ErrNotSent, so the pipeline may send the attempt elsewhere even
// when the command is not idempotent, and ErrBreakerOpen.
type BreakerOpenError struct {
	StoreID uint64
	State   BreakerState
}

// ErrBreakerOpen is wrapped by every *BreakerOpenError.
var ErrBreakerOpen = errors.New("tikv: circuit breaker open")

// Error names the store and the breaker's state, on one line.
func (e *BreakerOpenError) Error() string {
	return fmt.Sprintf("store %d: circuit breaker %s", e.StoreID, e.State)
}

// Unwrap returns the sentinels the error stands for.
func (e *BreakerOpenError) Unwrap() []error {
	return []error{ErrBreakerOpen, transport.ErrNotSent}
}

// CircuitBreaker keeps one circuit breaker (github.com/sony/gobreaker) per
// store. Its Middleware refuses attempts to a store whose breaker is open;
// its HealthChecker makes the region cache's health checks part of the same
// picture (see HealthChecker). It is safe for concurrent use and holds no
// goroutine.
//
// Only transport failures count: an error from the layer below that is not
// the caller's own doing. A response, whatever region or key errors it
// carries, proves the store answered and counts as a success. Not counted
// at all: attempts whose context ended (the caller gave up), attempts that
// timed out while still queued in the client (transport.ErrNotSent with a
// context error), refusals by the client-side limiters below (ErrLimited),
// a closed client, invalid requests and protocol violations.
type CircuitBreaker struct {
	cfg BreakerConfig

	mu       sync.RWMutex
	breakers map[uint64]*gobreaker.CircuitBreaker[struct{}]
	// stores maps the addresses attempts went to onto their stores, for
	// health checks, which name only an address.
	stores map[string]uint64
}

// NewCircuitBreaker returns a CircuitBreaker with cfg's settings; zero
// fields take the defaults.
func NewCircuitBreaker(cfg BreakerConfig) *CircuitBreaker {
	if cfg.Failures == 0 {
		cfg.Failures = DefaultBreakerFailures
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = DefaultBreakerOpenTimeout
	}
	if cfg.HalfOpenRequests == 0 {
		cfg.HalfOpenRequests = 1
	}
	return &CircuitBreaker{
		cfg:      cfg,
		breakers: make(map[uint64]*gobreaker.CircuitBreaker[struct{}]),
		stores:   make(map[string]uint64),
	}
}

// errNotCounted is handed to gobreaker for an outcome it must ignore.
var errNotCounted = errors.New("not counted")

// errTransport is handed to gobreaker for a transport failure.
var errTransport = errors.New("transport failure")

func (b *CircuitBreaker) breaker(storeID uint64) *gobreaker.CircuitBreaker[struct{}] {
	b.mu.RLock()
	cb := b.breakers[storeID]
	b.mu.RUnlock()
	if cb != nil {
		return cb
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if cb := b.breakers[storeID]; cb != nil {
		return cb
	}
	failures := b.cfg.Failures
	settings := gobreaker.Settings{
		Name:        strconv.FormatUint(storeID, 10),
		MaxRequests: b.cfg.HalfOpenRequests,
		Timeout:     b.cfg.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsExcluded:  func(err error) bool { return err == errNotCounted },
	}
	if f := b.cfg.OnStateChange; f != nil {
		settings.OnStateChange = func(_ string, from, to gobreaker.State) {
			f(storeID, breakerState(from), breakerState(to))
		}
	}
	cb = gobreaker.NewCircuitBreaker[struct{}](settings)
	b.breakers[storeID] = cb
	return cb
}

// State returns the state of the store's breaker; BreakerClosed for a store
// no attempt has gone to. An open breaker whose timeout has passed reports
// BreakerHalfOpen.
func (b *CircuitBreaker) State(storeID uint64) BreakerState {
	b.mu.RLock()
	cb := b.breakers[storeID]
	b.mu.RUnlock()
	if cb == nil {
		return BreakerClosed
	}
	return breakerState(cb.State())
}

// States returns the state of every store's breaker, by store id (for
// metrics).
func (b *CircuitBreaker) States() map[uint64]BreakerState {
	b.mu.RLock()
	cbs := make(map[uint64]*gobreaker.CircuitBreaker[struct{}], len(b.breakers))
	for id, cb := range b.breakers {
		cbs[id] = cb
	}
	b.mu.RUnlock()
	out := make(map[uint64]BreakerState, len(cbs))
	for id, cb := range cbs {
		out[id] = breakerState(cb.State())
	}
	return out
}

// Middleware returns the layer that consults the breaker of each attempt's
// store: an open breaker fails the attempt at once with a
// *BreakerOpenError (transport.ErrNotSent), so the pipeline's replica
// selector moves on rather than waiting on a dead connection. Attempts
// without a store (StoreID 0) pass uncounted. A forwarded attempt
// (Target.ForwardedHost) counts against the proxy's store: the breaker
// judges the client's connection, and that goes to the proxy.
func (b *CircuitBreaker) Middleware() transport.Middleware {
	return func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			id := req.Target.StoreID
			if req.Target.ForwardedHost != "" {
				id = req.Target.ProxyStoreID
			}
			if id == 0 {
				return next.Send(ctx, req)
			}
			cb := b.breaker(id)
			// Execute rather than the two-step Allow: Allow returns a
			// closure per attempt (an allocation), while Execute's
			// function does not escape and stays on the stack.
			var resp *transport.Response
			var err error
			sent := false
			_, _ = cb.Execute(func() (struct{}, error) {
				sent = true
				b.learnAddr(req.Target.Addr, id)
				resp, err = next.Send(ctx, req)
				return struct{}{}, classify(ctx, err)
			})
			if !sent {
				return nil, &BreakerOpenError{StoreID: id, State: breakerState(cb.State())}
			}
			return resp, err
		})
	}
}

func (b *CircuitBreaker) learnAddr(addr string, id uint64) {
	if addr == "" {
		return
	}
	b.mu.RLock()
	known := b.stores[addr] == id
	b.mu.RUnlock()
	if !known {
		b.mu.Lock()
		b.stores[addr] = id
		b.mu.Unlock()
	}
}

// classify turns an attempt's outcome into what gobreaker should count:
// nil (success), errTransport, or errNotCounted.
func classify(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil,
		errors.Is(err, ErrLimited),
		errors.Is(err, ErrBreakerOpen),
		errors.Is(err, kv.ErrClosed),
		errors.Is(err, kv.ErrInvalidArgument),
		errors.Is(err, kv.ErrProtocol):
		return errNotCounted
	case errors.Is(err, transport.ErrNotSent) &&
		(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)):
		// Timed out while still queued in the client: the store had no
		// part in it (the pipeline does not blame the store either).
		return errNotCounted
	default:
		return errTransport
	}
}

// HealthChecker returns hc with the breakers in front: a health check of
// the address of a store whose breaker is open fails at once with a
// *BreakerOpenError, without dialling, so the region cache keeps the store
// unreachable while its breaker is open; once the breaker is half-open the
// check goes through and its outcome decides, like an attempt's: a store
// that answers closes the breaker (after HalfOpenRequests checks or
// attempts), one that does not opens it again. In the closed state failed
// checks count towards opening it, so a stopped store trips its breaker
// although the selector stops sending to it after the first failure;
// passing checks count for nothing there, so a store that answers health
// checks while its requests fail still trips it.
// Addresses no attempt has gone to are checked by hc alone.
func (b *CircuitBreaker) HealthChecker(hc transport.HealthChecker) transport.HealthChecker {
	return breakerHealth{b: b, next: hc}
}

type breakerHealth struct {
	b    *CircuitBreaker
	next transport.HealthChecker
}

func (h breakerHealth) CheckHealth(ctx context.Context, addr string) error {
	h.b.mu.RLock()
	id, ok := h.b.stores[addr]
	h.b.mu.RUnlock()
	if !ok {
		return h.next.CheckHealth(ctx, addr)
	}
	cb := h.b.breaker(id)
	probing := cb.State() != gobreaker.StateClosed
	var err error
	checked := false
	_, _ = cb.Execute(func() (struct{}, error) {
		checked = true
		err = h.next.CheckHealth(ctx, addr)
		return struct{}{}, healthOutcome(err, probing)
	})
	if !checked {
		return &BreakerOpenError{StoreID: id, State: breakerState(cb.State())}
	}
	return err
}

// healthOutcome is what gobreaker should count for a health check's result.
func healthOutcome(err error, probing bool) error {
	var notServing *transport.NotServingError
	switch {
	case err == nil && probing:
		return nil
	case err == nil:
		// A store whose health service answers while its requests keep
		// failing must still trip its breaker: in the closed state a
		// passing check does not reset the count of failed attempts.
		return errNotCounted
	case errors.As(err, &notServing):
		// The store answered: it is up, just not serving yet.
		return errNotCounted
	case errors.Is(err, context.Canceled):
		return errNotCounted // the cache is closing
	default:
		// Including a check that ran out of time: the store did not
		// answer within the liveness timeout.
		return errTransport
	}
}

// Refusal returns the error an attempt at storeID gets right now: a
// *BreakerOpenError while the store's breaker is open, nil when it is
// closed or half-open (attempts may go through). It is the Env's
// StoreGuard (pipeline.Env), so that a piece whose leader is behind an
// open breaker fails fast instead of waiting for new routing.
func (b *CircuitBreaker) Refusal(storeID uint64) error {
	if s := b.State(storeID); s == BreakerOpen {
		return &BreakerOpenError{StoreID: storeID, State: s}
	}
	return nil
}
