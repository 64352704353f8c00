package txn

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
)

// Defaults of SafePointCacheOptions, client-go's (tikv/safepoint.go).
const (
	// DefaultSafePointRefresh is how often the cache re-reads PD's GC
	// states (client-go's pollTxnSafePointInterval).
	DefaultSafePointRefresh = 10 * time.Second
	// DefaultSafePointRetry is how soon the cache tries again after a
	// failed read (client-go's pollTxnSafePointQuickRepeatInterval).
	DefaultSafePointRetry = time.Second
	// DefaultSafePointMaxAge is the age past which the cache no longer
	// vouches for a read: client-go's GcStateCacheInterval (100 s) less
	// gcCPUTimeInaccuracyBound (10 s), the margin for clocks that drift.
	DefaultSafePointMaxAge = 90 * time.Second
)

// SafePointCacheOptions tune a SafePointCache; zero fields take the
// defaults above.
type SafePointCacheOptions struct {
	// Refresh is the interval between reads of PD's GC states.
	Refresh time.Duration
	// Retry is the interval before the next read after a failed one.
	Retry time.Duration
	// MaxAge is the age of the last successful read past which checks
	// fail with a *StaleSafePointError instead of trusting it. It should
	// stay well under the GC life time (TiDB's tidb_gc_life_time, 10 min
	// by default), or the txn safe point may pass a read unseen.
	MaxAge time.Duration
}

func (o SafePointCacheOptions) withDefaults() SafePointCacheOptions {
	if o.Refresh <= 0 {
		o.Refresh = DefaultSafePointRefresh
	}
	if o.Retry <= 0 {
		o.Retry = DefaultSafePointRetry
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultSafePointMaxAge
	}
	return o
}

// SafePointCache is a SafePointChecker that keeps the txn safe point of a
// keyspace, read from PD's GC states, in memory (client-go's KVStore txn
// safe point cache and runTxnSafePointUpdater): one goroutine reads it
// when the cache starts and then every Refresh, and checks compare a start
// ts with the last value read, without a PD round trip.
//
// A check fails with *kv.TxnAbortedByGCError when the start ts is below
// the cached txn safe point, and with *StaleSafePointError when the last
// successful read is older than MaxAge (or none succeeded yet): PD's txn
// safe point may have moved past the read since, and an unchecked read
// must not pass as a checked one. Until the first read has answered,
// checks wait for it (or for their ctx).
//
// It is safe for concurrent use. Close stops the goroutine; checks after
// Close keep using the last value until it is MaxAge old.
type SafePointCache struct {
	pd         pdclient.PD
	keyspaceID uint32
	opts       SafePointCacheOptions

	// first is closed once the first read has answered, either way.
	first  chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.RWMutex
	// txnSafePoint is the last txn safe point read; readAt is when that
	// read was sent (zero before the first success), so that its age
	// never understates the cache's; lastErr is the last read's failure
	// (nil after a success).
	txnSafePoint uint64
	readAt       time.Time
	lastErr      error
}

// NewSafePointCache starts a cache of the txn safe point of keyspaceID in
// PD's GC states (see pdclient.GCStateKeyspace for the keyspace to pass).
// Close stops it.
func NewSafePointCache(pd pdclient.PD, keyspaceID uint32, opts SafePointCacheOptions) *SafePointCache {
	ctx, cancel := context.WithCancel(context.Background())
	c := &SafePointCache{
		pd:         pd,
		keyspaceID: keyspaceID,
		opts:       opts.withDefaults(),
		first:      make(chan struct{}),
		cancel:     cancel,
		done:       make(chan struct{}),
	}
	go c.run(ctx)
	return c
}

// run reads the txn safe point at once and then every Refresh, or every
// Retry after a failure, until Close.
func (c *SafePointCache) run(ctx context.Context) {
	defer close(c.done)
	ok := c.refresh(ctx)
	close(c.first)
	for {
		wait := c.opts.Refresh
		if !ok {
			wait = c.opts.Retry
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		ok = c.refresh(ctx)
	}
}

// refresh reads PD's GC states once, bounded by the refresh interval so a
// hung PD cannot stall the loop past the next tick.
func (c *SafePointCache) refresh(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Refresh)
	defer cancel()
	sent := time.Now()
	st, err := pdclient.ReadGCState(ctx, c.pd, c.keyspaceID)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.lastErr = fmt.Errorf("read GC states of keyspace %d: %w", c.keyspaceID, err)
		return false
	}
	// PD never moves the txn safe point back; a lower answer (a lagging
	// PD follower, say) must not lower the cache either.
	c.txnSafePoint = max(c.txnSafePoint, st.TxnSafePoint)
	c.readAt = sent
	c.lastErr = nil
	return true
}

// CheckVisibility returns nil when startTS is at or above the cached txn
// safe point and the cache is fresh; see SafePointCache for the errors.
func (c *SafePointCache) CheckVisibility(ctx context.Context, startTS uint64) error {
	select {
	case <-c.first:
	case <-ctx.Done():
		return fmt.Errorf("txn: wait for the txn safe point: %w", context.Cause(ctx))
	}
	c.mu.RLock()
	sp, readAt, lastErr := c.txnSafePoint, c.readAt, c.lastErr
	c.mu.RUnlock()
	if readAt.IsZero() {
		return &StaleSafePointError{StartTS: startTS, MaxAge: c.opts.MaxAge, Cause: lastErr}
	}
	if age := time.Since(readAt); age > c.opts.MaxAge {
		return &StaleSafePointError{StartTS: startTS, Age: age, MaxAge: c.opts.MaxAge, Cause: lastErr}
	}
	if startTS < sp {
		return &kv.TxnAbortedByGCError{StartTS: startTS, SafePoint: sp}
	}
	return nil
}

// Close stops the refresh goroutine and waits for it. It is idempotent.
func (c *SafePointCache) Close() {
	c.cancel()
	<-c.done
}

// StaleSafePointError says a read at StartTS could not be checked against
// garbage collection: the txn safe point cache's last successful read of
// PD's GC states is Age old, more than MaxAge (Age 0: no read succeeded
// yet), so PD's txn safe point may have passed StartTS unseen (client-go
// fails such a check with a PD server timeout, "start timestamp may fall
// behind safe point"). It wraps kv.ErrPDUnavailable and Cause, the last
// read's failure, if any. The transaction may be retried once PD answers.
type StaleSafePointError struct {
	StartTS uint64
	Age     time.Duration
	MaxAge  time.Duration
	Cause   error
}

// Error names the read ts, the cache's age and the last failure on one
// line.
func (e *StaleSafePointError) Error() string {
	age := "never read"
	if e.Age > 0 {
		age = fmt.Sprintf("last read %v ago (limit %v)", e.Age.Round(time.Millisecond), e.MaxAge)
	}
	msg := fmt.Sprintf("txn: read at ts %d may be behind the txn safe point: %s", e.StartTS, age)
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg + ": " + kv.ErrPDUnavailable.Error()
}

// Unwrap returns kv.ErrPDUnavailable and the last read's failure.
func (e *StaleSafePointError) Unwrap() []error {
	if e.Cause == nil {
		return []error{kv.ErrPDUnavailable}
	}
	return []error{kv.ErrPDUnavailable, e.Cause}
}
