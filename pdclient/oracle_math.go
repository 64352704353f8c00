package pdclient

import (
	"time"

	"github.com/tikvgo/tikv/kv"
)

// A TiKV timestamp is PD's TSO: milliseconds since the Unix epoch shifted
// left by physicalShift bits, plus an 18-bit logical counter (PD's
// tsoutil, client-go's oracle.ComposeTS).
const (
	physicalShift = 18
	logicalMask   = 1<<physicalShift - 1
)

// ComposeTS builds a timestamp from its physical part (milliseconds since
// the Unix epoch) and logical part. Only the low 18 bits of logical are
// kept: client-go adds logical unmasked, so a counter past 2^18 - 1 would
// carry into the physical part; PD never hands one out.
func ComposeTS(physical, logical int64) uint64 {
	return uint64(physical<<physicalShift | logical&logicalMask)
}

// ExtractPhysical returns the physical part of ts: milliseconds since the
// Unix epoch.
func ExtractPhysical(ts uint64) int64 { return int64(ts >> physicalShift) }

// ExtractLogical returns the logical part of ts.
func ExtractLogical(ts uint64) int64 { return int64(ts & logicalMask) }

// GoTime returns the wall-clock time of ts's physical part, to the
// millisecond; the logical part is dropped (client-go's GetTimeFromTS).
func GoTime(ts uint64) time.Time { return time.UnixMilli(ExtractPhysical(ts)) }

// GoTimeToTS returns the smallest timestamp at wall-clock time t (logical
// part zero, below a millisecond truncated), as used for staleness bounds
// (client-go's GoTimeToTS).
func GoTimeToTS(t time.Time) uint64 { return ComposeTS(t.UnixMilli(), 0) }

// LowerLimitStartTS returns the smallest start ts a transaction still
// running at now can have, given that no transaction runs longer than
// maxTxnAge (client-go's GoTimeToLowerLimitStartTS, whose callers pass
// the max txn TTL): locks of transactions older than that are abandoned.
func LowerLimitStartTS(now time.Time, maxTxnAge time.Duration) uint64 {
	return GoTimeToTS(now.Add(-maxTxnAge))
}

// IsExpired reports whether a lock with start timestamp lockTS and a TTL
// of ttlMs milliseconds has expired by the oracle's idea of now (see
// UntilExpired), including before the oracle has seen any timestamp, as
// client-go's pdOracle.IsExpired does: the caller then asks TiKV, whose
// CheckTxnStatus decides. Unlike client-go, which compares with the last
// timestamp as it arrived, the oracle's now advances with the local clock
// between refreshes, so a lock is not judged alive for up to an update
// interval after it expired. Safe for concurrent use.
func (o *Oracle) IsExpired(lockTS, ttlMs uint64) bool {
	return o.UntilExpired(lockTS, ttlMs) == 0
}

// UpdateInterval returns how often the oracle is configured to refresh
// its low-resolution timestamp. Stale reads asking for fresher timestamps
// may make it refresh more often for a while (see SetUpdateInterval).
func (o *Oracle) UpdateInterval() time.Duration { return o.adapt.configuredInterval() }

// AdaptiveUpdateInterval returns how often the oracle refreshes its
// low-resolution timestamp now: UpdateInterval, or less while stale reads
// ask for fresher timestamps (see SetUpdateInterval).
func (o *Oracle) AdaptiveUpdateInterval() time.Duration { return o.adapt.interval() }

// SetUpdateInterval changes how often the oracle refreshes its
// low-resolution timestamp (client-go's
// SetLowResolutionTimestampUpdateInterval). The next refresh comes d
// after the call; a d that is not positive fails with
// kv.ErrInvalidArgument. Safe for concurrent use.
//
// The interval adapts to stale reads (client-go's adaptive update
// interval): a stale read whose read ts is validated (ValidateReadTS) and
// is less stale than the interval in force shrinks it to 100ms below that
// staleness, never below 500ms; it holds while such reads keep coming and
// grows back by 20ms a second once none came for 5 minutes. A configured
// interval of 500ms or less is never adapted. While the interval is
// shrunk, a new configured interval takes effect at once only if it is
// shorter still.
func (o *Oracle) SetUpdateInterval(d time.Duration) error {
	if d <= 0 {
		return kv.InvalidArgument("pdclient: update interval %v is not positive", d)
	}
	if !o.adapt.setConfigured(d) {
		return nil
	}
	select {
	case o.intervalSet <- struct{}{}:
	default: // a change is already pending; the loop reads the newest d
	}
	return nil
}

// noteStaleness tells the adaptive interval about a stale read at readTS
// validated when the current timestamp was about currentTS.
func (o *Oracle) noteStaleness(readTS, currentTS uint64) {
	o.adapt.noteStaleness(readTS, currentTS, time.Now())
}
