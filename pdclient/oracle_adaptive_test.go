package pdclient

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestPortAdaptiveUpdateInterval ports client-go's
// TestAdaptiveUpdateTSInterval on the interval's state with explicit
// times: a stale read asking for less staleness than the interval shrinks
// it at once, reads near it hold it, it grows back 20ms a second once they
// stop for 5 minutes, and configuration changes apply at once only when
// the interval is not adapted or they shorten it.
func TestPortAdaptiveUpdateInterval(t *testing.T) {
	now := time.Now()
	a := newAdaptiveInterval(2*time.Second, now)
	tsAgo := func(d time.Duration) uint64 { return ComposeTS(now.Add(-d).UnixMilli(), 1) }
	mustShrink := func(want time.Duration) {
		t.Helper()
		select {
		case got := <-a.shrink:
			check.Equal(t, want, got)
		default:
			t.Fatal("expected a shrink request")
		}
	}
	mustNotShrink := func() {
		t.Helper()
		select {
		case got := <-a.shrink:
			t.Fatalf("unexpected shrink request %v", got)
		default:
		}
	}
	near := func(want, got time.Duration) {
		t.Helper()
		if d := want - got; d > time.Millisecond || d < -time.Millisecond {
			t.Fatalf("interval %v, want about %v", got, want)
		}
	}

	now = now.Add(2 * time.Second)
	check.Equal(t, 2*time.Second, a.next(now, 0))
	now = now.Add(2 * time.Second)
	check.Equal(t, 2*time.Second, a.next(now, 0))
	check.Equal(t, adaptiveNormal, a.state)

	// Staleness above the interval: nothing happens.
	now = now.Add(time.Second)
	a.noteStaleness(tsAgo(3*time.Second), tsAgo(0), now)
	mustNotShrink()
	check.Equal(t, 2*time.Second, a.next(now, 0))

	// Staleness below it: shrink at once.
	now = now.Add(time.Second)
	a.noteStaleness(tsAgo(time.Second), tsAgo(0), now)
	mustShrink(time.Second)
	want := time.Second - adaptiveShrinkMargin
	check.Equal(t, want, a.next(now, time.Second))
	check.Equal(t, adaptiveAdapting, a.state)
	check.Equal(t, now, a.lastShort)

	// Such reads go on: held, no new shrink (the interval is below them).
	now = now.Add(adaptiveHoldFor / 2)
	a.noteStaleness(tsAgo(time.Second), tsAgo(0), now)
	mustNotShrink()
	check.Equal(t, now, a.lastShort)

	// Less than the hold time since the last: no recovery yet.
	now = now.Add(adaptiveHoldFor/2 + time.Second)
	a.lastTick = now.Add(-time.Second)
	check.Equal(t, want, a.next(now, 0))
	check.Equal(t, adaptiveAdapting, a.state)

	// The hold time passed: grow back 20ms for the second since the tick.
	now = now.Add(adaptiveHoldFor / 2)
	a.lastTick = now.Add(-time.Second)
	want += adaptiveRecoverPerSecond
	near(want, a.next(now, 0))
	check.Equal(t, adaptiveRecovering, a.state)
	a.lastTick = now
	now = now.Add(2 * time.Second)
	// A read well above the interval does not stop the recovery.
	a.noteStaleness(tsAgo(want+2*adaptiveHoldMargin), tsAgo(0), now)
	mustNotShrink()
	want += 2 * adaptiveRecoverPerSecond
	near(want, a.next(now, 0))
	check.Equal(t, adaptiveRecovering, a.state)

	// A read close to the interval holds it again.
	a.lastTick = now
	now = now.Add(time.Second)
	a.noteStaleness(tsAgo(want+adaptiveHoldMargin/2), tsAgo(0), now)
	mustNotShrink()
	near(want, a.next(now, 0))
	check.Equal(t, adaptiveAdapting, a.state)
	a.lastTick = now
	now = now.Add(time.Second)
	near(want, a.next(now, 0))
	check.Equal(t, adaptiveAdapting, a.state)

	// Hold time passed again: recover up to the configured interval.
	now = now.Add(adaptiveHoldFor)
	a.lastTick = now.Add(-time.Second)
	want += adaptiveRecoverPerSecond
	near(want, a.next(now, 0))
	check.Equal(t, adaptiveRecovering, a.state)
	for {
		a.lastTick = now
		now = now.Add(time.Second)
		want += adaptiveRecoverPerSecond
		if want >= 2*time.Second {
			break
		}
		near(want, a.next(now, 0))
		check.Equal(t, adaptiveRecovering, a.state)
	}
	check.Equal(t, 2*time.Second, a.next(now, 0))
	check.Equal(t, adaptiveNormal, a.state)

	// Not adapted: a new configuration applies at once.
	check.True(t, a.setConfigured(time.Second))
	check.Equal(t, time.Second, a.next(now, 0))
	check.True(t, a.setConfigured(2*time.Second))
	check.Equal(t, 2*time.Second, a.next(now, 0))

	// Adapted: only a configuration shorter still applies at once.
	now = now.Add(time.Second)
	a.noteStaleness(tsAgo(time.Second), tsAgo(0), now)
	mustShrink(time.Second)
	want = time.Second - adaptiveShrinkMargin
	check.Equal(t, want, a.next(now, time.Second))
	check.Equal(t, adaptiveAdapting, a.state)
	check.True(t, !a.setConfigured(3*time.Second), "3s does not apply while adapted")
	check.Equal(t, want, a.next(now, 0))
	check.True(t, !a.setConfigured(time.Second), "1s neither")
	check.Equal(t, want, a.next(now, 0))
	check.True(t, a.setConfigured(800*time.Millisecond))
	check.Equal(t, 800*time.Millisecond, a.next(now, 0))
	check.Equal(t, adaptiveNormal, a.state)

	// Configured at or below the floor: never adapted.
	check.True(t, a.setConfigured(minAdaptiveInterval/2))
	check.Equal(t, minAdaptiveInterval/2, a.next(now, 0))
	check.Equal(t, adaptiveUnadjustable, a.state)
	a.noteStaleness(tsAgo(0), tsAgo(0), now)
	mustNotShrink()
}

// TestOracleRefreshFollowsAdaptiveInterval: the refresh loop fetches at
// the shrunk interval while short-staleness reads come, and at the
// configured one again after they stopped and the interval grew back.
func TestOracleRefreshFollowsAdaptiveInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := newFakePD()
		o := NewOracle(pd, WithUpdateInterval(2*time.Second))
		defer o.Close()
		synctest.Wait()
		check.Equal(t, 1, pd.count("GetTS"))

		// A stale read 1s back after 1.5s: above the last ts, so it is
		// validated with a fetch; the loop shrinks the interval to 900ms
		// and, the last refresh being older, refreshes at once.
		time.Sleep(1500 * time.Millisecond)
		readTS := GoTimeToTS(time.Now().Add(-time.Second))
		must.NoError(t, o.ValidateReadTS(t.Context(), readTS, true))
		synctest.Wait()
		check.Equal(t, 900*time.Millisecond, o.adapt.interval())
		n := pd.count("GetTS")
		check.Equal(t, 3, n, "validation fetch, then a refresh at once")
		time.Sleep(900 * time.Millisecond)
		synctest.Wait()
		check.Equal(t, n+1, pd.count("GetTS"), "refreshed one short interval later")

		// No such reads for the hold time: it grows back to 2s.
		time.Sleep(adaptiveHoldFor + 2*time.Minute)
		synctest.Wait()
		check.Equal(t, 2*time.Second, o.adapt.interval())
		n = pd.count("GetTS")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		check.Equal(t, n+1, pd.count("GetTS"), "one refresh per configured interval again")
	})
}
