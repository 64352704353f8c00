package pdclient

import (
	"context"
	"sync"
	"time"
)

// LocalTSO is a TSO on the local clock, for tests and tools that run
// without PD (client-go's oracles.NewLocalOracle): a timestamp's physical
// part is the wall clock in milliseconds and its logical part counts the
// timestamps handed out within that millisecond, so timestamps strictly
// increase as long as the clock does not go back (when it does, the
// physical part stays where it was and the logical part keeps counting).
// It is not a cluster's TSO: two processes' LocalTSOs do not agree. Use it
// with NewOracle; it is safe for concurrent use and holds no goroutine.
type LocalTSO struct {
	now func() time.Time

	mu       sync.Mutex
	physical int64
	logical  int64
}

// NewLocalTSO returns a LocalTSO reading now, or time.Now when now is nil
// (a test may pass a clock it controls, as client-go's
// SetOracleHookCurrentTime does).
func NewLocalTSO(now func() time.Time) *LocalTSO {
	if now == nil {
		now = time.Now
	}
	return &LocalTSO{now: now}
}

// GetTS returns the next timestamp; it fails only when ctx has ended.
func (l *LocalTSO) GetTS(ctx context.Context) (physical, logical int64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	ms := l.now().UnixMilli()
	l.mu.Lock()
	defer l.mu.Unlock()
	if ms > l.physical {
		l.physical, l.logical = ms, 0
	} else {
		l.logical++
		if l.logical >= 1<<physicalShift {
			// A millisecond's logical space is spent: borrow the next one.
			l.physical, l.logical = l.physical+1, 0
		}
	}
	return l.physical, l.logical, nil
}
