package pdclient

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tikvgo/tikv/kv"
)

// counterTSO is a PD whose TSO hands out timestamps at physical time 0
// with a logical counter (client-go's MockPdClient in pd_test.go). With
// feed set, each GetTS instead waits for the test to hand it its logical
// value, so that a test decides what a fetch in flight returns (what
// client-go's tests do with a paused mock and failpoints).
type counterTSO struct {
	PD      // only GetTS is used by the Oracle
	logical atomic.Int64
	calls   atomic.Int64
	feed    chan int64
}

func (c *counterTSO) GetTS(ctx context.Context) (int64, int64, error) {
	c.calls.Add(1)
	if c.feed != nil {
		select {
		case l := <-c.feed:
			return 0, l, nil
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
	return 0, c.logical.Add(1), nil
}

// startOracle starts an Oracle on pd whose background refresh never comes
// again after the first (an hour apart, in a bubble where the test does
// not let an hour pass), and waits for that first fetch.
func startOracle(t *testing.T, pd PD, first func()) *Oracle {
	o := NewOracle(pd, WithUpdateInterval(time.Hour))
	t.Cleanup(o.Close)
	if first != nil {
		first()
	}
	synctest.Wait()
	return o
}

// TestPortGetStaleTimestamp ports client-go's TestPdOracle_GetStaleTimestamp:
// the stale ts is the last ts seen moved back prevSecond seconds (plus the
// time since it arrived); a prevSecond reaching before the epoch fails.
func TestPortGetStaleTimestamp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := newFakePD()
		o := startOracle(t, pd, nil)
		start := time.Now()
		time.Sleep(3 * time.Second) // the stale ts follows the local clock
		ts, err := o.StaleTimestamp(context.Background(), 10)
		must.NoError(t, err)
		check.Equal(t, start.Add(3*time.Second-10*time.Second).UnixMilli(), GoTime(ts).UnixMilli())
		check.Equal(t, 1, pd.count("GetTS"), "no PD call once a ts is held")

		for _, prev := range []uint64{1e12, math.MaxUint64} {
			_, err := o.StaleTimestamp(context.Background(), prev)
			check.ErrorIs(t, err, kv.ErrInvalidArgument)
		}
	})
}

// TestStaleTimestampFetchesFirst: before the oracle holds a timestamp,
// StaleTimestamp fetches one (client-go fetches it and still fails).
func TestStaleTimestampFetchesFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := newFakePD()
		pd.tsErr = errors.New("PD down")
		o := startOracle(t, pd, nil)
		_, err := o.StaleTimestamp(context.Background(), 1)
		check.True(t, err != nil, "PD errors are reported")
		pd.mu.Lock()
		pd.tsErr = nil
		pd.mu.Unlock()
		ts, err := o.StaleTimestamp(context.Background(), 1)
		must.NoError(t, err)
		check.Equal(t, time.Now().Add(-time.Second).UnixMilli(), GoTime(ts).UnixMilli())
	})
}

// TestPortNonFutureStaleTSO ports client-go's TestNonFutureStaleTSO: a
// stale ts of 0 seconds back is never ahead of the local clock, even while
// newer timestamps arrive.
func TestPortNonFutureStaleTSO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := newFakePD()
		o := startOracle(t, pd, nil)
		for range 50 {
			time.Sleep(10 * time.Millisecond)
			ts, err := o.StaleTimestamp(context.Background(), 0)
			must.NoError(t, err)
			check.True(t, !GoTime(ts).After(time.Now()), "stale ts %v after now %v", GoTime(ts), time.Now())
			_, err = o.Now(context.Background()) // a newer ts arrives
			must.NoError(t, err)
		}
	})
}

// TestPortValidateReadTS ports client-go's TestValidateReadTS, for stale
// and normal reads: MaxUint64 is refused only for stale reads; a ts above
// the last one seen is checked against a fresh one, fetched at most twice;
// a ts some other client got from PD passes.
func TestPortValidateReadTS(t *testing.T) {
	for _, stale := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			pd := &counterTSO{}
			o := startOracle(t, pd, nil)
			ctx := context.Background()

			err := o.ValidateReadTS(ctx, math.MaxUint64, stale)
			if stale {
				check.ErrorIs(t, err, ErrLatestStaleRead)
			} else {
				check.NoError(t, err)
			}
			check.ErrorIs(t, o.ValidateReadTS(ctx, math.MaxInt64, stale), kv.ErrInvalidArgument)

			now := func() uint64 {
				ts, err := o.Now(ctx)
				must.NoError(t, err)
				return ts
			}
			check.True(t, now() >= 1)
			check.NoError(t, o.ValidateReadTS(ctx, 1, stale))
			// Above the last ts: the fetch returns ts+1, which passes it.
			check.NoError(t, o.ValidateReadTS(ctx, now()+1, stale))
			// ts+2 passes on the second fetch.
			check.NoError(t, o.ValidateReadTS(ctx, now()+2, stale))
			// ts+3 does not: two fetches reach ts+2.
			ts := now()
			err = o.ValidateReadTS(ctx, ts+3, stale)
			var future *FutureTSReadError
			must.True(t, errors.As(err, &future), "got %v", err)
			check.Equal(t, ts+3, future.ReadTS)
			check.Equal(t, ts+2, future.CurrentTS)
			check.ErrorIs(t, err, kv.ErrInvalidArgument)

			// Another client got timestamps from PD meanwhile.
			ts = now()
			pd.logical.Add(2)
			check.NoError(t, o.ValidateReadTS(ctx, ts+3, stale))
		})
	}
}

// TestPortValidateReadTSReusesFetch ports client-go's
// TestValidateReadTSForStaleReadReusingGetTSResult: concurrent validations
// share one PD fetch; one caller giving up does not fail the others; those
// above the fetched ts share one more fetch and fail only after it.
func TestPortValidateReadTSReusesFetch(t *testing.T) {
	for caseIndex, ts := range []uint64{100, 200, 300, 400} {
		cancelIndex := []int{-1, -1, 0, 1}[caseIndex]
		synctest.Test(t, func(t *testing.T) {
			pd := &counterTSO{feed: make(chan int64)}
			o := startOracle(t, pd, func() { pd.feed <- 1 })
			pd.calls.Store(0)

			ctx, cancel := context.WithCancel(context.Background())
			readTSs := []uint64{ts - 2, ts + 2, ts - 1, ts + 1, ts}
			// With one retry, ts+1 passes on the second fetch (ts+1);
			// client-go's test turns the retry off with a failpoint.
			want := []bool{true, false, true, true, true}
			results := make([]chan error, len(readTSs))
			for i, rts := range readTSs {
				results[i] = make(chan error, 1)
				c := context.Background()
				if i == cancelIndex {
					c = ctx
				}
				go func() { results[i] <- o.ValidateReadTS(c, rts, true) }()
			}
			synctest.Wait()
			check.Equal(t, int64(1), pd.calls.Load(), "one shared fetch")
			for i, ch := range results {
				check.Equal(t, 0, len(ch), "validation %d waits for the fetch", i)
			}
			cancel()
			synctest.Wait()
			for i, ch := range results {
				if i == cancelIndex {
					check.ErrorIs(t, <-ch, context.Canceled)
				} else {
					check.Equal(t, 0, len(ch), "validation %d still waits", i)
				}
			}

			pd.feed <- int64(ts)
			synctest.Wait()
			check.Equal(t, int64(2), pd.calls.Load(), "the two above ts share one more fetch")
			pd.feed <- int64(ts + 1)
			for i, ch := range results {
				if i == cancelIndex {
					continue
				}
				err := <-ch
				if want[i] {
					check.NoError(t, err, "validation %d", i)
				} else {
					var future *FutureTSReadError
					check.True(t, errors.As(err, &future), "validation %d: %v", i, err)
				}
			}
		})
	}
}

// TestPortValidateReadTSFromDifferentSource ports client-go's test of
// that name: a ts another client got after a shared fetch began is not
// refused because that fetch returns an older ts; the second fetch
// settles it.
func TestPortValidateReadTSFromDifferentSource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := &counterTSO{feed: make(chan int64)}
		o := startOracle(t, pd, func() { pd.feed <- 10 })
		check.Equal(t, uint64(10), o.LowResolution())

		first, second := make(chan error, 1), make(chan error, 1)
		go func() { first <- o.ValidateReadTS(context.Background(), 11, false) }()
		synctest.Wait()
		// Another client's ts, newer than the fetch in flight will return.
		next := uint64(22)
		go func() { second <- o.ValidateReadTS(context.Background(), next, false) }()
		synctest.Wait()
		pd.feed <- 11 // the shared fetch: enough for the first only
		check.NoError(t, <-first)
		synctest.Wait()
		check.Equal(t, 0, len(second), "the second fetches again")
		pd.feed <- 23
		check.NoError(t, <-second)
	})
}

// TestPortValidateReadTSNormalReadDoesNotAdapt ports client-go's
// TestValidateReadTSForNormalReadDoNotAffectUpdateInterval, with the stale
// counterpart: only stale reads ask for a shorter update interval.
func TestPortValidateReadTSNormalReadDoesNotAdapt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := &counterTSO{}
		o := startOracle(t, pd, nil)
		must.NoError(t, o.SetUpdateInterval(2*time.Second))
		synctest.Wait()
		ctx := context.Background()
		ts, err := o.Now(ctx)
		must.NoError(t, err)
		check.NoError(t, o.ValidateReadTS(ctx, ts, false))
		check.NoError(t, o.ValidateReadTS(ctx, ts+2, false))
		check.True(t, o.ValidateReadTS(ctx, ts+5, false) != nil, "ts+5 is in the future")
		check.NoError(t, o.ValidateReadTS(ctx, ts+5, false), "PD has handed out ts+5 now")
		check.Equal(t, 0, len(o.adapt.shrink), "normal reads leave the interval alone")
		check.Equal(t, 2*time.Second, o.adapt.interval())

		// A stale read at the current ts asks for no staleness at all:
		// the loop shrinks the interval to its floor at once.
		check.NoError(t, o.ValidateReadTS(ctx, ts+5, true))
		synctest.Wait()
		check.Equal(t, minAdaptiveInterval, o.adapt.interval())
		check.Equal(t, 2*time.Second, o.UpdateInterval(), "the configured interval stays")
	})
}
