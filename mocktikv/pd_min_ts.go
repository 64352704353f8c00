package mocktikv

import (
	"context"

	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvgo/tikv/pdclient"
)

// The in-process PD reports the keyspace groups' min ts, as the real one.
var _ pdclient.MinTSReader = localPD{}

// GetMinTS is the in-process PD's GetMinTS: mocktikv's PD serves TSO
// itself (no TSO keyspace groups), so the smallest timestamp any group may
// still hand out is a fresh one, which is also what pd.Client answers in
// that mode without asking.
func (p localPD) GetMinTS(ctx context.Context) (physical, logical int64, err error) {
	return p.GetTS(ctx)
}

// GetMinTS serves PD's GetMinTS over gRPC (asked by pd.Client when TSO is
// served by keyspace groups): a fresh timestamp from the one TSO.
func (s *pdService) GetMinTS(ctx context.Context, req *pdpb.GetMinTSRequest) (*pdpb.GetMinTSResponse, error) {
	var resp *pdpb.GetMinTSResponse
	err := s.serveUnary(ctx, "GetMinTS", req.GetHeader(), func() {
		physical, logical, err := s.c.tso.next(1)
		if err != nil {
			resp = &pdpb.GetMinTSResponse{Header: s.errorHeader(pdpb.ErrorType_UNKNOWN, err.Error())}
			return
		}
		resp = &pdpb.GetMinTSResponse{Header: s.header(), Timestamp: &pdpb.Timestamp{Physical: physical, Logical: logical}}
	})
	return resp, err
}

// GetClusterID returns the cluster's id, as pd.Client's GetClusterID does.
func (p localPD) GetClusterID(context.Context) uint64 { return p.c.clusterID }
