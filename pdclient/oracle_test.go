package pdclient

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tikvgo/tikv/kv"
)

func TestComposeTS(t *testing.T) {
	ts := ComposeTS(1_700_000_000_123, 42)
	check.Equal(t, uint64(1_700_000_000_123)<<18|42, ts)
	check.Equal(t, int64(1_700_000_000_123), ExtractPhysical(ts))
	check.Equal(t, int64(42), ExtractLogical(ts))
	check.Equal(t, time.UnixMilli(1_700_000_000_123), GoTime(ts))
	check.Equal(t, ComposeTS(1_700_000_000_123, 0), GoTimeToTS(time.UnixMilli(1_700_000_000_123)))
}

func TestOracleRefreshesLowResolution(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := newFakePD()
		o := NewOracle(pd, WithUpdateInterval(2*time.Second))
		synctest.Wait()
		first := o.LowResolution()
		check.Equal(t, ComposeTS(time.Now().UnixMilli(), 0), first, "fetched at start")
		check.Equal(t, 1, pd.count("GetTS"))

		time.Sleep(1 * time.Second)
		check.Equal(t, first, o.LowResolution(), "not refreshed before the interval")
		time.Sleep(1 * time.Second)
		synctest.Wait()
		check.Equal(t, ComposeTS(time.Now().UnixMilli(), 0), o.LowResolution())
		check.Equal(t, 2, pd.count("GetTS"))

		// Now is fresh, and moves the low-resolution timestamp forward.
		time.Sleep(500 * time.Millisecond)
		ts, err := o.Now(context.Background())
		must.NoError(t, err)
		check.Equal(t, ComposeTS(time.Now().UnixMilli(), 0), ts)
		check.Equal(t, ts, o.LowResolution())
		ts2, err := o.Now(context.Background())
		must.NoError(t, err)
		check.True(t, ts2 > ts, "strictly increasing")

		o.Close()
		o.Close()
		n := pd.count("GetTS")
		time.Sleep(10 * time.Second)
		check.Equal(t, n, pd.count("GetTS"), "no refresh after Close")
		_, err = o.Now(context.Background())
		check.ErrorIs(t, err, kv.ErrClosed)
	})
}

func TestOracleToleratesPDErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := newFakePD()
		pd.tsErr = errors.New("PD down")
		o := NewOracle(pd)
		defer o.Close()
		synctest.Wait()
		check.Zero(t, o.LowResolution())
		_, err := o.Now(context.Background())
		check.True(t, err != nil, "Now reports PD errors once its retries are spent")
		check.Zero(t, o.UntilExpired(ComposeTS(time.Now().UnixMilli(), 0), 10_000), "no timestamp seen yet")

		pd.mu.Lock()
		pd.tsErr = nil
		pd.mu.Unlock()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		// Now's retries moved the clock by up to TSOMaxBackoff, so the
		// ticks no longer fall on whole intervals from the start: the
		// next one, within an interval, brings a fresh timestamp.
		check.True(t, o.LowResolution() >= ComposeTS(time.Now().Add(-2*time.Second).UnixMilli(), 0), "recovers on the next tick")
	})
}

func TestOracleUntilExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := newFakePD()
		o := NewOracle(pd, WithUpdateInterval(time.Hour))
		defer o.Close()
		synctest.Wait()

		lockTS := ComposeTS(time.Now().UnixMilli(), 5)
		check.Equal(t, 3*time.Second, o.UntilExpired(lockTS, 3000))
		// The oracle's now advances with local time between refreshes.
		time.Sleep(1200 * time.Millisecond)
		check.Equal(t, 1800*time.Millisecond, o.UntilExpired(lockTS, 3000))
		time.Sleep(5 * time.Second)
		check.Zero(t, o.UntilExpired(lockTS, 3000))
		// A lock from the future (another client's clock is ahead) is alive.
		future := ComposeTS(time.Now().Add(time.Second).UnixMilli(), 0)
		check.Equal(t, 2*time.Second, o.UntilExpired(future, 1000))
	})
}

// Close returns only once the refresh goroutine has returned: done is
// closed by its last deferred call. (Counting runtime.NumGoroutine
// before and after was flaky: goroutines of earlier tests still exiting
// were counted.) goleak in TestMain checks that nothing is left.
func TestOracleCloseStopsGoroutine(t *testing.T) {
	o := NewOracle(newFakePD(), WithUpdateInterval(time.Millisecond))
	time.Sleep(5 * time.Millisecond)
	o.Close()
	select {
	case <-o.done:
	default:
		t.Fatal("Close returned before the refresh goroutine did")
	}
}

// heldPD holds back the answer of its first GetTS, after taking the
// timestamp, until release is closed, as a response held up on the
// network would be.
type heldPD struct {
	*fakePD
	taken   chan struct{} // closed once the first call has its timestamp
	release chan struct{}
	calls   atomic.Int64
}

func (p *heldPD) GetTS(ctx context.Context) (int64, int64, error) {
	physical, logical, err := p.fakePD.GetTS(ctx)
	if p.calls.Add(1) == 1 {
		close(p.taken)
		<-p.release
	}
	return physical, logical, err
}

// TestOracleLowResolutionNeverBehindNow ports client-go
// oracle/oracles/pd_test.go TestSetLastTSAlwaysPushTS: a late answer
// carrying an older timestamp does not move the low-resolution
// timestamp back behind one already handed out.
func TestOracleLowResolutionNeverBehindNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := &heldPD{fakePD: newFakePD(), taken: make(chan struct{}), release: make(chan struct{})}
		o := NewOracle(pd, WithUpdateInterval(time.Hour)) // its first refresh is the held call
		defer o.Close()
		<-pd.taken
		time.Sleep(time.Millisecond) // a later physical time for Now
		ts, err := o.Now(context.Background())
		must.NoError(t, err)
		check.Equal(t, ts, o.LowResolution())
		close(pd.release)
		synctest.Wait() // the refresh has recorded (or not) its older ts
		check.Equal(t, 2, pd.fakePD.count("GetTS"))
		check.Equal(t, ts, o.LowResolution(), "an older timestamp arriving late moved it back")
	})
}

// flakyTSO fails its first failures GetTS calls with err, then serves.
type flakyTSO struct {
	mu       sync.Mutex
	failures int
	err      error
	calls    int
	ts       int64
}

func (f *flakyTSO) GetTS(ctx context.Context) (int64, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failures > 0 {
		f.failures--
		return 0, 0, f.err
	}
	f.ts++
	return time.Now().UnixMilli(), f.ts, nil
}

// TestOracleNowRetriesTSO: Now retries a failed TSO fetch after a backoff
// (client-go's CurrentTimestamp under BoPDRPC and TsoMaxBackoff): two
// failures then a timestamp succeed; a TSO that keeps failing gives up
// once TSOMaxBackoff of sleep would be exceeded, naming the failure; the
// caller's deadline ends the retries with its error. In virtual time.
func TestOracleNowRetriesTSO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("not leader")
		tso := &flakyTSO{failures: 2, err: boom}
		o := NewOracle(tso, WithUpdateInterval(time.Hour))
		defer o.Close()
		synctest.Wait()
		tso.mu.Lock()
		tso.calls, tso.failures = 0, 2
		tso.mu.Unlock()
		start := time.Now()
		if _, err := o.Now(context.Background()); err != nil {
			t.Fatalf("Now after two failures: %v", err)
		}
		if tso.calls != 3 || time.Since(start) < 500*time.Millisecond {
			t.Fatalf("%d calls in %v, want 3 with backoffs between", tso.calls, time.Since(start))
		}

		tso.mu.Lock()
		tso.failures = 1 << 30
		tso.mu.Unlock()
		start = time.Now()
		_, err := o.Now(context.Background())
		if !errors.Is(err, boom) {
			t.Fatalf("Now with a failing TSO = %v, want the failure", err)
		}
		if d := time.Since(start); d > TSOMaxBackoff || d < TSOMaxBackoff/2 {
			t.Fatalf("gave up after %v, want within the %v budget and not long before it", d, TSOMaxBackoff)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = o.Now(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, boom) {
			t.Fatalf("Now under a 2s deadline = %v, want the deadline and the failure", err)
		}
	})
}
