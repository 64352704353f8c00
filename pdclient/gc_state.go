package pdclient

import (
	"context"

	"github.com/tikv/pd/client/clients/gc"
	"github.com/tikv/pd/client/constants"
)

// NullKeyspaceID is the keyspace id that names no keyspace: the whole
// cluster under API v1 and, in PD's GC states, the unified GC that every
// keyspace without keyspace-level GC follows (pd/client's constants).
const NullKeyspaceID = constants.NullKeyspaceID

// GCStateKeyspace is the keyspace whose GC states a client working in
// keyspaceID under API v2 (v2 true) reads: its own keyspace, which PD
// redirects to the unified states when the keyspace has no keyspace-level
// GC; under API v1 there is no keyspace, so the null keyspace (client-go
// passes its codec's keyspace id, which is the null id for API v1, to
// GetGCStatesClient in tikv/kv.go NewKVStore).
func GCStateKeyspace(keyspaceID uint32, v2 bool) uint32 {
	if !v2 {
		return NullKeyspaceID
	}
	return keyspaceID
}

// ReadGCState reads the GC states (txn safe point, GC safe point) that
// keyspaceID is under, without the GC barriers, which a reader does not
// need and PD would otherwise list (pd/client's default for GetGCState).
func ReadGCState(ctx context.Context, pd PD, keyspaceID uint32) (gc.GCState, error) {
	return pd.GetGCStatesClient(keyspaceID).GetGCState(ctx, gc.ExcludeGCBarriers(true))
}
