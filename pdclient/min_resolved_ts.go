package pdclient

import (
	"context"

	pdhttp "github.com/tikv/pd/client/http"
)

// MinResolvedTSReader is PD's min-resolved-ts API (client-go reads it over
// PD's HTTP API, github.com/tikv/pd/client/http, to learn the stale-read
// safe ts without asking every store): the smallest resolved ts the stores
// reported to PD. With no store ids it returns the cluster's value alone
// (perStore nil); with ids, each listed store's value and their minimum.
// PD answers 0 for a store that has not reported, and a PD that keeps no
// min resolved ts fails or answers 0; 0 and MaxUint64 are never a usable
// safe ts.
//
// The PD that Connect returns implements it (through a pd/client/http
// client that shares the PD client's service discovery and TLS), and so
// does mocktikv's in-process PD. It is not part of PD because other PD
// implementations need not offer it; txn.Client then asks the stores.
type MinResolvedTSReader interface {
	GetMinResolvedTSByStoresIDs(ctx context.Context, storeIDs []uint64) (cluster uint64, perStore map[uint64]uint64, err error)
}

// pd/client/http's client has the method.
var _ MinResolvedTSReader = pdhttp.Client(nil)

// GetMinResolvedTSByStoresIDs asks PD's HTTP API (MinResolvedTSReader).
func (c guardedClient) GetMinResolvedTSByStoresIDs(ctx context.Context, storeIDs []uint64) (uint64, map[uint64]uint64, error) {
	if c.http == nil {
		// Only a client Connect is discarding has none.
		return 0, nil, errClientClosed
	}
	if c.guard.closed.Load() {
		return 0, nil, errClientClosed
	}
	return c.http.GetMinResolvedTSByStoresIDs(ctx, storeIDs)
}
