package pdclient

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/observe"
)

const (
	defaultOracleUpdateInterval = 2 * time.Second
	// oracleUpdateTimeout bounds one background TSO fetch, as PD's own
	// default request timeout does.
	oracleUpdateTimeout = 3 * time.Second
)

type oracleConfig struct {
	interval time.Duration
}

// OracleOption configures an Oracle.
type OracleOption func(*oracleConfig)

// WithUpdateInterval sets how often the Oracle refreshes its low-resolution
// timestamp from PD (default 2s, as client-go). d <= 0 keeps the default.
func WithUpdateInterval(d time.Duration) OracleOption {
	return func(c *oracleConfig) {
		if d > 0 {
			c.interval = d
		}
	}
}

// lastTS is the newest timestamp the oracle has seen and when it arrived.
type lastTS struct {
	ts      uint64
	arrival time.Time
}

// Oracle hands out timestamps from PD's TSO: fresh ones (Now) for start and
// commit timestamps, and a low-resolution one, refreshed in the background,
// for callers that only need a recent lower bound of "now" (stale reads,
// lock TTL checks).
//
// An Oracle is safe for concurrent use. It owns one goroutine, started by
// NewOracle and stopped by Close. It does not own the PD client.
type Oracle struct {
	pd TSO
	// adapt holds the refresh interval, configured and in force (see
	// oracle_adaptive.go); SetUpdateInterval pokes intervalSet so that the
	// loop resets its ticker.
	adapt       *adaptiveInterval
	intervalSet chan struct{}
	// validation shares one PD fetch among concurrent ValidateReadTS
	// calls that need a timestamp newer than the last one seen.
	validation singleflight.Group

	last   atomic.Pointer[lastTS]
	closed atomic.Bool

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	// life ends when the Oracle closes; asyncMu and async track the
	// goroutines of NowAsync, which Close cancels and waits for.
	life    context.Context
	asyncMu sync.Mutex
	async   sync.WaitGroup
}

// TSO is where an Oracle takes its timestamps: PD (every PD is one), or
// NewLocalTSO's clock for tests that need no PD.
type TSO interface {
	// GetTS returns a fresh timestamp as its physical (milliseconds since
	// the Unix epoch) and logical parts.
	GetTS(ctx context.Context) (physical, logical int64, err error)
}

// NewOracle returns an Oracle reading from pd (any TSO) and starts its
// refresh goroutine, which fetches a timestamp at once and then every
// update interval. The caller must Close it.
func NewOracle(pd TSO, opts ...OracleOption) *Oracle {
	cfg := oracleConfig{interval: defaultOracleUpdateInterval}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &Oracle{pd: pd, adapt: newAdaptiveInterval(cfg.interval, time.Now()),
		intervalSet: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}), life: ctx}
	go o.refreshLoop(ctx)
	return o
}

// Close stops the refresh goroutine and waits for it to exit. Now fails
// with kv.ErrClosed afterwards. Close is idempotent and safe for concurrent
// use.
func (o *Oracle) Close() {
	o.closeOnce.Do(func() {
		o.asyncMu.Lock()
		o.closed.Store(true)
		o.asyncMu.Unlock()
		o.cancel()
	})
	<-o.done
	o.async.Wait()
}

func (o *Oracle) refreshLoop(ctx context.Context) {
	defer close(o.done)
	o.refresh(ctx, time.Now())
	cur := o.adapt.interval()
	t := time.NewTicker(cur)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			// The next interval is computed before the refresh records
			// its tick: growing back depends on the time since the last.
			d := o.adapt.next(now, 0)
			o.refresh(ctx, now)
			if d != cur {
				cur = d
				t.Reset(cur)
			}
		case required := <-o.adapt.shrink:
			now := time.Now()
			if d := o.adapt.next(now, required); d != cur {
				cur = d
				if o.adapt.sinceTick(now) >= cur {
					o.refresh(ctx, now)
				}
				t.Reset(cur)
			}
		case <-o.intervalSet:
			// A new configured interval: the next refresh comes one new
			// interval from now; the timestamp already held stays until it.
			cur = o.adapt.interval()
			t.Reset(cur)
		}
	}
}

// refresh fetches a timestamp in the background. A failed refresh is not
// fatal: the low-resolution timestamp only falls further behind until PD
// answers again, and Now reports PD errors to its callers.
func (o *Oracle) refresh(ctx context.Context, now time.Time) {
	fctx, cancel := context.WithTimeout(ctx, oracleUpdateTimeout)
	_, _ = o.fetch(fctx)
	cancel()
	o.adapt.ticked(now)
}

// fetch reads a fresh timestamp from PD and records it. A caller's
// observe.CallStats (WithCallStats) counts the wait as a "GetTS" PD call.
func (o *Oracle) fetch(ctx context.Context) (uint64, error) {
	var start time.Time
	stats := observe.CallStatsFrom(ctx)
	if stats != nil {
		start = time.Now()
	}
	physical, logical, err := o.pd.GetTS(ctx)
	if stats != nil {
		stats.RecordPD("GetTS", time.Since(start))
	}
	if err != nil {
		return 0, err
	}
	ts := ComposeTS(physical, logical)
	o.observe(ts)
	return ts, nil
}

// observe records ts as the newest timestamp seen, unless a newer one was.
func (o *Oracle) observe(ts uint64) {
	cur := &lastTS{ts: ts, arrival: time.Now()}
	for {
		prev := o.last.Load()
		if prev != nil && prev.ts >= ts {
			return
		}
		if o.last.CompareAndSwap(prev, cur) {
			return
		}
	}
}

// TSOMaxBackoff bounds the time Now sleeps between retries of a failed TSO
// fetch (client-go's TsoMaxBackoff, with its BoPDRPC policy: waits from
// 500ms doubling to 3s, equal jitter).
const TSOMaxBackoff = 15 * time.Second

const (
	tsoRetryBase = 500 * time.Millisecond
	tsoRetryCap  = 3 * time.Second
)

// Now returns a fresh timestamp from PD's TSO, greater than every timestamp
// PD handed out before the call. A failed fetch (a PD leader change, an
// unreachable PD) is retried after a backoff, within TSOMaxBackoff of
// sleep and ctx, as client-go's KVStore.CurrentTimestamp does; the error
// then names the last failure. Safe for concurrent use.
func (o *Oracle) Now(ctx context.Context) (uint64, error) {
	delay, slept := tsoRetryBase, time.Duration(0)
	for {
		if o.closed.Load() {
			return 0, kv.ErrClosed
		}
		ts, err := o.fetch(ctx)
		if err == nil {
			return ts, nil
		}
		// Equal jitter: half the delay, plus up to the other half.
		sleep := delay/2 + rand.N(delay/2+1)
		if ctx.Err() != nil || !retryableTSOError(err) || slept+sleep > TSOMaxBackoff {
			return 0, fmt.Errorf("pdclient: get timestamp: %w", err)
		}
		t := time.NewTimer(sleep)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("pdclient: get timestamp: %w", kv.Join(context.Cause(ctx), err))
		}
		slept += sleep
		delay = min(2*delay, tsoRetryCap)
	}
}

// retryableTSOError reports whether a TSO failure may pass on a retry:
// not the caller's context ending, nor a closed client or a bad request.
func retryableTSOError(err error) bool {
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) &&
		!errors.Is(err, kv.ErrClosed) && !errors.Is(err, kv.ErrInvalidArgument)
}

// LowResolution returns the newest timestamp the oracle has seen, at most
// about one update interval old, without calling PD; 0 before the first
// fetch has completed. It never goes backwards. Safe for concurrent use.
func (o *Oracle) LowResolution() uint64 {
	if l := o.last.Load(); l != nil {
		return l.ts
	}
	return 0
}

// UntilExpired returns how long a lock with start timestamp lockTS and a TTL
// of ttlMs milliseconds has left to live, judged against the oracle's idea
// of now: the newest timestamp seen, advanced by the local time elapsed since
// it arrived. It returns 0 when the lock has expired, and also before the
// oracle has seen any timestamp (callers then ask TiKV, whose
// CheckTxnStatus is authoritative anyway). Safe for concurrent use.
func (o *Oracle) UntilExpired(lockTS, ttlMs uint64) time.Duration {
	l := o.last.Load()
	if l == nil {
		return 0
	}
	now := GoTime(l.ts).Add(time.Since(l.arrival))
	expiry := GoTime(lockTS).Add(time.Duration(ttlMs) * time.Millisecond)
	return max(expiry.Sub(now), 0)
}
