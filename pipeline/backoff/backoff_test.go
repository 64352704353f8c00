package backoff

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/tikvgo/tikv/kv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDelayGrowsToCap(t *testing.T) {
	p := Policy{Name: "p", Base: 100 * time.Millisecond, Cap: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for n, w := range want {
		if got := p.Delay(n, 0, func() float64 { return 0.5 }); got != w*time.Millisecond {
			t.Fatalf("Delay(%d) = %v, want %v", n, got, w*time.Millisecond)
		}
	}
}

func TestJitterBounds(t *testing.T) {
	base := Policy{Base: 100 * time.Millisecond, Cap: 2 * time.Second}
	for _, tc := range []struct {
		jitter  Jitter
		rnd     float64
		n       int
		lo, hi  time.Duration
		comment string
	}{
		{EqualJitter, 0, 2, 200 * time.Millisecond, 200 * time.Millisecond, "half of 400ms at rnd=0"},
		{EqualJitter, 0.999, 2, 399 * time.Millisecond, 400 * time.Millisecond, "just under 400ms at rnd~1"},
		{FullJitter, 0, 2, 0, 0, "zero at rnd=0"},
		{FullJitter, 0.5, 2, 200 * time.Millisecond, 200 * time.Millisecond, "half at rnd=0.5"},
		{NoJitter, 0.7, 10, 2 * time.Second, 2 * time.Second, "cap"},
	} {
		p := base
		p.Jitter = tc.jitter
		got := p.Delay(tc.n, 0, func() float64 { return tc.rnd })
		if got < tc.lo || got > tc.hi {
			t.Errorf("%s: Delay = %v, want [%v, %v]", tc.comment, got, tc.lo, tc.hi)
		}
	}
	d := Policy{Base: 100 * time.Millisecond, Cap: time.Second, Jitter: DecorrJitter}
	if got := d.Delay(0, 0, func() float64 { return 0.5 }); got != 100*time.Millisecond {
		t.Errorf("decorrelated first delay = %v, want base", got)
	}
	if got := d.Delay(1, 900*time.Millisecond, func() float64 { return 0.9 }); got != time.Second {
		t.Errorf("decorrelated delay = %v, want capped at 1s", got)
	}
}

func TestMinimumBase(t *testing.T) {
	p := Policy{Base: time.Millisecond, Cap: time.Second}
	if got := p.Delay(0, 0, nil); got != 2*time.Millisecond {
		t.Fatalf("1ms base = %v, want raised to 2ms as in client-go", got)
	}
}

func TestWaitSleepsAndCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New()
		p := Policy{Name: "p", Base: 100 * time.Millisecond, Cap: time.Second}
		start := time.Now()
		for range 3 {
			if err := b.Wait(context.Background(), p, errors.New("x")); err != nil {
				t.Fatal(err)
			}
		}
		if got := time.Since(start); got != 700*time.Millisecond {
			t.Fatalf("slept %v, want 100+200+400ms", got)
		}
		if b.Attempts("p") != 3 || b.Slept() != 700*time.Millisecond {
			t.Fatalf("attempts %d slept %v", b.Attempts("p"), b.Slept())
		}
	})
}

func TestWaitMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New()
		p := Policy{Name: "p", Base: 10 * time.Millisecond, Cap: time.Second, MaxAttempts: 2}
		cause := errors.New("cause")
		for range 2 {
			if err := b.Wait(context.Background(), p, cause); err != nil {
				t.Fatal(err)
			}
		}
		err := b.Wait(context.Background(), p, cause)
		var ex *kv.BackoffExhaustedError
		if !errors.As(err, &ex) || ex.Attempts != 2 || ex.Stop != nil || !errors.Is(err, cause) {
			t.Fatalf("third wait = %#v", err)
		}
	})
}

func TestWaitEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New()
		slow := Policy{Name: "slow", Base: time.Second, Cap: 10 * time.Second}
		fast := Policy{Name: "fast", Base: 10 * time.Millisecond, Cap: 10 * time.Millisecond}
		ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
		defer cancel()
		cause := errors.New("store down")
		var err error
		start := time.Now()
		for err == nil {
			if err = b.Wait(ctx, fast, cause); err == nil {
				err = b.Wait(ctx, slow, cause)
			}
		}
		if time.Since(start) != 2500*time.Millisecond {
			t.Fatalf("stopped after %v, want at the deadline", time.Since(start))
		}
		var ex *kv.BackoffExhaustedError
		if !errors.As(err, &ex) || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, cause) {
			t.Fatalf("err = %v", err)
		}
		if ex.Policy != "slow" {
			t.Fatalf("policy = %q, want the longest sleeper", ex.Policy)
		}
		if ex.Slept != 2500*time.Millisecond {
			t.Fatalf("slept = %v", ex.Slept)
		}
	})
}

func TestWaitOnDoneContextDoesNotSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := New().Wait(ctx, TiKVRPC, errors.New("x"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestCloneIsIndependent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New()
		p := Policy{Name: "p", Base: 10 * time.Millisecond, Cap: time.Second}
		_ = b.Wait(context.Background(), p, nil)
		c := b.Clone()
		_ = c.Wait(context.Background(), p, nil)
		if b.Attempts("p") != 1 || c.Attempts("p") != 2 {
			t.Fatalf("parent %d clone %d", b.Attempts("p"), c.Attempts("p"))
		}
	})
}

func TestDefaultPoliciesMatchClientGo(t *testing.T) {
	for _, tc := range []struct {
		p         Policy
		base, cap time.Duration
		jitter    Jitter
	}{
		{TiKVRPC, 100 * time.Millisecond, 2 * time.Second, EqualJitter},
		{RegionMiss, 2 * time.Millisecond, 500 * time.Millisecond, NoJitter},
		{ServerBusy, 2 * time.Second, 10 * time.Second, EqualJitter},
		{TxnLock, 100 * time.Millisecond, 3 * time.Second, EqualJitter},
		{PDRPC, 500 * time.Millisecond, 3 * time.Second, EqualJitter},
		{DiskFull, 500 * time.Millisecond, 5 * time.Second, NoJitter},
	} {
		if tc.p.Base != tc.base || tc.p.Cap != tc.cap || tc.p.Jitter != tc.jitter {
			t.Errorf("%s = %+v", tc.p.Name, tc.p)
		}
	}
}

func TestBudgetBoundsTotalSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := WithBudget(time.Second)
		p := Policy{Name: "p", Base: 100 * time.Millisecond, Cap: time.Second}
		cause := errors.New("busy")
		n := 0
		var err error
		for err == nil {
			if err = b.Wait(context.Background(), p, cause); err == nil {
				n++
			}
		}
		// 100+200+400 = 700ms fits; the next 800ms would pass 1s.
		if n != 3 || b.Slept() != 700*time.Millisecond {
			t.Fatalf("%d waits, slept %v", n, b.Slept())
		}
		var ex *kv.BackoffExhaustedError
		if !errors.As(err, &ex) || ex.Stop == nil || errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, cause) {
			t.Fatalf("err = %v", err)
		}
		if msg := err.Error(); !strings.Contains(msg, "1s backoff budget") || strings.Contains(msg, "attempts exhausted") {
			t.Fatalf("message %q: want the budget named as the stop reason", msg)
		}
		if c := b.Clone(); c.Wait(context.Background(), p, cause) == nil {
			t.Fatal("a clone must keep the budget")
		}
	})
}

// TestBudgetNamesLongestSleeper ports client-go's TestBackoffErrorType:
// when the budget runs out, the error names the policy that slept longest.
func TestBudgetNamesLongestSleeper(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := WithBudget(1600 * time.Millisecond)
		ctx := context.Background()
		steps := []Policy{RegionMiss, RegionNotInitialized, RegionNotInitialized, RegionRecoveryInProgress, ServerBusy, IsWitness}
		for _, p := range steps {
			if err := b.Wait(ctx, p, errors.New(p.Name)); err != nil {
				t.Fatalf("%s: %v", p.Name, err)
			}
		}
		var err error
		for range 15 {
			if err = b.Wait(ctx, TxnNotFound, errors.New("txn not found")); err != nil {
				break
			}
		}
		var ex *kv.BackoffExhaustedError
		if !errors.As(err, &ex) {
			t.Fatalf("budget never ran out: %v", err)
		}
		// ServerBusy slept 1-2s outside the budget, IsWitness 0.5-1s inside
		// it; as in client-go the error names the longest sleeper overall.
		if ex.Policy != ServerBusy.Name {
			t.Fatalf("policy = %q, want %q (longest sleep)", ex.Policy, ServerBusy.Name)
		}
	})
}

// TestOwnBudgetExcludedFromShared ports client-go's
// TestBackoffWithMaxExcludedExceed: a busy server's waits do not use the
// shared budget, but are bounded by their own.
func TestOwnBudgetExcludedFromShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := WithBudget(time.Millisecond)
		busy := ServerBusy
		busy.OwnBudget = 3 * time.Second
		if err := b.Wait(context.Background(), busy, errors.New("busy")); err != nil {
			t.Fatalf("first busy wait refused: %v", err)
		}
		// 2s base: the first wait took 1-2s; the next (2-4s) would pass 3s.
		if err := b.Wait(context.Background(), busy, errors.New("busy")); err == nil {
			t.Fatal("busy waits past their own budget were allowed")
		}
		if err := b.Wait(context.Background(), RegionMiss, errors.New("miss")); err == nil {
			t.Fatal("a 2ms wait passed a 1ms shared budget")
		}
	})
}

// TestWaitAtMost ports client-go's TestBackoffWithMax
// (config/retry/backoff_test.go): a TxnLockFast wait cut to 5 ms sleeps
// 5 ms, is charged 5 ms, and the policy's next delay grows from its full
// first delay as if that had been slept; a negative limit is no limit.
func TestWaitAtMost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := WithBudget(2 * time.Second)
		b.rnd = func() float64 { return 0.5 }
		start := time.Now()
		if err := b.WaitAtMost(context.Background(), TxnLockFast, errors.New("test"), 5*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if slept := time.Since(start); slept != 5*time.Millisecond || b.Slept() != 5*time.Millisecond {
			t.Fatalf("slept %v, charged %v; want 5ms", slept, b.Slept())
		}
		full := TxnLockFast.Delay(0, 0, b.rnd)
		if got := b.of(TxnLockFast.Name).last; got != full {
			t.Fatalf("remembered delay %v, want the full first delay %v", got, full)
		}
		start = time.Now()
		if err := b.WaitAtMost(context.Background(), TxnLockFast, errors.New("test"), -1); err != nil {
			t.Fatal(err)
		}
		if want := TxnLockFast.Delay(1, full, b.rnd); time.Since(start) != want {
			t.Fatalf("second wait slept %v, want the policy's second delay %v", time.Since(start), want)
		}
	})
}
