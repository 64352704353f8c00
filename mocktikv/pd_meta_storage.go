package mocktikv

import (
	"context"

	"github.com/pingcap/kvproto/pkg/meta_storagepb"
)

// pdMetaStorage is PD's meta_storagepb.MetaStorage service, which the PD
// client reads at start-up to discover microservice nodes (the router
// service registry), and where the resource-group controller reads and
// watches the resource manager's keys. The mock runs no microservices:
// only the resource manager's keys (pd_resource_manager.go) hold values;
// every other Get finds no keys. Without the service the client would
// retry the lookup for seconds before giving up.
type pdMetaStorage struct {
	meta_storagepb.UnimplementedMetaStorageServer
	c *Cluster
}

// Get returns the resource manager's keys in the requested range, and no
// keys elsewhere.
func (s *pdMetaStorage) Get(_ context.Context, req *meta_storagepb.GetRequest) (*meta_storagepb.GetResponse, error) {
	resp := &meta_storagepb.GetResponse{Header: s.header()}
	if isRMKey(req.GetKey()) {
		resp.Kvs, resp.Header.Revision = s.c.rm.metaRange(req.GetKey(), req.GetRangeEnd())
		resp.Count = int64(len(resp.Kvs))
	}
	return resp, nil
}
