package mocktikv

import (
	"context"

	"github.com/pingcap/kvproto/pkg/meta_storagepb"
)

// pdMetaStorage is PD's meta_storagepb.MetaStorage service, which the PD
// client reads at start-up to discover microservice nodes (the router
// service registry). The mock runs no microservices and stores nothing, so
// every Get finds no keys. Without the service the client would retry the
// lookup for seconds before giving up.
type pdMetaStorage struct {
	meta_storagepb.UnimplementedMetaStorageServer
	c *Cluster
}

// Get returns no keys.
func (s *pdMetaStorage) Get(context.Context, *meta_storagepb.GetRequest) (*meta_storagepb.GetResponse, error) {
	return &meta_storagepb.GetResponse{Header: &meta_storagepb.ResponseHeader{ClusterId: s.c.clusterID}}, nil
}
