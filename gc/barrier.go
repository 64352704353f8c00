package gc

import (
	"context"
	"fmt"
	"time"

	pdgc "github.com/tikv/pd/client/clients/gc"
)

// SetBarrier adds or renews the GC barrier id at ts for ttl (PD's
// SetGCBarrier, the successor of service safe points): until it expires
// or is deleted, PD advances the txn safe point no further than ts, so
// snapshots at ts or later stay readable. pdgc.TTLNeverExpire keeps it
// until deleted. PD refuses a barrier below the current txn safe point.
func SetBarrier(ctx context.Context, b Backend, id string, ts uint64, ttl time.Duration) (*pdgc.GCBarrierInfo, error) {
	info, err := b.PD().GetGCStatesClient(keyspace(b)).SetGCBarrier(ctx, id, ts, ttl)
	if err != nil {
		return nil, fmt.Errorf("gc: set barrier %q at %d: %w", id, ts, err)
	}
	return info, nil
}

// DeleteBarrier removes the GC barrier id and returns it, or nil when
// there was none.
func DeleteBarrier(ctx context.Context, b Backend, id string) (*pdgc.GCBarrierInfo, error) {
	info, err := b.PD().GetGCStatesClient(keyspace(b)).DeleteGCBarrier(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("gc: delete barrier %q: %w", id, err)
	}
	return info, nil
}

// State reads the GC states b's keyspace is under: the txn safe point,
// the GC safe point and the GC barriers.
func State(ctx context.Context, b Backend) (pdgc.GCState, error) {
	s, err := b.PD().GetGCStatesClient(keyspace(b)).GetGCState(ctx, pdgc.ExcludeGCBarriers(false))
	if err != nil {
		return pdgc.GCState{}, fmt.Errorf("gc: read GC state: %w", err)
	}
	return s, nil
}
