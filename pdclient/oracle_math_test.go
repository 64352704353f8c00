package pdclient

import (
	"errors"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tikvgo/tikv/kv"
)

// The timestamp arithmetic agrees with client-go's oracle package
// (oracle.go): (physical << 18) + logical and back, for the whole range
// of both parts; times go to the millisecond, dropping the logical part.
func TestTSMath(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		physical, logical := r.Int64N(1<<(64-physicalShift)), r.Int64N(1<<physicalShift)
		ts := ComposeTS(physical, logical)
		check.Equal(t, uint64(physical<<18)+uint64(logical), ts, "client-go's ComposeTS")
		check.Equal(t, physical, ExtractPhysical(ts))
		check.Equal(t, logical, ExtractLogical(ts))
	}
	check.Equal(t, uint64(1<<18-1), ComposeTS(0, 1<<18-1))
	check.Equal(t, ComposeTS(7, 1), ComposeTS(7, 1<<18+1), "logical is 18 bits: no carry into physical")

	at := time.Date(2026, 12, 2, 16, 40, 5, 123_456_789, time.UTC)
	ts := GoTimeToTS(at)
	check.Equal(t, at.UnixMilli(), ExtractPhysical(ts))
	check.Zero(t, ExtractLogical(ts))
	check.True(t, GoTime(ts).Equal(at.Truncate(time.Millisecond)), "GoTime(%d) = %v", ts, GoTime(ts))
	check.True(t, GoTime(ComposeTS(at.UnixMilli(), 99)).Equal(GoTime(ts)), "the logical part has no time")
	// client-go's GetTimeFromTS builds the time from seconds and
	// nanoseconds; the same instant.
	ms := ExtractPhysical(ts)
	check.True(t, GoTime(ts).Equal(time.Unix(ms/1e3, (ms%1e3)*1e6)))

	check.Equal(t, GoTimeToTS(at.Add(-time.Hour)), LowerLimitStartTS(at, time.Hour))
	check.Equal(t, ExtractPhysical(ts)-1500, ExtractPhysical(LowerLimitStartTS(at, 1500*time.Millisecond)))
}

// IsExpired is UntilExpired reaching zero: expired at the instant
// lockTS's physical time plus the TTL is reached (client-go's
// IsExpired compares with >=), and before any timestamp is seen.
func TestOracleIsExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := newFakePD()
		pd.tsErr = errors.New("PD down")
		o := NewOracle(pd, WithUpdateInterval(time.Hour))
		defer o.Close()
		synctest.Wait()
		lockTS := ComposeTS(time.Now().UnixMilli(), 3)
		check.True(t, o.IsExpired(lockTS, 1000), "no timestamp seen yet: expired (TiKV decides)")

		pd.mu.Lock()
		pd.tsErr = nil
		pd.mu.Unlock()
		_, err := o.Now(t.Context())
		must.NoError(t, err)
		check.False(t, o.IsExpired(lockTS, 1000))
		time.Sleep(999 * time.Millisecond)
		check.False(t, o.IsExpired(lockTS, 1000), "1 ms left")
		time.Sleep(time.Millisecond)
		check.True(t, o.IsExpired(lockTS, 1000), "expired at start + ttl")
		check.False(t, o.IsExpired(lockTS, 1001))
		check.True(t, o.IsExpired(lockTS, 0))
	})
}

// SetUpdateInterval takes effect at once: the next refresh comes one new
// interval after the call, then every new interval; a non-positive one
// is refused and changes nothing.
func TestOracleSetUpdateInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := newFakePD()
		o := NewOracle(pd, WithUpdateInterval(time.Hour))
		defer o.Close()
		synctest.Wait()
		check.Equal(t, 1, pd.count("GetTS"))
		check.Equal(t, time.Hour, o.UpdateInterval())

		check.ErrorIs(t, o.SetUpdateInterval(0), kv.ErrInvalidArgument)
		check.ErrorIs(t, o.SetUpdateInterval(-time.Second), kv.ErrInvalidArgument)
		check.Equal(t, time.Hour, o.UpdateInterval())

		time.Sleep(10 * time.Second)
		must.NoError(t, o.SetUpdateInterval(500*time.Millisecond))
		must.NoError(t, o.SetUpdateInterval(500*time.Millisecond)) // unchanged: no reset
		check.Equal(t, 500*time.Millisecond, o.UpdateInterval())
		synctest.Wait()
		check.Equal(t, 1, pd.count("GetTS"), "the new interval starts at the call")
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		check.Equal(t, 2, pd.count("GetTS"))
		check.Equal(t, ComposeTS(time.Now().UnixMilli(), 0), o.LowResolution())
		time.Sleep(time.Second)
		synctest.Wait()
		check.Equal(t, 4, pd.count("GetTS"), "every 500 ms")

		// Back to a long interval: no refresh until it has passed.
		must.NoError(t, o.SetUpdateInterval(time.Minute))
		synctest.Wait()
		time.Sleep(59 * time.Second)
		synctest.Wait()
		check.Equal(t, 4, pd.count("GetTS"))
		time.Sleep(time.Second)
		synctest.Wait()
		check.Equal(t, 5, pd.count("GetTS"))
	})
}
