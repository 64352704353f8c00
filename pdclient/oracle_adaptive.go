package pdclient

import (
	"sync"
	"time"
)

// The adaptive low-resolution update interval (client-go's pdOracle
// adaptive update ts interval). A stale read at "now minus a little" needs
// a low-resolution timestamp fresher than that little, or every read of
// that kind would fetch a timestamp from PD to validate its read ts; so a
// stale read that asks for less staleness than the update interval shrinks
// the interval at once, the shorter interval holds while such reads keep
// coming, and it grows back slowly once they stop.
const (
	// minAdaptiveInterval is the shortest interval a read can shrink it
	// to, so that one odd read does not make the oracle hammer PD.
	minAdaptiveInterval = 500 * time.Millisecond
	// adaptiveShrinkMargin: the interval shrinks to this much below the
	// staleness asked for, so that reads at the same staleness do not
	// shrink it again and again.
	adaptiveShrinkMargin = 100 * time.Millisecond
	// adaptiveHoldMargin: a read asking for at most the interval plus
	// this keeps the interval from growing back.
	adaptiveHoldMargin = 200 * time.Millisecond
	// adaptiveRecoverPerSecond is how fast the interval grows back.
	adaptiveRecoverPerSecond = 20 * time.Millisecond
	// adaptiveHoldFor is how long after the last such read the interval
	// starts growing back.
	adaptiveHoldFor = 5 * time.Minute
)

// adaptiveState names where the interval stands (for tests and logs).
type adaptiveState int

const (
	adaptiveNone         adaptiveState = iota // no rule decided: keep the previous state
	adaptiveNormal                            // the configured interval is in force
	adaptiveAdapting                          // shrunk for short-staleness reads, holding
	adaptiveRecovering                        // growing back to the configured interval
	adaptiveUnadjustable                      // configured at or below minAdaptiveInterval: left alone
)

// adaptiveInterval is the update interval's state. The refresh loop alone
// calls next; stale reads call noteStaleness; setConfigured comes from
// SetUpdateInterval. Safe for concurrent use.
type adaptiveInterval struct {
	mu         sync.Mutex
	configured time.Duration // what SetUpdateInterval / WithUpdateInterval set
	current    time.Duration // the interval in force
	lastShort  time.Time     // the last read asking for about the current interval or less
	lastTick   time.Time     // the last refresh (the loop's)
	state      adaptiveState
	// shrink carries a required staleness to the refresh loop, which
	// then shrinks the interval at once; a full channel means a request
	// is already pending, and dropping this one loses nothing.
	shrink chan time.Duration
}

func newAdaptiveInterval(d time.Duration, now time.Time) *adaptiveInterval {
	return &adaptiveInterval{configured: d, current: d, lastTick: now, shrink: make(chan time.Duration, 1)}
}

// interval returns the interval in force.
func (a *adaptiveInterval) interval() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.current
}

// configuredInterval returns the configured interval.
func (a *adaptiveInterval) configuredInterval() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.configured
}

// setConfigured changes the configured interval and reports whether the
// interval in force changed with it: it follows at once when it was not
// adapted, or when the new configuration is shorter still.
func (a *adaptiveInterval) setConfigured(d time.Duration) (changed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	prev := a.configured
	if d == prev {
		return false
	}
	a.configured = d
	if a.current == prev || d < a.current {
		a.current = d
		return true
	}
	return false
}

// noteStaleness records a stale read at readTS made when the current
// timestamp was about currentTS, at now. A read asking for about the
// interval or less holds the interval; one asking for less than it asks
// the loop to shrink it.
func (a *adaptiveInterval) noteStaleness(readTS, currentTS uint64, now time.Time) {
	required := GoTime(currentTS).Sub(GoTime(readTS))
	a.mu.Lock()
	cur := a.current
	if required <= cur+adaptiveHoldMargin && now.After(a.lastShort) {
		a.lastShort = now
	}
	a.mu.Unlock()
	if required <= cur && cur > minAdaptiveInterval {
		// Clock skew between PD and here can make it 0 or less; the
		// loop reads 0 as "a tick", so send at least 1ms.
		select {
		case a.shrink <- max(required, time.Millisecond):
		default:
		}
	}
}

// next computes the interval after a tick (required == 0) or after a
// shrink request (required > 0) at now, and records it and its state.
// The rules are tried in order and the first that applies decides; when
// none does, the interval stays.
func (a *adaptiveInterval) next(now time.Time, required time.Duration) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	held := now.Sub(a.lastShort) < adaptiveHoldFor
	unadjustable := func() (adaptiveState, time.Duration) {
		if a.configured <= minAdaptiveInterval {
			return adaptiveUnadjustable, a.configured
		}
		return adaptiveNone, 0
	}
	normal := func() (adaptiveState, time.Duration) {
		if a.configured > minAdaptiveInterval && a.current == a.configured {
			return adaptiveNormal, a.current
		}
		return adaptiveNone, 0
	}
	adapting := func() (adaptiveState, time.Duration) {
		if required != 0 && required < a.current && a.current > minAdaptiveInterval {
			return adaptiveAdapting, max(required-adaptiveShrinkMargin, minAdaptiveInterval)
		}
		if a.current != a.configured && held {
			return adaptiveAdapting, a.current
		}
		return adaptiveNone, 0
	}
	recovering := func() (adaptiveState, time.Duration) {
		if a.current == a.configured || held {
			return adaptiveNone, 0
		}
		grown := a.current + time.Duration(now.Sub(a.lastTick).Seconds()*float64(adaptiveRecoverPerSecond))
		return adaptiveRecovering, min(grown, a.configured)
	}
	rules := []func() (adaptiveState, time.Duration){unadjustable, adapting}
	if required == 0 {
		rules = append(rules, normal, recovering)
	}
	for _, rule := range rules {
		st, d := rule()
		if st == adaptiveNone {
			continue
		}
		a.current, a.state = d, st
		if st == adaptiveRecovering {
			if st, d := normal(); st != adaptiveNone {
				a.current, a.state = d, st
			}
		}
		break
	}
	return a.current
}

// ticked records a refresh at now.
func (a *adaptiveInterval) ticked(now time.Time) {
	a.mu.Lock()
	a.lastTick = now
	a.mu.Unlock()
}

// sinceTick returns how long ago the last refresh was, at now.
func (a *adaptiveInterval) sinceTick(now time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return now.Sub(a.lastTick)
}
