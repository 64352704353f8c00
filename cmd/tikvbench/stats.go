package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tikvgo/tikv/cmd/tikvbench/internal/hist"
	"github.com/tikvgo/tikv/kv"
)

// rowStats accumulates one summary row: every attempt is counted; the
// latency of a successful attempt goes to the histogram, a failed one to
// its error class. Safe for concurrent use.
type rowStats struct {
	name    string
	attempt atomic.Int64
	lat     *hist.Histogram

	mu      sync.Mutex
	classes map[string]*ErrorClass // guarded by mu
}

// phaseStats is the rows of one phase plus the running totals the
// progress line reads.
type phaseStats struct {
	name  string
	rows  map[string]*rowStats // fixed at construction
	order []string             // rows in summary order
	// ops, errs and all count and time every operation row (not the
	// transaction rows; in the load phase, which has no operation rows,
	// its writes), for the progress line and the phase totals.
	ops     atomic.Int64
	errs    atomic.Int64
	all     *hist.Histogram
	isOp    map[string]bool
	start   time.Time
	elapse  atomic.Int64 // final duration in ns, set by finish
	records atomic.Int64 // load phase: records written
}

// totals reports whether row counts toward the phase totals.
func (p *phaseStats) totals(row string) bool { return p.isOp[row] || len(p.isOp) == 0 }

// errorCount is the failed operations so far.
func (p *phaseStats) errorCount() int64 { return p.errs.Load() }

func newPhaseStats(name string, opRows, otherRows []string) *phaseStats {
	p := &phaseStats{name: name, rows: map[string]*rowStats{}, all: hist.New(), isOp: map[string]bool{}, start: time.Now()}
	for _, r := range append(append([]string(nil), opRows...), otherRows...) {
		p.rows[r] = &rowStats{name: r, lat: hist.New(), classes: map[string]*ErrorClass{}}
		p.order = append(p.order, r)
	}
	for _, r := range opRows {
		p.isOp[r] = true
	}
	return p
}

// record counts one attempt of row, successful when err is nil.
func (p *phaseStats) record(row string, d time.Duration, err error) {
	s := p.rows[row]
	s.attempt.Add(1)
	if p.totals(row) {
		p.ops.Add(1)
	}
	if err == nil {
		s.lat.Record(int64(d))
		if p.totals(row) {
			p.all.Record(int64(d))
		}
		return
	}
	if p.totals(row) {
		p.errs.Add(1)
	}
	class := errorClass(err)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.classes[class]
	if c == nil {
		// Keep the first error of each class verbatim so the summary
		// shows what actually failed, not just how often.
		c = &ErrorClass{Sample: err.Error()}
		s.classes[class] = c
	}
	c.Count++
}

func (p *phaseStats) finish() { p.elapse.Store(int64(time.Since(p.start))) }

// errorClass names the kind of a failed operation for the summary.
func errorClass(err error) string {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	case errors.Is(err, kv.ErrNotFound):
		return "not_found"
	case errors.Is(err, kv.ErrUndetermined):
		return "undetermined"
	case errors.Is(err, kv.ErrWriteConflict):
		return "write_conflict"
	case errors.Is(err, kv.ErrDeadlock):
		return "deadlock"
	case errors.Is(err, kv.ErrTxnRetryable):
		return "retryable"
	}
	return "other"
}
