package txn

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestPipelinedThrottle: the writer sleeps ratio/(1-ratio) of the moving
// average of flush durations before a flush (client-go's
// throttlePipelinedTxn), and the average weighs the newest flush 2/11
// (client-go's EWMA of age 10).
func TestPipelinedThrottle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &pipelinedTxn{opts: PipelinedOptions{WriteThrottleRatio: 0.5}}
		start := time.Now()
		if err := p.throttle(context.Background()); err != nil || time.Since(start) != 0 {
			t.Fatalf("no flush yet: slept %v, %v", time.Since(start), err)
		}
		p.noteFlushTime(100 * time.Millisecond)
		p.noteFlushTime(210 * time.Millisecond) // 100 + 2/11*(210-100) = 120
		start = time.Now()
		if err := p.throttle(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 120*time.Millisecond {
			t.Fatalf("slept %v, want 120ms (ratio 0.5: one flush time)", d)
		}
		p.opts.WriteThrottleRatio = 0.75 // 3 flush times
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := p.throttle(ctx); err == nil {
			t.Fatalf("a throttle longer than the context returned nil")
		}
	})
}

// TestPipelinedOptionsDefaults: zero fields take client-go's defaults.
func TestPipelinedOptionsDefaults(t *testing.T) {
	o, err := PipelinedOptions{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := PipelinedOptions{FlushConcurrency: 128, ResolveConcurrency: 8, MinFlushKeys: 10000, MinFlushSize: 16 << 20,
		ForceFlushSize: 128 << 20, LockTTL: 20 * time.Second, MaxTTL: 24 * time.Hour, BatchSize: 16 * 1024}
	if o != want {
		t.Fatalf("defaults %+v, want %+v", o, want)
	}
	for _, bad := range []PipelinedOptions{{WriteThrottleRatio: -0.1}, {WriteThrottleRatio: 1}, {FlushConcurrency: -1}, {LockTTL: time.Millisecond}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Fatalf("%+v accepted", bad)
		}
	}
}
