package pdclient_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
)

// TestLocalTSOUnique ports client-go's TestLocalOracle
// (oracle/oracles/local_test.go): 100000 timestamps from a local TSO are
// all different, and they increase.
func TestLocalTSOUnique(t *testing.T) {
	tso := pdclient.NewLocalTSO(nil)
	seen := make(map[uint64]struct{}, 100000)
	var last uint64
	for range 100000 {
		p, l, err := tso.GetTS(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ts := pdclient.ComposeTS(p, l)
		if ts <= last {
			t.Fatalf("timestamp %d after %d", ts, last)
		}
		last = ts
		seen[ts] = struct{}{}
	}
	if len(seen) != 100000 {
		t.Fatalf("%d distinct timestamps of 100000", len(seen))
	}
}

// TestLocalTSOClockBackAndConcurrency: a clock that goes back does not
// make timestamps go back, and concurrent callers never get the same one.
func TestLocalTSOClockBackAndConcurrency(t *testing.T) {
	var mu sync.Mutex
	now := time.UnixMilli(1_700_000_000_000)
	tso := pdclient.NewLocalTSO(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	p1, l1, _ := tso.GetTS(context.Background())
	mu.Lock()
	now = now.Add(-time.Second)
	mu.Unlock()
	p2, l2, _ := tso.GetTS(context.Background())
	if pdclient.ComposeTS(p2, l2) <= pdclient.ComposeTS(p1, l1) {
		t.Fatalf("clock went back and so did the ts: %d,%d then %d,%d", p1, l1, p2, l2)
	}
	var wg sync.WaitGroup
	got := make(chan uint64, 4000)
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				p, l, _ := tso.GetTS(context.Background())
				got <- pdclient.ComposeTS(p, l)
			}
		})
	}
	wg.Wait()
	close(got)
	seen := map[uint64]bool{}
	for ts := range got {
		if seen[ts] {
			t.Fatalf("timestamp %d handed out twice", ts)
		}
		seen[ts] = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := tso.GetTS(ctx); err == nil {
		t.Fatal("GetTS with an ended context succeeded")
	}
}

// TestLocalOracleExpiry ports client-go's TestIsExpired and
// TestLocalOracle_UntilExpired (oracle/oracles/local_test.go): an Oracle on
// a local TSO judges a lock of ts by the time passed since ts, in virtual
// time: 10 ms after ts a 5 ms TTL has expired and a 200 ms one has not; a
// 6 ms TTL expired 4 ms ago, a 14 ms one has 4 ms left.
func TestLocalOracleExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := pdclient.NewOracle(pdclient.NewLocalTSO(nil))
		defer o.Close()
		ts, err := o.Now(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		if _, err := o.Now(context.Background()); err != nil { // the oracle's view of now
			t.Fatal(err)
		}
		if !o.IsExpired(ts, 5) || o.IsExpired(ts, 200) {
			t.Fatalf("10 ms after ts: expired(5)=%v expired(200)=%v, want true, false", o.IsExpired(ts, 5), o.IsExpired(ts, 200))
		}
		if d := o.UntilExpired(ts, 14); d != 4*time.Millisecond {
			t.Fatalf("UntilExpired(ts, 14 ms) = %v, want 4ms", d)
		}
		if d := o.UntilExpired(ts, 6); d != 0 {
			t.Fatalf("UntilExpired(ts, 6 ms) = %v, want 0 (expired)", d)
		}
	})
}

// blockingTSO holds every GetTS until its context ends.
type blockingTSO struct{ entered chan struct{} }

func (b blockingTSO) GetTS(ctx context.Context) (int64, int64, error) {
	b.entered <- struct{}{}
	<-ctx.Done()
	return 0, 0, ctx.Err()
}

// TestOracleAsync covers client-go's GetTimestampAsync,
// GetLowResolutionTimestampAsync and GetAllTSOKeyspaceGroupMinTS on the
// Oracle (txn-K1): a future's timestamp is a fresh one; the low-resolution
// future has arrived at once; a TSO that cannot tell the keyspace groups'
// min ts is an invalid-argument error; Close cancels a fetch in flight and
// waits for it, and a future asked for after Close fails with kv.ErrClosed.
func TestOracleAsync(t *testing.T) {
	o := pdclient.NewOracle(pdclient.NewLocalTSO(nil))
	before, err := o.Now(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ts, err := o.NowAsync(context.Background()).Wait()
	if err != nil || ts <= before {
		t.Fatalf("NowAsync = %d, %v; want a timestamp above %d", ts, err, before)
	}
	if low, err := o.LowResolutionAsync().Wait(); err != nil || low < before {
		t.Fatalf("LowResolutionAsync = %d, %v; want at least %d", low, err, before)
	}
	if _, err := o.KeyspaceGroupMinTS(context.Background()); !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("KeyspaceGroupMinTS on a local TSO = %v, want kv.ErrInvalidArgument", err)
	}
	o.Close()
	if _, err := o.NowAsync(context.Background()).Wait(); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("NowAsync after Close = %v, want kv.ErrClosed", err)
	}

	held := blockingTSO{entered: make(chan struct{}, 8)}
	o2 := pdclient.NewOracle(held, pdclient.WithUpdateInterval(time.Hour))
	<-held.entered // the first background refresh
	f := o2.NowAsync(context.Background())
	<-held.entered
	o2.Close() // cancels the fetch in flight and waits for it
	if _, err := f.Wait(); err == nil {
		t.Fatal("a fetch cancelled by Close succeeded")
	}
}
