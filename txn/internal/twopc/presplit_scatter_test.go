package twopc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvgo/tikv/kv"
)

// inBothModes runs test against the in-process mock and over gRPC.
func inBothModes(t *testing.T, test func(t *testing.T, grpc bool)) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(t *testing.T) { test(t, grpc) })
	}
}

// scatterStatus returns PD's operator description and status on a
// region, asked through the mock's in-process PD (the gRPC PD shares its
// state); "" when PD has no operator record for it.
func scatterStatus(t *testing.T, f *fixture, regionID uint64) (string, pdpb.OperatorStatus) {
	t.Helper()
	op, err := f.mock.PD().GetOperator(context.Background(), regionID)
	if err != nil {
		t.Fatalf("GetOperator(%d): %v", regionID, err)
	}
	return string(op.GetDesc()), op.GetStatus()
}

// After a pre-split the new regions are scattered through PD and the
// commit waits for their operators, as client-go's preSplitRegion does
// (SplitRegions with scatter, then WaitScatterRegionFinish). The split of
// 600 mutations makes three regions; the first two are the new ones (the
// last keeps the split region's id in TiKV) and get a finished
// "scatter-region" operator, the last none. client-go's
// TestSplitRegionIn2PC skips the scatter (a one-store TiKV cannot
// scatter), so this has no client-go counterpart.
func TestPreSplitScattersNewRegions(t *testing.T) {
	inBothModes(t, func(t *testing.T, grpc bool) {
		f := newFixture(t, setup{opts: preSplitOpts, grpc: grpc})
		const n = 600
		d, err := f.commit(puts(n)...)
		if err != nil {
			t.Fatalf("commit: %v", err)
		}
		if d.PreSplitErr != nil || d.PreSplitRegions != 1 || d.ScatterErr != nil || d.ScatteredRegions != 2 {
			t.Fatalf("pre-split %d (err %v), scattered %d (err %v)", d.PreSplitRegions, d.PreSplitErr, d.ScatteredRegions, d.ScatterErr)
		}
		for _, k := range []int{0, 277} {
			desc, st := scatterStatus(t, f, regionOf(f, keyN(k)))
			if desc != "scatter-region" || st != pdpb.OperatorStatus_SUCCESS {
				t.Fatalf("region of key %d: operator %q %v, want a finished scatter", k, desc, st)
			}
		}
		if desc, _ := scatterStatus(t, f, regionOf(f, keyN(555))); desc != "" {
			t.Fatalf("the last region got operator %q, want none", desc)
		}
		f.settle()
		for _, i := range []int{0, 277, 555, n - 1} {
			f.mustGet(keyN(i), valN(i))
		}
	})
}

// A scatter PD keeps refusing does not fail the commit: once the retry
// budget is spent the failure is in ScatterErr and the prewrite goes on
// with the split regions.
func TestPreSplitScatterFailureStillCommits(t *testing.T) {
	inBothModes(t, func(t *testing.T, grpc bool) {
		opts := preSplitOpts
		opts.ScatterRetryBudget = 600 * time.Millisecond
		f := newFixture(t, setup{opts: opts, grpc: grpc})
		f.mock.FailPD("ScatterRegion", errors.New("scatter refused"), 0)
		const n = 600
		d, err := f.commit(puts(n)...)
		if err != nil {
			t.Fatalf("commit: %v", err)
		}
		var exhausted *kv.BackoffExhaustedError
		if d.PreSplitRegions != 1 || d.ScatteredRegions != 0 || !errors.As(d.ScatterErr, &exhausted) {
			t.Fatalf("pre-split %d, scattered %d (err %v); want the scatter retries exhausted", d.PreSplitRegions, d.ScatteredRegions, d.ScatterErr)
		}
		if desc, _ := scatterStatus(t, f, regionOf(f, keyN(0))); desc != "" {
			t.Fatalf("operator %q after a refused scatter", desc)
		}
		if d.PrewriteRegions != 3 {
			t.Fatalf("prewrite regions = %d, want 3", d.PrewriteRegions)
		}
		f.settle()
		for _, i := range []int{0, 277, 555, n - 1} {
			f.mustGet(keyN(i), valN(i))
		}
	})
}

// A ScatterRegions call that fails is sent again (client-go's
// scatterRegion retries with PD backoff): two failures of PD's
// ScatterRegion leave no trace, both new regions get a finished scatter.
func TestPreSplitScatterRetriesPDFailures(t *testing.T) {
	inBothModes(t, func(t *testing.T, grpc bool) {
		f := newFixture(t, setup{opts: preSplitOpts, grpc: grpc})
		f.mock.FailPD("ScatterRegion", errors.New("PD busy"), 2)
		d, err := f.commit(puts(600)...)
		if err != nil {
			t.Fatalf("commit: %v", err)
		}
		if d.PreSplitRegions != 1 || d.ScatteredRegions != 2 || d.ScatterErr != nil {
			t.Fatalf("pre-split %d, scattered %d (err %v); want both regions scattered", d.PreSplitRegions, d.ScatteredRegions, d.ScatterErr)
		}
		for _, k := range []int{0, 277} {
			if desc, st := scatterStatus(t, f, regionOf(f, keyN(k))); desc != "scatter-region" || st != pdpb.OperatorStatus_SUCCESS {
				t.Fatalf("region of key %d: operator %q %v, want a finished scatter", k, desc, st)
			}
		}
		f.settle()
		f.mustGet(keyN(0), valN(0))
	})
}

// When PD cannot report the operators, the wait gives up after
// ScatterWait and the commit still succeeds, with the deadline in
// ScatterErr.
func TestPreSplitScatterWaitTimeoutStillCommits(t *testing.T) {
	inBothModes(t, func(t *testing.T, grpc bool) {
		opts := preSplitOpts
		opts.ScatterWait = 50 * time.Millisecond
		f := newFixture(t, setup{opts: opts, grpc: grpc})
		f.mock.FailPD("GetOperator", errors.New("operators unavailable"), 0)
		d, err := f.commit(puts(600)...)
		if err != nil {
			t.Fatalf("commit: %v", err)
		}
		if d.ScatteredRegions != 2 || !errors.Is(d.ScatterErr, context.DeadlineExceeded) {
			t.Fatalf("scattered %d, err %v; want a wait timeout", d.ScatteredRegions, d.ScatterErr)
		}
		f.settle()
		f.mustGet(keyN(599), valN(599))
	})
}
