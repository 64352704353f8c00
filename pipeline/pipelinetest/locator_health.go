package pipelinetest

import (
	"context"
	"slices"
	"time"

	"github.com/tikvgo/tikv/pdclient"
)

// slowScoreMax is the slow score of a store marked slow (the region
// cache's maximum); a fresh store scores 1.
const slowScoreMax = 100

// storeHealth is one store's health as a Locator tracks it. Guarded by
// Locator.mu.
type storeHealth struct {
	liveness   pdclient.Liveness
	lastErr    error
	slowScore  int
	serverSlow int
	busyUntil  time.Time
	// probed: the liveness is what ReportSendFailure found, so it follows
	// the cluster back up (a liveness set by SetHealth stays).
	probed bool
}

// healthLocked returns the store's record, creating it.
func (l *Locator) healthLocked(id uint64) *storeHealth {
	h := l.health[id]
	if h == nil {
		h = &storeHealth{slowScore: 1}
		l.health[id] = h
	}
	return h
}

// StoreHealth returns the Locator's view of the store's health (see the
// type's doc for how it moves).
func (l *Locator) StoreHealth(id uint64) pdclient.Health {
	down := l.cluster.StoreDown(id)
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.healthLocked(id)
	if h.probed && h.liveness != pdclient.Reachable && !down {
		h.liveness, h.lastErr = pdclient.Reachable, nil
	}
	out := pdclient.Health{
		Liveness:        h.liveness,
		SlowScore:       h.slowScore,
		ServerSlowScore: h.serverSlow,
		EstimatedWait:   max(time.Until(h.busyUntil), 0),
	}
	if h.liveness != pdclient.Reachable {
		out.LastFailure = h.lastErr
	}
	return out
}

// SetHealth sets the store's health as a test wants the pipeline to see
// it, until the next report about the store; EstimatedWait counts down
// from now.
func (l *Locator) SetHealth(id uint64, h pdclient.Health) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sh := l.healthLocked(id)
	sh.liveness, sh.lastErr, sh.probed = h.Liveness, h.LastFailure, false
	sh.slowScore, sh.serverSlow = h.SlowScore, h.ServerSlowScore
	sh.busyUntil = time.Now().Add(h.EstimatedWait)
}

// ReportSendFailure checks the store at once, as the region cache's health
// check would: Unreachable when the cluster marks it down (and then marked
// slow), Reachable otherwise. The check is recorded (SendFailures) and
// implies OnStoreFailure.
func (l *Locator) ReportSendFailure(_ context.Context, id uint64, cause error) pdclient.Liveness {
	down := l.cluster.StoreDown(id)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.storeFailures = append(l.storeFailures, id)
	l.sendFailures = append(l.sendFailures, id)
	h := l.healthLocked(id)
	h.probed = true
	if cause != nil {
		h.lastErr = cause
	}
	if !down {
		h.liveness = pdclient.Reachable
		return pdclient.Reachable
	}
	if h.liveness == pdclient.Reachable {
		h.slowScore = slowScoreMax
	}
	h.liveness = pdclient.Unreachable
	return pdclient.Unreachable
}

// ReportLatency counts the report (Latencies); slow scores do not move.
func (l *Locator) ReportLatency(uint64, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.latencies++
}

// ReportBusy records a ServerIsBusy answer: the store is busy for
// estimatedWait from now, or, without a wait, marked slow (as the region
// cache does). It is recorded (BusyReports).
func (l *Locator) ReportBusy(id uint64, estimatedWait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.busy = append(l.busy, id)
	h := l.healthLocked(id)
	if estimatedWait > 0 {
		h.busyUntil = time.Now().Add(estimatedWait)
		return
	}
	h.slowScore = slowScoreMax
}

// SendFailures returns the stores ReportSendFailure checked, in order.
func (l *Locator) SendFailures() []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.sendFailures)
}

// BusyReports returns the stores ReportBusy was called for, in order.
func (l *Locator) BusyReports() []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.busy)
}

// Latencies returns how many latencies were reported.
func (l *Locator) Latencies() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.latencies
}
