package pdclient_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

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
