package pdclient_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
)

// TestPortOracle ports client-go's store_test.go TestOracle onto an Oracle
// on mocktikv's in-process PD, in a synctest bubble so that the refresh
// and the lock TTLs are judged on a clock the test controls:
//   - two fresh timestamps increase;
//   - the low-resolution timestamp is never behind a fresh timestamp the
//     oracle saw, is behind the next fresh one, and moves forward on its
//     refresh (client-go's MockOracle returns a new
//     one on every call; ours is refreshed every update interval);
//   - UntilExpired(0, 0) is 0;
//   - while the TSO is unavailable (client-go's MockOracle.Disable, here
//     mocktikv's PauseTSO) a fresh timestamp waits for it, and the one it
//     gets after 100 ms is larger and makes a 50 ms lock of the earlier
//     timestamp expired;
//   - StaleTimestamp(1) is that timestamp's time less one second.
func TestPortOracle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mock := mocktikv.NewCluster()
		defer mock.Close()
		o := pdclient.NewOracle(mock.PD(), pdclient.WithUpdateInterval(2*time.Second))
		defer o.Close()
		ctx := context.Background()

		t1, err := o.Now(ctx)
		require.NoError(t, err)
		t2, err := o.Now(ctx)
		require.NoError(t, err)
		assert.Less(t, t1, t2)

		synctest.Wait() // the start-up refresh has landed
		low := o.LowResolution()
		assert.NotZero(t, low)
		assert.GreaterOrEqual(t, low, t2, "never behind a fresh timestamp seen")
		t2, err = o.Now(ctx)
		require.NoError(t, err)
		assert.Less(t, low, t2, "a fresh timestamp is ahead of the low-resolution one")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		low2 := o.LowResolution()
		assert.Greater(t, low2, t2, "refreshed after the update interval")
		assert.Equal(t, time.Duration(0), o.UntilExpired(0, 0))

		// A fresh timestamp just fetched: a 50 ms lock of it has 50 ms left.
		assert.False(t, o.IsExpired(low2, 50))

		mock.PauseTSO()
		resumed := make(chan struct{})
		go func() {
			defer close(resumed)
			time.Sleep(100 * time.Millisecond)
			mock.ResumeTSO()
		}()
		start := time.Now()
		t3, err := o.Now(ctx)
		require.NoError(t, err)
		<-resumed
		assert.Equal(t, 100*time.Millisecond, time.Since(start), "Now waited for the TSO")
		assert.Less(t, t2, t3)
		assert.True(t, o.IsExpired(t2, 50), "a 50 ms lock of t2 expired 100 ms later")
		assert.False(t, o.IsExpired(t3, 50))
		assert.Equal(t, 50*time.Millisecond, o.UntilExpired(t3, 50))

		// A stale timestamp one second back is t3's physical time less 1 s
		// (no time passed in the bubble since t3 arrived).
		stale, err := o.StaleTimestamp(ctx, 1)
		require.NoError(t, err)
		assert.Equal(t, pdclient.ComposeTS(pdclient.ExtractPhysical(t3)-1000, 0), stale)
	})
}

// TestPortOracleOverGRPC is TestPortOracle's client-facing half over a
// real PD connection to mocktikv: increasing timestamps, low resolution
// between the fresh timestamps around it, and a fresh timestamp that waits out a paused TSO and then
// expires a 50 ms lock of the timestamp before the pause.
func TestPortOracleOverGRPC(t *testing.T) {
	mock := mocktikv.Start(t)
	ctx := context.Background()
	pd, err := pdclient.Connect(ctx, mock.PDAddrs())
	require.NoError(t, err)
	defer pd.Close()
	o := pdclient.NewOracle(pd, pdclient.WithUpdateInterval(time.Hour))
	defer o.Close()

	t1, err := o.Now(ctx)
	require.NoError(t, err)
	t2, err := o.Now(ctx)
	require.NoError(t, err)
	assert.Less(t, t1, t2)
	low := o.LowResolution()
	assert.GreaterOrEqual(t, low, t2, "Now moves the low-resolution timestamp forward")
	t2, err = o.Now(ctx)
	require.NoError(t, err)
	assert.Less(t, low, t2, "a fresh timestamp is ahead of the low-resolution one")

	mock.PauseTSO()
	resumed := make(chan struct{})
	go func() {
		defer close(resumed)
		time.Sleep(100 * time.Millisecond)
		mock.ResumeTSO()
	}()
	t3, err := o.Now(ctx)
	require.NoError(t, err)
	<-resumed
	assert.Less(t, t2, t3)
	assert.True(t, o.IsExpired(t2, 50), "a 50 ms lock of t2 expired after the pause")
}
