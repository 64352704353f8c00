package mocktikv

import (
	"context"
	"errors"
	"time"

	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/tikv/pd/client/clients/gc"
)

// GetGCStatesClient returns the in-process GC states client of keyspaceID:
// the calls pd/client's GC states client sends (pd_gc_service.go serves
// them over gRPC), answered from the same state. An error of PD's GC state
// machine reads as pd/client renders a response header's error (the
// header's text), and scripted PD faults apply under the RPC names.
func (p localPD) GetGCStatesClient(keyspaceID uint32) gc.GCStatesClient {
	return localGCStates{p: p, keyspaceID: keyspaceID}
}

type localGCStates struct {
	p          localPD
	keyspaceID uint32
}

var _ gc.GCStatesClient = localGCStates{}

// headerError is the error pd/client's respForErr makes of a response
// header carrying err, which PD's gc_service.go reports as UNKNOWN.
func headerError(err error) error {
	return errors.New((&pdpb.Error{Type: pdpb.ErrorType_UNKNOWN, Message: err.Error()}).String())
}

// answer runs one GC call as the gRPC PD would serve method, on the
// states the keyspace is under for a user API, on the unified states (which
// hold the global barriers) for the others.
func (s localGCStates) answer(ctx context.Context, method string, userAPI bool, f func(g *gcStates, now time.Time) error) error {
	return s.p.call(ctx, method, func() error {
		g := s.p.c.gc
		if userAPI {
			var err error
			if g, err = s.p.c.gcStatesFor(s.keyspaceID, true); err != nil {
				return headerError(err)
			}
		}
		if err := f(g, time.Now()); err != nil {
			return headerError(err)
		}
		return nil
	})
}

func gcOptions(opts []gc.GCStatesAPIOption) gc.GCStatesAPIOptions {
	o := gc.DefaultGCStatesAPIOptions()
	for _, f := range opts {
		f(&o)
	}
	return o
}

// SetGCBarrier adds or renews a GC barrier.
func (s localGCStates) SetGCBarrier(ctx context.Context, barrierID string, barrierTS uint64, ttl time.Duration) (*gc.GCBarrierInfo, error) {
	var out *gc.GCBarrierInfo
	err := s.answer(ctx, "SetGCBarrier", true, func(g *gcStates, now time.Time) error {
		// The wire carries whole seconds, rounded up (pd/client's
		// roundUpDurationToSeconds), which the server reads back.
		b, err := g.setBarrier(barrierID, barrierTS, saturatingSeconds(roundUpSeconds(ttl)), now)
		if err == nil {
			out = gc.NewGCBarrierInfo(b.id, b.ts, saturatingSeconds(b.ttlSeconds(now)), now)
		}
		return err
	})
	return out, err
}

// DeleteGCBarrier deletes a GC barrier; a missing one is nil, no error.
func (s localGCStates) DeleteGCBarrier(ctx context.Context, barrierID string) (*gc.GCBarrierInfo, error) {
	var out *gc.GCBarrierInfo
	err := s.answer(ctx, "DeleteGCBarrier", true, func(g *gcStates, now time.Time) error {
		b, ok, err := g.deleteBarrier(barrierID)
		if ok {
			out = gc.NewGCBarrierInfo(b.id, b.ts, saturatingSeconds(b.ttlSeconds(now)), now)
		}
		return err
	})
	return out, err
}

// GetGCState returns the GC states keyspaceID is under: its own with
// keyspace-level GC, else the unified ones.
func (s localGCStates) GetGCState(ctx context.Context, opts ...gc.GCStatesAPIOption) (gc.GCState, error) {
	o := gcOptions(opts)
	var out gc.GCState
	err := s.answer(ctx, "GetGCState", true, func(g *gcStates, now time.Time) error {
		out = localGCState(g.snapshot(), o.ExcludeGCBarriers, now)
		return nil
	})
	return out, err
}

func localGCState(snap gcSnapshot, excludeBarriers bool, now time.Time) gc.GCState {
	if excludeBarriers {
		return gc.NewGCStateWithoutGCBarriers(snap.keyspaceID, snap.txnSafePoint, snap.gcSafePoint)
	}
	barriers := make([]*gc.GCBarrierInfo, 0, len(snap.barriers))
	for _, b := range snap.barriers {
		barriers = append(barriers, gc.NewGCBarrierInfo(b.id, b.ts, saturatingSeconds(b.ttlSeconds(now)), now))
	}
	return gc.NewGCStateWithGCBarriers(snap.keyspaceID, snap.txnSafePoint, snap.gcSafePoint, barriers)
}

// SetGlobalGCBarrier adds or renews a global GC barrier.
func (s localGCStates) SetGlobalGCBarrier(ctx context.Context, barrierID string, barrierTS uint64, ttl time.Duration) (*gc.GlobalGCBarrierInfo, error) {
	var out *gc.GlobalGCBarrierInfo
	err := s.answer(ctx, "SetGlobalGCBarrier", false, func(g *gcStates, now time.Time) error {
		b, err := g.setGlobalBarrier(barrierID, barrierTS, saturatingSeconds(roundUpSeconds(ttl)), now)
		if err == nil {
			out = gc.NewGlobalGCBarrierInfo(b.id, b.ts, saturatingSeconds(b.ttlSeconds(now)), now)
		}
		return err
	})
	return out, err
}

// DeleteGlobalGCBarrier deletes a global GC barrier.
func (s localGCStates) DeleteGlobalGCBarrier(ctx context.Context, barrierID string) (*gc.GlobalGCBarrierInfo, error) {
	var out *gc.GlobalGCBarrierInfo
	err := s.answer(ctx, "DeleteGlobalGCBarrier", false, func(g *gcStates, now time.Time) error {
		b, ok, err := g.deleteGlobalBarrier(barrierID)
		if ok {
			out = gc.NewGlobalGCBarrierInfo(b.id, b.ts, saturatingSeconds(b.ttlSeconds(now)), now)
		}
		return err
	})
	return out, err
}

// GetAllKeyspacesGCStates returns the unified states, under the null
// keyspace, those of every keyspace with keyspace-level GC, and the global
// barriers unless excluded.
func (s localGCStates) GetAllKeyspacesGCStates(ctx context.Context, opts ...gc.GCStatesAPIOption) (gc.ClusterGCStates, error) {
	o := gcOptions(opts)
	var out gc.ClusterGCStates
	err := s.answer(ctx, "GetAllKeyspacesGCStates", false, func(g *gcStates, now time.Time) error {
		snaps := g.snapshotAll()
		snap := snaps[0]
		states := map[uint32]gc.GCState{}
		for _, sn := range snaps {
			states[sn.keyspaceID] = localGCState(sn, o.ExcludeGCBarriers, now)
		}
		if o.ExcludeGlobalGCBarriers {
			out = gc.NewClusterGCStatesWithoutGlobalGCBarriers(states)
			return nil
		}
		global := make([]*gc.GlobalGCBarrierInfo, 0, len(snap.global))
		for _, b := range snap.global {
			global = append(global, gc.NewGlobalGCBarrierInfo(b.id, b.ts, saturatingSeconds(b.ttlSeconds(now)), now))
		}
		out = gc.NewClusterGCStatesWithGlobalGCBarriers(states, global)
		return nil
	})
	return out, err
}

// roundUpSeconds is the ttl in whole seconds, rounded up, as pd/client
// sends it; MaxInt64 (never expire) stays MaxInt64.
func roundUpSeconds(ttl time.Duration) int64 {
	if ttl == time.Duration(1<<63-1) {
		return 1<<63 - 1
	}
	s := int64(ttl / time.Second)
	if ttl%time.Second != 0 {
		s++
	}
	return s
}

// GetGCInternalController returns the in-process counterpart of
// pd.Client's GC internal controller of keyspaceID (what TiDB's GC worker
// drives GC with): only the null keyspace and keyspaces with
// keyspace-level GC may be advanced. Tests use it to move the safe points
// as PD's GC worker would.
func (p localPD) GetGCInternalController(keyspaceID uint32) gc.InternalController {
	return localGCController{p: p, keyspaceID: keyspaceID}
}

type localGCController struct {
	p          localPD
	keyspaceID uint32
}

var _ gc.InternalController = localGCController{}

// AdvanceTxnSafePoint advances the txn safe point toward target, as far
// as the barriers allow.
func (c localGCController) AdvanceTxnSafePoint(ctx context.Context, target uint64) (gc.AdvanceTxnSafePointResult, error) {
	var out gc.AdvanceTxnSafePointResult
	err := c.p.call(ctx, "AdvanceTxnSafePoint", func() error {
		g, err := c.p.c.gcStatesFor(c.keyspaceID, false)
		if err != nil {
			return headerError(err)
		}
		res, err := g.advanceTxnSafePoint(target, time.Now())
		if err != nil {
			return headerError(err)
		}
		out = gc.AdvanceTxnSafePointResult{OldTxnSafePoint: res.old, Target: target, NewTxnSafePoint: res.new, BlockerDescription: res.blocker}
		return nil
	})
	return out, err
}

// AdvanceGCSafePoint advances the GC safe point: never backwards, never
// past the txn safe point.
func (c localGCController) AdvanceGCSafePoint(ctx context.Context, target uint64) (gc.AdvanceGCSafePointResult, error) {
	var out gc.AdvanceGCSafePointResult
	err := c.p.call(ctx, "AdvanceGCSafePoint", func() error {
		g, err := c.p.c.gcStatesFor(c.keyspaceID, false)
		if err != nil {
			return headerError(err)
		}
		old, newSP, err := g.advanceGCSafePoint(target, false)
		if err != nil {
			return headerError(err)
		}
		out = gc.AdvanceGCSafePointResult{OldGCSafePoint: old, Target: target, NewGCSafePoint: newSP}
		return nil
	})
	return out, err
}
