package pdclient

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvgo/tikv/kv"
)

// LoadKeyspace returns the metadata of the keyspace named name. PD answers
// an unknown name with ENTRY_NOT_FOUND in the response header (PD's
// server/keyspace_service.go); pd/client's own LoadKeyspace flattens that
// header into a string, so the request is sent here, on the PD client's
// connection to the serving PD (the one pd/client's keyspace client uses),
// and an unknown name becomes an error wrapping kv.ErrKeyspaceNotFound.
func (c guardedClient) LoadKeyspace(ctx context.Context, name string) (*keyspacepb.KeyspaceMeta, error) {
	conn := c.GetServiceDiscovery().GetServingEndpointClientConn()
	if conn == nil {
		// No serving PD known at this moment: pd/client's path reports it.
		return c.Client.LoadKeyspace(ctx, name)
	}
	resp, err := keyspacepb.NewKeyspaceClient(conn).LoadKeyspace(ctx, &keyspacepb.LoadKeyspaceRequest{
		Header: &pdpb.RequestHeader{ClusterId: c.GetClusterID(ctx), CallerComponent: string(callerComponent)},
		Name:   name,
	})
	if err != nil {
		return nil, err
	}
	if e := resp.GetHeader().GetError(); e != nil {
		if e.GetType() == pdpb.ErrorType_ENTRY_NOT_FOUND {
			return nil, fmt.Errorf("%w: PD: %s", kv.ErrKeyspaceNotFound, e.GetMessage())
		}
		return nil, fmt.Errorf("PD: %s: %s", e.GetType(), e.GetMessage())
	}
	return resp.GetKeyspace(), nil
}
