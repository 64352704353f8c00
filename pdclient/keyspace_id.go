package pdclient

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/keyspacepb"

	"github.com/tikvgo/tikv/internal/apicodec"
)

// KeyspaceLoader reads keyspace metadata by name: the PD Connect returns
// has it (an unknown name wraps kv.ErrKeyspaceNotFound), as do pd/client's
// Client and mocktikv's in-process PD.
type KeyspaceLoader interface {
	LoadKeyspace(ctx context.Context, name string) (*keyspacepb.KeyspaceMeta, error)
}

// KeyspaceID looks up the keyspace named name through pd and returns the
// id its API v2 key prefix carries (client-go's locate.GetKeyspaceID).
// The keyspace must be ENABLED. A keyspace PD identifies the API v3 way
// (a namespace and keyspace pair instead of a numeric id) is refused with
// an error wrapping kv.ErrAPIVersionMismatch rather than read as id 0,
// which would be the DEFAULT keyspace; see apicodec's KeyspaceIDOf.
func KeyspaceID(ctx context.Context, pd KeyspaceLoader, name string) (uint32, error) {
	meta, err := pd.LoadKeyspace(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("load keyspace %q: %w", name, err)
	}
	id, err := apicodec.KeyspaceIDOf(meta)
	if err != nil {
		return 0, fmt.Errorf("keyspace %q: %w", name, err)
	}
	if meta.GetState() != keyspacepb.KeyspaceState_ENABLED {
		return 0, fmt.Errorf("keyspace %q is %s", name, meta.GetState())
	}
	return id, nil
}
