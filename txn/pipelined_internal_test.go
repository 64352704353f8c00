package txn

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tikvgo/tikv/txn/membuf"
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

// TestPortPipelinedFlushTrigger ports client-go internal/unionstore
// TestPipelinedFlushTrigger, TestPipelinedFlushSkip and
// TestPipelinedAdjustFlushCondition (with smaller thresholds): the buffer
// needs a flush only with both MinFlushKeys keys and MinFlushSize of
// memory, or ForceFlushSize of memory; while a flush is in flight only
// ForceFlushSize triggers one.
func TestPortPipelinedFlushTrigger(t *testing.T) {
	opts := PipelinedOptions{MinFlushKeys: 100, MinFlushSize: 64 << 10, ForceFlushSize: 512 << 10}
	fill := func(keys, valueSize int) *pipelinedTxn {
		p := &pipelinedTxn{t: &Txn{buf: membuf.New()}, opts: opts}
		for i := range keys {
			if err := p.t.buf.Set(fmt.Appendf(nil, "k%06d", i), make([]byte, valueSize)); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	inFlight := func(p *pipelinedTxn) *pipelinedTxn {
		p.flushing, p.done = membuf.New(), make(chan error, 1)
		return p
	}
	for _, c := range []struct {
		name string
		p    *pipelinedTxn
		want bool
	}{
		{"enough keys, too little memory", fill(100, 10), false},
		{"enough memory, too few keys", fill(99, 1024), false},
		{"enough keys and memory", fill(100, 1024), true},
		{"enough keys and memory, a flush in flight", inFlight(fill(100, 1024)), false},
		{"forced size, few keys", fill(10, 64<<10), true},
		{"forced size, a flush in flight", inFlight(fill(10, 64<<10)), true},
	} {
		if got := c.p.needFlush(); got != c.want {
			t.Errorf("%s (len %d, mem %d): needFlush %v, want %v", c.name, c.p.t.buf.Len(), c.p.t.buf.Mem(), got, c.want)
		}
	}
}
