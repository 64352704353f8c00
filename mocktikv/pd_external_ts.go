package mocktikv

import (
	"context"
	"errors"
	"sync"

	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvgo/tikv/pdclient"
)

// The in-process PD keeps an external timestamp, as the real one does.
var _ pdclient.ExternalTimestamper = localPD{}

// externalTSState is PD's external timestamp: a cluster-wide timestamp an
// outside process (a replication sink such as TiCDC) sets to say that the
// data up to it is complete, for readers that read at it. PD keeps it in
// its cluster state (server/cluster RaftCluster.SetExternalTS); 0 until
// first set.
type externalTSState struct {
	mu sync.Mutex
	ts uint64
}

// PD's refusals (server/server.go Server.SetExternalTS), answered as an
// INVALID_VALUE header error.
const (
	externalTSAboveGlobal = "the external timestamp should not be larger than global ts"
	externalTSNotLarger   = "the external timestamp should be larger than current external timestamp"
)

// setExternalTS is PD's SetExternalTimestamp: ts must not exceed a
// timestamp freshly allocated from the TSO, and must be larger than the
// current external timestamp (it only moves forward).
func (c *Cluster) setExternalTS(ts uint64) string {
	if ts > c.currentTS() {
		return externalTSAboveGlobal
	}
	c.externalTS.mu.Lock()
	defer c.externalTS.mu.Unlock()
	if ts <= c.externalTS.ts {
		return externalTSNotLarger
	}
	c.externalTS.ts = ts
	return ""
}

func (c *Cluster) getExternalTS() uint64 {
	c.externalTS.mu.Lock()
	defer c.externalTS.mu.Unlock()
	return c.externalTS.ts
}

// SetExternalTimestamp serves PD's SetExternalTimestamp over gRPC.
func (s *pdService) SetExternalTimestamp(ctx context.Context, req *pdpb.SetExternalTimestampRequest) (*pdpb.SetExternalTimestampResponse, error) {
	var resp *pdpb.SetExternalTimestampResponse
	err := s.serveUnary(ctx, "SetExternalTimestamp", req.GetHeader(), func() {
		resp = &pdpb.SetExternalTimestampResponse{Header: s.header()}
		if msg := s.c.setExternalTS(req.GetTimestamp()); msg != "" {
			resp.Header = s.errorHeader(pdpb.ErrorType_INVALID_VALUE, msg)
		}
	})
	return resp, err
}

// GetExternalTimestamp serves PD's GetExternalTimestamp over gRPC.
func (s *pdService) GetExternalTimestamp(ctx context.Context, req *pdpb.GetExternalTimestampRequest) (*pdpb.GetExternalTimestampResponse, error) {
	var resp *pdpb.GetExternalTimestampResponse
	err := s.serveUnary(ctx, "GetExternalTimestamp", req.GetHeader(), func() {
		resp = &pdpb.GetExternalTimestampResponse{Header: s.header(), Timestamp: s.c.getExternalTS()}
	})
	return resp, err
}

// SetExternalTimestamp is the in-process PD's; a refusal fails with the
// error the real client makes of PD's header error ("[pd]" and the
// message).
func (p localPD) SetExternalTimestamp(ctx context.Context, ts uint64) error {
	return p.call(ctx, "SetExternalTimestamp", func() error {
		if msg := p.c.setExternalTS(ts); msg != "" {
			return errors.New("[pd]" + msg)
		}
		return nil
	})
}

// GetExternalTimestamp is the in-process PD's.
func (p localPD) GetExternalTimestamp(ctx context.Context) (ts uint64, err error) {
	err = p.call(ctx, "GetExternalTimestamp", func() error {
		ts = p.c.getExternalTS()
		return nil
	})
	return ts, err
}
