package pipelinetest

import (
	"context"
	"errors"
	"time"

	"github.com/tikv/pd/client/clients/gc"

	"github.com/tikvgo/tikv/pdclient"
)

// errNoGCBarriers is what the test PD answers the GC barrier calls: it
// keeps no GC state beyond the initial one.
var errNoGCBarriers = errors.New("pipelinetest: PD keeps no GC barriers")

// GetGCStatesClient returns GC states that never move: a fresh cluster's,
// where nothing has been collected (both safe points 0, unified GC).
// Barrier calls fail.
func (p *PD) GetGCStatesClient(uint32) gc.GCStatesClient { return freshGCStates{} }

type freshGCStates struct{}

func (freshGCStates) SetGCBarrier(context.Context, string, uint64, time.Duration) (*gc.GCBarrierInfo, error) {
	return nil, errNoGCBarriers
}

func (freshGCStates) DeleteGCBarrier(context.Context, string) (*gc.GCBarrierInfo, error) {
	return nil, errNoGCBarriers
}

func (freshGCStates) GetGCState(ctx context.Context, _ ...gc.GCStatesAPIOption) (gc.GCState, error) {
	return gc.NewGCStateWithoutGCBarriers(pdclient.NullKeyspaceID, 0, 0), ctx.Err()
}

func (freshGCStates) SetGlobalGCBarrier(context.Context, string, uint64, time.Duration) (*gc.GlobalGCBarrierInfo, error) {
	return nil, errNoGCBarriers
}

func (freshGCStates) DeleteGlobalGCBarrier(context.Context, string) (*gc.GlobalGCBarrierInfo, error) {
	return nil, errNoGCBarriers
}

func (freshGCStates) GetAllKeyspacesGCStates(ctx context.Context, _ ...gc.GCStatesAPIOption) (gc.ClusterGCStates, error) {
	st := gc.NewGCStateWithoutGCBarriers(pdclient.NullKeyspaceID, 0, 0)
	return gc.NewClusterGCStatesWithoutGlobalGCBarriers(map[uint32]gc.GCState{pdclient.NullKeyspaceID: st}), ctx.Err()
}
