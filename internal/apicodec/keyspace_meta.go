package apicodec

import (
	"fmt"

	"github.com/pingcap/kvproto/pkg/keyspacepb"

	"github.com/tikvgo/tikv/kv"
)

// KeyspaceIDOf returns the numeric keyspace id of meta, as PD's
// LoadKeyspace reports it, for NewV2. A keyspace PD identifies the API v3
// way (KeyspaceMeta.keyspace_identity: a namespace and keyspace pair, where
// id 0 is invalid) has no API v2 prefix; reading its absent numeric id as 0
// would silently put the client in the DEFAULT keyspace, so it is an error
// wrapping kv.ErrAPIVersionMismatch (client-go's NewCodecV2 and
// GetKeyspaceID refuse it too). A nil meta, or an id over MaxKeyspaceID,
// is an error wrapping kv.ErrProtocol: PD answered something no keyspace
// looks like.
func KeyspaceIDOf(meta *keyspacepb.KeyspaceMeta) (uint32, error) {
	if meta == nil {
		return 0, fmt.Errorf("%w: PD returned no keyspace metadata", kv.ErrProtocol)
	}
	if ident := meta.GetKeyspaceIdentity(); ident != nil {
		return 0, fmt.Errorf("%w: keyspace %q is identified by API v3 identity (namespace %d, keyspace %d), which has no API v2 key prefix",
			kv.ErrAPIVersionMismatch, meta.GetName(), ident.GetNamespaceId(), ident.GetKeyspaceId())
	}
	id := meta.GetId()
	if id > MaxKeyspaceID {
		return 0, fmt.Errorf("%w: keyspace %q has id %d, over the API v2 maximum %d", kv.ErrProtocol, meta.GetName(), id, MaxKeyspaceID)
	}
	return id, nil
}
