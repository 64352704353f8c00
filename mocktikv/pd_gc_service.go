package mocktikv

import (
	"context"
	"math"
	"time"

	"github.com/pingcap/kvproto/pkg/pdpb"
)

// The GC RPCs of pdpb.PD, as PD's server/gc_service.go serves them: errors
// of the GC state machine (pd_gc.go) come back in the response header as
// UNKNOWN, except for the deprecated UpdateGCSafePoint and
// UpdateServiceGCSafePoint, which fail the RPC itself.

func keyspaceOf(scope *pdpb.KeyspaceScope) uint32 {
	if scope == nil {
		return NullKeyspaceID
	}
	return scope.GetKeyspaceId()
}

func (s *pdService) gcError(err error) *pdpb.ResponseHeader {
	return s.errorHeader(pdpb.ErrorType_UNKNOWN, err.Error())
}

func barrierProto(b gcBarrier, now time.Time) *pdpb.GCBarrierInfo {
	return &pdpb.GCBarrierInfo{BarrierId: b.id, BarrierTs: b.ts, TtlSeconds: b.ttlSeconds(now)}
}

func globalBarrierProto(b gcBarrier, now time.Time) *pdpb.GlobalGCBarrierInfo {
	return &pdpb.GlobalGCBarrierInfo{BarrierId: b.id, BarrierTs: b.ts, TtlSeconds: b.ttlSeconds(now)}
}

// gcStateProto is gcStateToProto: the keyspace scope names the keyspace
// the states belong to (the null keyspace for the unified ones), and
// is_keyspace_level_gc says whether they are a keyspace's own.
func gcStateProto(snap gcSnapshot, excludeBarriers bool, now time.Time) *pdpb.GCState {
	st := &pdpb.GCState{
		KeyspaceScope:     &pdpb.KeyspaceScope{Keyspace: &pdpb.KeyspaceScope_KeyspaceId{KeyspaceId: snap.keyspaceID}},
		IsKeyspaceLevelGc: snap.keyspaceLevel,
		TxnSafePoint:      snap.txnSafePoint,
		GcSafePoint:       snap.gcSafePoint,
		GcBarriers:        []*pdpb.GCBarrierInfo{},
	}
	if !excludeBarriers {
		for _, b := range snap.barriers {
			st.GcBarriers = append(st.GcBarriers, barrierProto(b, now))
		}
	}
	return st
}

// GetGCSafePoint returns the unified GC safe point (deprecated; GetGCState
// replaces it).
func (s *pdService) GetGCSafePoint(ctx context.Context, req *pdpb.GetGCSafePointRequest) (*pdpb.GetGCSafePointResponse, error) {
	var resp *pdpb.GetGCSafePointResponse
	err := s.serveUnary(ctx, "GetGCSafePoint", req.GetHeader(), func() {
		resp = &pdpb.GetGCSafePointResponse{Header: s.header(), SafePoint: s.c.gc.snapshot().gcSafePoint}
	})
	return resp, err
}

// UpdateGCSafePoint is the deprecated GC safe point update, in PD's
// compatible mode: a smaller value is ignored and the current one returned;
// a value beyond the txn safe point fails the RPC.
func (s *pdService) UpdateGCSafePoint(ctx context.Context, req *pdpb.UpdateGCSafePointRequest) (*pdpb.UpdateGCSafePointResponse, error) {
	var resp *pdpb.UpdateGCSafePointResponse
	var gcErr error
	err := s.serveUnary(ctx, "UpdateGCSafePoint", req.GetHeader(), func() {
		_, newSP, err := s.c.gc.advanceGCSafePoint(req.GetSafePoint(), true)
		if err != nil {
			gcErr = err
			return
		}
		resp = &pdpb.UpdateGCSafePointResponse{Header: s.header(), NewSafePoint: newSP}
	})
	if err == nil {
		err = gcErr
	}
	return resp, err
}

// UpdateServiceGCSafePoint is the deprecated service safe point API, mapped
// onto barriers and the txn safe point as PD's
// CompatibleUpdateServiceGCSafePoint does. The answer names the minimum
// service safe point; its TTL is effectively infinite.
func (s *pdService) UpdateServiceGCSafePoint(ctx context.Context, req *pdpb.UpdateServiceGCSafePointRequest) (*pdpb.UpdateServiceGCSafePointResponse, error) {
	var resp *pdpb.UpdateServiceGCSafePointResponse
	var gcErr error
	err := s.serveUnary(ctx, "UpdateServiceGCSafePoint", req.GetHeader(), func() {
		now := time.Now()
		min, err := s.c.gc.updateServiceSafePoint(string(req.GetServiceId()), req.GetSafePoint(), req.GetTTL(), now)
		if err != nil {
			gcErr = err
			return
		}
		resp = &pdpb.UpdateServiceGCSafePointResponse{
			Header:       s.header(),
			ServiceId:    []byte(min.serviceID),
			TTL:          math.MaxInt64 - now.Unix(),
			MinSafePoint: min.safePoint,
		}
	})
	if err == nil {
		err = gcErr
	}
	return resp, err
}

// AdvanceTxnSafePoint advances the txn safe point toward the target, as
// far as barriers allow; only the null keyspace (unified GC) and keyspaces
// with keyspace-level GC may be advanced.
func (s *pdService) AdvanceTxnSafePoint(ctx context.Context, req *pdpb.AdvanceTxnSafePointRequest) (*pdpb.AdvanceTxnSafePointResponse, error) {
	var resp *pdpb.AdvanceTxnSafePointResponse
	err := s.serveUnary(ctx, "AdvanceTxnSafePoint", req.GetHeader(), func() {
		g, err := s.c.gcStatesFor(keyspaceOf(req.GetKeyspaceScope()), false)
		if err != nil {
			resp = &pdpb.AdvanceTxnSafePointResponse{Header: s.gcError(err)}
			return
		}
		res, err := g.advanceTxnSafePoint(req.GetTarget(), time.Now())
		if err != nil {
			resp = &pdpb.AdvanceTxnSafePointResponse{Header: s.gcError(err)}
			return
		}
		resp = &pdpb.AdvanceTxnSafePointResponse{
			Header:             s.header(),
			OldTxnSafePoint:    res.old,
			NewTxnSafePoint:    res.new,
			BlockerDescription: res.blocker,
		}
	})
	return resp, err
}

// AdvanceGCSafePoint advances the GC safe point: never backwards, never
// past the txn safe point.
func (s *pdService) AdvanceGCSafePoint(ctx context.Context, req *pdpb.AdvanceGCSafePointRequest) (*pdpb.AdvanceGCSafePointResponse, error) {
	var resp *pdpb.AdvanceGCSafePointResponse
	err := s.serveUnary(ctx, "AdvanceGCSafePoint", req.GetHeader(), func() {
		g, err := s.c.gcStatesFor(keyspaceOf(req.GetKeyspaceScope()), false)
		if err != nil {
			resp = &pdpb.AdvanceGCSafePointResponse{Header: s.gcError(err)}
			return
		}
		old, newSP, err := g.advanceGCSafePoint(req.GetTarget(), false)
		if err != nil {
			resp = &pdpb.AdvanceGCSafePointResponse{Header: s.gcError(err)}
			return
		}
		resp = &pdpb.AdvanceGCSafePointResponse{Header: s.header(), OldGcSafePoint: old, NewGcSafePoint: newSP}
	})
	return resp, err
}

// SetGCBarrier adds or renews a GC barrier.
func (s *pdService) SetGCBarrier(ctx context.Context, req *pdpb.SetGCBarrierRequest) (*pdpb.SetGCBarrierResponse, error) {
	var resp *pdpb.SetGCBarrierResponse
	err := s.serveUnary(ctx, "SetGCBarrier", req.GetHeader(), func() {
		now := time.Now()
		b, err := func() (gcBarrier, error) {
			g, err := s.c.gcStatesFor(keyspaceOf(req.GetKeyspaceScope()), true)
			if err != nil {
				return gcBarrier{}, err
			}
			return g.setBarrier(req.GetBarrierId(), req.GetBarrierTs(), saturatingSeconds(req.GetTtlSeconds()), now)
		}()
		if err != nil {
			resp = &pdpb.SetGCBarrierResponse{Header: s.gcError(err)}
			return
		}
		resp = &pdpb.SetGCBarrierResponse{Header: s.header(), NewBarrierInfo: barrierProto(b, now)}
	})
	return resp, err
}

// DeleteGCBarrier deletes a GC barrier; deleting a missing one succeeds
// with no barrier info.
func (s *pdService) DeleteGCBarrier(ctx context.Context, req *pdpb.DeleteGCBarrierRequest) (*pdpb.DeleteGCBarrierResponse, error) {
	var resp *pdpb.DeleteGCBarrierResponse
	err := s.serveUnary(ctx, "DeleteGCBarrier", req.GetHeader(), func() {
		g, err := s.c.gcStatesFor(keyspaceOf(req.GetKeyspaceScope()), true)
		if err != nil {
			resp = &pdpb.DeleteGCBarrierResponse{Header: s.gcError(err)}
			return
		}
		b, ok, err := g.deleteBarrier(req.GetBarrierId())
		if err != nil {
			resp = &pdpb.DeleteGCBarrierResponse{Header: s.gcError(err)}
			return
		}
		resp = &pdpb.DeleteGCBarrierResponse{Header: s.header()}
		if ok {
			resp.DeletedBarrierInfo = barrierProto(b, time.Now())
		}
	})
	return resp, err
}

// SetGlobalGCBarrier adds or renews a global GC barrier.
func (s *pdService) SetGlobalGCBarrier(ctx context.Context, req *pdpb.SetGlobalGCBarrierRequest) (*pdpb.SetGlobalGCBarrierResponse, error) {
	var resp *pdpb.SetGlobalGCBarrierResponse
	err := s.serveUnary(ctx, "SetGlobalGCBarrier", req.GetHeader(), func() {
		now := time.Now()
		b, err := s.c.gc.setGlobalBarrier(req.GetBarrierId(), req.GetBarrierTs(), saturatingSeconds(req.GetTtlSeconds()), now)
		if err != nil {
			resp = &pdpb.SetGlobalGCBarrierResponse{Header: s.gcError(err)}
			return
		}
		resp = &pdpb.SetGlobalGCBarrierResponse{Header: s.header(), NewBarrierInfo: globalBarrierProto(b, now)}
	})
	return resp, err
}

// DeleteGlobalGCBarrier deletes a global GC barrier.
func (s *pdService) DeleteGlobalGCBarrier(ctx context.Context, req *pdpb.DeleteGlobalGCBarrierRequest) (*pdpb.DeleteGlobalGCBarrierResponse, error) {
	var resp *pdpb.DeleteGlobalGCBarrierResponse
	err := s.serveUnary(ctx, "DeleteGlobalGCBarrier", req.GetHeader(), func() {
		b, ok, err := s.c.gc.deleteGlobalBarrier(req.GetBarrierId())
		if err != nil {
			resp = &pdpb.DeleteGlobalGCBarrierResponse{Header: s.gcError(err)}
			return
		}
		resp = &pdpb.DeleteGlobalGCBarrierResponse{Header: s.header()}
		if ok {
			resp.DeletedBarrierInfo = globalBarrierProto(b, time.Now())
		}
	})
	return resp, err
}

// GetGCState returns the GC state a keyspace is under (its own with
// keyspace-level GC, else the unified one), with its barriers unless
// excluded.
func (s *pdService) GetGCState(ctx context.Context, req *pdpb.GetGCStateRequest) (*pdpb.GetGCStateResponse, error) {
	var resp *pdpb.GetGCStateResponse
	err := s.serveUnary(ctx, "GetGCState", req.GetHeader(), func() {
		g, err := s.c.gcStatesFor(keyspaceOf(req.GetKeyspaceScope()), true)
		if err != nil {
			resp = &pdpb.GetGCStateResponse{Header: s.gcError(err)}
			return
		}
		now := time.Now()
		snap := g.snapshot()
		resp = &pdpb.GetGCStateResponse{Header: s.header(), GcState: gcStateProto(snap, req.GetExcludeGcBarriers(), now)}
	})
	return resp, err
}

// GetAllKeyspacesGCStates returns the GC states of the null keyspace and
// of every keyspace with keyspace-level GC and, unless excluded, the global
// barriers.
func (s *pdService) GetAllKeyspacesGCStates(ctx context.Context, req *pdpb.GetAllKeyspacesGCStatesRequest) (*pdpb.GetAllKeyspacesGCStatesResponse, error) {
	var resp *pdpb.GetAllKeyspacesGCStatesResponse
	err := s.serveUnary(ctx, "GetAllKeyspacesGCStates", req.GetHeader(), func() {
		now := time.Now()
		snaps := s.c.gc.snapshotAll()
		snap := snaps[0]
		resp = &pdpb.GetAllKeyspacesGCStatesResponse{Header: s.header()}
		for _, sn := range snaps {
			resp.GcStates = append(resp.GcStates, gcStateProto(sn, req.GetExcludeGcBarriers(), now))
		}
		if !req.GetExcludeGlobalGcBarriers() {
			for _, b := range snap.global {
				resp.GlobalGcBarriers = append(resp.GlobalGcBarriers, globalBarrierProto(b, now))
			}
		}
	})
	return resp, err
}
