package gc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	pdgc "github.com/tikv/pd/client/clients/gc"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/gc"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/rangetask"
	"github.com/tikvgo/tikv/transport"
)

// TestGCBarrier: a GC barrier below the expected safe point holds the
// round back (PD's AdvanceTxnSafePoint grants only up to it): the round
// reports the barrier, settles the locks below it and leaves the one
// between it and the target; once the barrier is deleted the next round
// reaches the target. SetBarrier, State and DeleteBarrier go through
// PD's GC states client.
func TestGCBarrier(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			c := connect(t, grpc, "m")
			ctx := context.Background()
			below, _ := c.lock("a", "1")
			barrier := c.now()
			between, _ := c.lock("z", "2")
			target := c.now()
			if _, err := gc.SetBarrier(ctx, c.c, "backup", barrier, pdgc.TTLNeverExpire); err != nil {
				t.Fatal(err)
			}
			st, err := gc.State(ctx, c.c)
			if err != nil {
				t.Fatal(err)
			}
			bs, err := st.GetGCBarriers()
			if err != nil || len(bs) != 1 || bs[0].BarrierID != "backup" || bs[0].BarrierTS != barrier {
				t.Fatalf("barriers %+v, %v; want the one set", bs, err)
			}
			res, err := gc.Run(ctx, c.c, target)
			if err != nil {
				t.Fatal(err)
			}
			if res.TxnSafePoint != barrier || res.GCSafePoint != barrier || res.Blocker == "" {
				t.Fatalf("blocked round: %+v; want safe points at the barrier %d and a blocker", res, barrier)
			}
			if l := c.mvcc("a").GetLock(); l != nil {
				t.Fatalf("lock of txn %d below the barrier kept: %v", below, l)
			}
			if l := c.mvcc("z").GetLock(); l == nil || l.StartTs != between {
				t.Fatalf("lock above the granted safe point: %v, want txn %d's", l, between)
			}
			if info, err := gc.DeleteBarrier(ctx, c.c, "backup"); err != nil || info == nil || info.BarrierTS != barrier {
				t.Fatalf("delete barrier: %+v, %v", info, err)
			}
			res, err = gc.Run(ctx, c.c, target)
			if err != nil || res.TxnSafePoint != target || res.GCSafePoint != target || res.Blocker != "" {
				t.Fatalf("unblocked round: %+v, %v; want %d", res, err, target)
			}
			if l := c.mvcc("z").GetLock(); l != nil {
				t.Fatalf("lock of txn %d kept after the unblocked round: %v", between, l)
			}
		})
	}
}

// TestGCRescansAfterRegionError: the sweep's routing goes stale twice —
// the region cache still holds a region that split after it was loaded,
// and ScanLock is answered EpochNotMatch once more by a fault — and the
// sweep re-locates and scans again: every lock is settled and each of
// the three regions counts once.
func TestGCRescansAfterRegionError(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			c := connect(t, grpc, "m")
			ctx := context.Background()
			c.lock("a", "1")
			c.lock("g", "2")
			c.lock("t", "3")
			// Load the two regions into the cache, then split one under it.
			c.mvcc("a")
			c.mvcc("t")
			if _, err := c.mock.SplitTxn([]byte("f")); err != nil {
				t.Fatal(err)
			}
			h := c.mock.Inject(mocktikv.Fault{Cmd: transport.CmdScanLock, Key: []byte("m"),
				Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{Message: "stale", EpochNotMatch: &errorpb.EpochNotMatch{}}))}})
			sp := c.now()
			res, err := gc.Run(ctx, c.c, sp)
			if err != nil {
				t.Fatal(err)
			}
			if res.Regions != (rangetask.Stat{CompletedRegions: 3}) {
				t.Fatalf("regions %+v, want 3 completed", res.Regions)
			}
			if h.Hits() != 1 {
				t.Fatalf("the EpochNotMatch fault hit %d times, want 1", h.Hits())
			}
			for _, k := range []string{"a", "g", "t"} {
				if l := c.mvcc(k).GetLock(); l != nil {
					t.Fatalf("%q still locked: %v", k, l)
				}
			}
		})
	}
}

// TestGCStopsOnCancel: a round whose context is already cancelled
// advances nothing past the failed step and returns the context's error.
func TestGCStopsOnCancel(t *testing.T) {
	c := connect(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := gc.Run(ctx, c.c, c.now())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled round: %v, want context.Canceled", err)
	}
	if c.mock.GCSafePoint() != 0 {
		t.Fatalf("GC safe point moved to %d by a cancelled round", c.mock.GCSafePoint())
	}
}

// TestGCScanLockContinues: a region holding more locks than one ScanLock
// returns (gc.GCScanLockLimit) is scanned page by page, each page settled
// before the next is read; the region counts once, when its last page
// (one not full) is done.
func TestGCScanLockContinues(t *testing.T) {
	c := connect(t, false)
	var pairs []string
	for i := range gc.GCScanLockLimit + 300 {
		pairs = append(pairs, fmt.Sprintf("k%05d", i), "v")
	}
	c.lock(pairs...)
	scans := c.mock.Inject(mocktikv.Fault{Cmd: transport.CmdScanLock, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Pass())}})
	res, err := gc.Run(context.Background(), c.c, c.now())
	if err != nil {
		t.Fatal(err)
	}
	if res.Regions != (rangetask.Stat{CompletedRegions: 1}) || scans.Hits() != 2 {
		t.Fatalf("regions %+v after %d ScanLocks; want 1 region in 2 pages", res.Regions, scans.Hits())
	}
	for _, k := range []string{"k00000", "k01023", "k01024", fmt.Sprintf("k%05d", gc.GCScanLockLimit+299)} {
		if l := c.mvcc(k).GetLock(); l != nil {
			t.Fatalf("%q still locked: %v", k, l)
		}
	}
}

// TestGCKeyspaceWithoutKeyspaceLevelGC: under API v2 a client of a
// keyspace that follows the unified GC may not drive it (PD refuses the
// internal GC API for such a keyspace: ErrGCOnInvalidKeyspace, PD's
// GCStateManager.redirectKeyspace); Run fails at its first step and PD's
// states do not move.
func TestGCKeyspaceWithoutKeyspaceLevelGC(t *testing.T) {
	ctx := context.Background()
	mock := mocktikv.NewCluster(mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2), mocktikv.WithKeyspace("ks1"))
	defer mock.Close()
	c, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()), tikv.WithKeyspace("ks1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ts, err := c.Oracle().Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = gc.Run(ctx, c, ts)
	if err == nil || !strings.Contains(err.Error(), "ErrGCOnInvalidKeyspace") {
		t.Fatalf("GC from a keyspace under the unified GC: %v, want PD's refusal", err)
	}
	if mock.TxnSafePoint() != 0 || mock.GCSafePoint() != 0 {
		t.Fatalf("PD's safe points moved: txn %d, GC %d", mock.TxnSafePoint(), mock.GCSafePoint())
	}
}
