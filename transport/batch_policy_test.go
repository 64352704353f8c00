package transport

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func policyOf(cfg BatchConfig) *batchPolicy { return newBatchPolicy(cfg.withDefaults()) }

func TestBatchConfigDefaults(t *testing.T) {
	got := BatchConfig{}.withDefaults()
	require.Equal(t, BatchConfig{
		MaxBatchSize:      128,
		Policy:            BatchPolicyStandard,
		BatchWaitSize:     8,
		OverloadThreshold: 200,
	}, got)
	neg := BatchConfig{MaxBatchSize: -1, MaxBatchWaitTime: -time.Second, BatchWaitSize: -2, MaxConcurrency: -3}.withDefaults()
	require.Equal(t, got, neg)
	set := BatchConfig{MaxBatchSize: 4, Policy: BatchPolicyBasic, MaxBatchWaitTime: time.Millisecond,
		BatchWaitSize: 2, OverloadThreshold: 50, MaxConcurrency: 9}
	require.Equal(t, set, set.withDefaults())
}

// TestBatchPolicyPresets, with the other TestBatchPolicy* tests of this
// file, ports client-go's TestBatchPolicy (internal/client/client_test.go)
// for the basic, positive and standard presets; client-go's custom JSON
// policies have no counterpart (BatchConfig.Policy names a preset).
func TestBatchPolicyPresets(t *testing.T) {
	const gap = 10 * time.Microsecond
	cases := []struct {
		policy     BatchPolicy
		gap        time.Duration
		wantWait   time.Duration
		wantTarget int
	}{
		{BatchPolicyBasic, gap, 0, 1},
		{BatchPolicyPositive, gap, 100 * time.Microsecond, 8},
		{BatchPolicyPositive, 0, 0, 1}, // no previous batch: nothing to go by
		{BatchPolicyPositive, time.Second, 100 * time.Microsecond, 8},
		{BatchPolicyStandard, gap, 100 * time.Microsecond, 8},
		{BatchPolicyStandard, time.Second, 0, 1},
		{"custom{}", gap, 100 * time.Microsecond, 8}, // unknown: standard
	}
	for _, c := range cases {
		wait, target := policyOf(BatchConfig{Policy: c.policy}).plan(1, c.gap, 0)
		require.Equal(t, c.wantWait, wait, "%s gap %v", c.policy, c.gap)
		require.Equal(t, c.wantTarget, target, "%s gap %v", c.policy, c.gap)
	}
}

func TestBatchPolicyFullBatchNeverWaits(t *testing.T) {
	p := policyOf(BatchConfig{Policy: BatchPolicyPositive, MaxBatchSize: 4, MaxBatchWaitTime: time.Second})
	wait, target := p.plan(4, time.Microsecond, 1000)
	require.Zero(t, wait)
	require.Equal(t, 4, target)
}

// The standard trigger averages arrival gaps (weight 0.2, each gap capped
// at 5*0.1ms) and fires below 0.08ms: after a sparse spell, nine dense gaps
// of 10us bring the average from 500us down to 75.7us.
func TestBatchPolicyStandardAdaptsToArrivalRate(t *testing.T) {
	p := policyOf(BatchConfig{})
	for range 10 {
		wait, _ := p.plan(1, time.Second, 0)
		require.Zero(t, wait, "sparse arrivals")
	}
	require.InDelta(t, 500e-6, p.avgGap, 1e-12, "gaps are capped at N*T")
	fired := 0
	for i := 1; i <= 20; i++ {
		if wait, _ := p.plan(1, 10*time.Microsecond, 0); wait > 0 {
			fired = i
			break
		}
	}
	require.Equal(t, 9, fired)
	// A dense gap keeps it firing; one sparse gap stops it again
	// (0.2*500us + 0.8*62.6us > 80us).
	wait, _ := p.plan(1, 10*time.Microsecond, 0)
	require.NotZero(t, wait)
	wait, _ = p.plan(1, time.Second, 0)
	require.Zero(t, wait)
}

func TestBatchPolicyPreferredSizeFollowsBatches(t *testing.T) {
	p := policyOf(BatchConfig{})
	dense := 10 * time.Microsecond
	_, target := p.plan(1, dense, 0)
	require.Equal(t, 8, target, "seeded with BatchWaitSize")
	p.sent(12) // 0.2*12 + 0.8*8 = 8.8: fraction 0.8 rounds up
	_, target = p.plan(1, dense, 0)
	require.Equal(t, 9, target)
	p.sent(4) // 7.84
	_, target = p.plan(1, dense, 0)
	require.Equal(t, 8, target)
	p.sent(1) // 6.472: fraction below 0.8
	_, target = p.plan(1, dense, 0)
	require.Equal(t, 6, target)

	// Capped at MaxBatchSize.
	small := policyOf(BatchConfig{MaxBatchSize: 4, Policy: BatchPolicyPositive})
	_, target = small.plan(1, dense, 0)
	require.Equal(t, 4, target)

	// positive always aims at BatchWaitSize.
	pos := policyOf(BatchConfig{Policy: BatchPolicyPositive, BatchWaitSize: 3})
	pos.sent(100)
	_, target = pos.plan(1, dense, 0)
	require.Equal(t, 3, target)
}

func TestBatchPolicyOverload(t *testing.T) {
	cfg := BatchConfig{Policy: BatchPolicyBasic, MaxBatchWaitTime: 2 * time.Millisecond, BatchWaitSize: 16}
	p := policyOf(cfg)
	wait, target := p.plan(3, 0, 201)
	require.Equal(t, 2*time.Millisecond, wait, "above the threshold, even without a gap")
	require.Equal(t, 16, target)
	wait, _ = p.plan(3, 0, 200)
	require.Zero(t, wait, "at the threshold is not overloaded")

	// Without MaxBatchWaitTime the load is ignored.
	p = policyOf(BatchConfig{Policy: BatchPolicyBasic})
	wait, _ = p.plan(3, time.Microsecond, 10_000)
	require.Zero(t, wait)

	// Overload takes precedence over turbo.
	p = policyOf(BatchConfig{Policy: BatchPolicyPositive, MaxBatchWaitTime: time.Millisecond, OverloadThreshold: 50})
	wait, target = p.plan(1, time.Microsecond, 51)
	require.Equal(t, time.Millisecond, wait)
	require.Equal(t, 8, target)
	wait, _ = p.plan(1, time.Microsecond, 49)
	require.Equal(t, 100*time.Microsecond, wait)
}

func TestReconnectDelay(t *testing.T) {
	for n, base := range []time.Duration{100, 200, 400, 800, 1600, 2000, 2000, 2000} {
		base *= time.Millisecond
		for range 20 {
			d := reconnectDelay(n)
			require.GreaterOrEqual(t, d, base/2, "attempt %d", n)
			require.LessOrEqual(t, d, base, "attempt %d", n)
		}
	}
	require.LessOrEqual(t, reconnectDelay(1000), 2*time.Second)
}
