package pdclient

import (
	"context"

	pd "github.com/tikv/pd/client"
)

// ExternalTimestamper is the part of PD that keeps the cluster's external
// timestamp (client-go's Oracle.SetExternalTimestamp and
// GetExternalTimestamp, which call PD): a cluster-wide timestamp an outside
// process (a replication sink such as TiCDC) sets to say the data up to it
// is complete, for readers that read at it. PD refuses a timestamp above
// its TSO or not above the current one (server/server.go SetExternalTS);
// it is 0 until first set. github.com/tikv/pd/client.Client implements it,
// and so does mocktikv's in-process PD; it is not part of PD because other
// PD implementations need not.
type ExternalTimestamper interface {
	SetExternalTimestamp(ctx context.Context, ts uint64) error
	GetExternalTimestamp(ctx context.Context) (uint64, error)
}

// The real PD client keeps one.
var _ ExternalTimestamper = pd.Client(nil)

// MinTSReader is the part of PD that reports the smallest timestamp any
// TSO keyspace group may still hand out (client-go's
// Oracle.GetAllTSOKeyspaceGroupMinTS, PD's GetMinTS): with TSO served by
// keyspace groups, a timestamp below it is behind every group's TSO; with
// PD serving TSO itself it is simply a fresh TSO.
// github.com/tikv/pd/client.Client implements it, and so does mocktikv's
// in-process PD.
type MinTSReader interface {
	GetMinTS(ctx context.Context) (physical, logical int64, err error)
}

// The real PD client reads it.
var _ MinTSReader = pd.Client(nil)
