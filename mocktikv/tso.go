package mocktikv

import (
	"context"
	"errors"
	"sync"
	"time"
)

// logicalBits is the width of a timestamp's logical part: a TiKV timestamp
// is physical_ms<<18 | logical.
const logicalBits = 18

const maxLogical = 1 << logicalBits

// tsoAllocator hands out strictly increasing timestamps whose physical part
// follows the wall clock in milliseconds, as PD's TSO does. Lock TTLs and
// expiry are computed from the physical part, so it must track real time.
type tsoAllocator struct {
	mu       sync.Mutex
	physical int64 // ms of the last timestamp issued
	logical  int64 // logical of the last timestamp issued

	// gateMu guards paused: non-nil while the TSO is paused (PauseTSO),
	// closed and cleared on resume. Waiters never hold a lock.
	gateMu sync.Mutex
	paused chan struct{}
}

// wait blocks while the TSO is paused; it returns ctx's error if ctx ends
// first.
func (a *tsoAllocator) wait(ctx context.Context) error {
	a.gateMu.Lock()
	ch := a.paused
	a.gateMu.Unlock()
	if ch == nil {
		return ctx.Err()
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *tsoAllocator) pause() {
	a.gateMu.Lock()
	defer a.gateMu.Unlock()
	if a.paused == nil {
		a.paused = make(chan struct{})
	}
}

func (a *tsoAllocator) resume() {
	a.gateMu.Lock()
	defer a.gateMu.Unlock()
	if a.paused != nil {
		close(a.paused)
		a.paused = nil
	}
}

// next reserves count consecutive timestamps and returns the last of them
// (PD's TsoResponse carries the largest one; the client derives the others by
// subtracting). They share one physical part.
func (a *tsoAllocator) next(count uint32) (physical, logical int64, err error) {
	if count == 0 {
		return 0, 0, errors.New("tso count should be positive")
	}
	if count >= maxLogical {
		return 0, 0, errors.New("tso count too large")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now().UnixMilli()
	switch {
	case now > a.physical:
		// A new millisecond: restart the logical counter. The first
		// timestamp of a millisecond uses logical 0, as PD's does.
		a.physical, a.logical = now, -1
	case a.logical+int64(count) >= maxLogical:
		// The logical part would overflow: move to the next millisecond
		// even if the clock has not (or went backwards).
		a.physical, a.logical = a.physical+1, -1
	}
	a.logical += int64(count)
	return a.physical, a.logical, nil
}
