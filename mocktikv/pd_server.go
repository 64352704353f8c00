package mocktikv

import (
	"context"
	"errors"
	"io"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// pdMemberID is the id of the mock's single PD member (etcd member ids are
// arbitrary non-zero numbers).
const pdMemberID = 0x6d6f636b74696b76

// pdService is the pdpb.PD gRPC service: a single-member PD in the
// non-microservice mode, serving the calls github.com/tikv/pd/client makes at
// start-up (GetMembers, GetClusterInfo, the TSO and QueryRegion streams) and
// for routing (regions, stores). The rest answer codes.Unimplemented. The
// handlers follow PD's server/grpc_service.go and pkg/utils/grpcutil.
type pdService struct {
	pdpb.UnimplementedPDServer
	c   *Cluster
	url string // the member's client URL, "http://127.0.0.1:port"
}

// header is grpcutil.WrapHeader: every response names the cluster.
func (s *pdService) header() *pdpb.ResponseHeader {
	return &pdpb.ResponseHeader{ClusterId: s.c.clusterID}
}

func (s *pdService) errorHeader(typ pdpb.ErrorType, msg string) *pdpb.ResponseHeader {
	return &pdpb.ResponseHeader{ClusterId: s.c.clusterID, Error: &pdpb.Error{Type: typ, Message: msg}}
}

// validate is PD's validateRoleInRequest for the leader: the request must
// carry this cluster's id. GetMembers and GetClusterInfo skip it because a
// client learns the id from them.
func (s *pdService) validate(h *pdpb.RequestHeader) error {
	if h.GetClusterId() != s.c.clusterID {
		return status.Errorf(codes.FailedPrecondition, "mismatch cluster id, need %d but got %d", s.c.clusterID, h.GetClusterId())
	}
	return nil
}

func (s *pdService) member() *pdpb.Member {
	return &pdpb.Member{
		Name:       "mocktikv-pd",
		MemberId:   pdMemberID,
		ClientUrls: []string{s.url},
		PeerUrls:   []string{s.url},
	}
}

// GetMembers reports the single member as both PD leader and etcd leader.
func (s *pdService) GetMembers(context.Context, *pdpb.GetMembersRequest) (*pdpb.GetMembersResponse, error) {
	m := s.member()
	return &pdpb.GetMembersResponse{
		Header:     s.header(),
		Members:    []*pdpb.Member{m},
		Leader:     m,
		EtcdLeader: m,
	}, nil
}

// GetClusterInfo reports the PD service mode: TSO is served by PD itself,
// so the client opens its TSO stream to this server.
func (s *pdService) GetClusterInfo(context.Context, *pdpb.GetClusterInfoRequest) (*pdpb.GetClusterInfoResponse, error) {
	return &pdpb.GetClusterInfoResponse{
		Header:       s.header(),
		ServiceModes: []pdpb.ServiceMode{pdpb.ServiceMode_PD_SVC_MODE},
	}, nil
}

// IsBootstrapped is always true: the cluster is born bootstrapped.
func (s *pdService) IsBootstrapped(_ context.Context, req *pdpb.IsBootstrappedRequest) (*pdpb.IsBootstrappedResponse, error) {
	if err := s.validate(req.GetHeader()); err != nil {
		return nil, err
	}
	return &pdpb.IsBootstrappedResponse{Header: s.header(), Bootstrapped: true}, nil
}

// AllocID allocates from the counter stores, regions and peers use.
func (s *pdService) AllocID(_ context.Context, req *pdpb.AllocIDRequest) (*pdpb.AllocIDResponse, error) {
	if err := s.validate(req.GetHeader()); err != nil {
		return nil, err
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	count := max(req.GetCount(), 1)
	first := s.c.lastID + 1
	s.c.lastID += uint64(count)
	return &pdpb.AllocIDResponse{Header: s.header(), Id: first, Count: count}, nil
}

// Tso serves the TSO stream: each request reserves count timestamps and the
// response carries the largest one. Like PD, a request naming another
// cluster ends the stream with an error.
func (s *pdService) Tso(stream pdpb.PD_TsoServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.validate(req.GetHeader()); err != nil {
			return err
		}
		physical, logical, err := s.c.tso.next(req.GetCount())
		if err != nil {
			return status.Errorf(codes.Unknown, "[PD:tso:ErrGenerateTimestamp]generate timestamp failed, %v", err)
		}
		resp := &pdpb.TsoResponse{
			Header:    s.header(),
			Count:     req.GetCount(),
			Timestamp: &pdpb.Timestamp{Physical: physical, Logical: logical},
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

func (s *pdService) regionResponse(r *regionState) *pdpb.GetRegionResponse {
	resp := &pdpb.GetRegionResponse{Header: s.header()}
	if r != nil {
		cp := r.copyOut()
		resp.Region, resp.Leader = cp.meta, cp.leader
	}
	return resp
}

// GetRegion returns the region containing the key; for a key no region
// covers the leader answers with an empty response, not an error.
func (s *pdService) GetRegion(_ context.Context, req *pdpb.GetRegionRequest) (*pdpb.GetRegionResponse, error) {
	if err := s.validate(req.GetHeader()); err != nil {
		return nil, err
	}
	s.c.mu.RLock()
	defer s.c.mu.RUnlock()
	return s.regionResponse(s.c.regionByKeyLocked(req.GetRegionKey())), nil
}

// GetPrevRegion returns the region just before the one containing the key.
func (s *pdService) GetPrevRegion(_ context.Context, req *pdpb.GetRegionRequest) (*pdpb.GetRegionResponse, error) {
	if err := s.validate(req.GetHeader()); err != nil {
		return nil, err
	}
	s.c.mu.RLock()
	defer s.c.mu.RUnlock()
	return s.regionResponse(s.c.prevRegionLocked(req.GetRegionKey())), nil
}

// GetRegionByID returns the region with the id.
func (s *pdService) GetRegionByID(_ context.Context, req *pdpb.GetRegionByIDRequest) (*pdpb.GetRegionResponse, error) {
	if err := s.validate(req.GetHeader()); err != nil {
		return nil, err
	}
	s.c.mu.RLock()
	defer s.c.mu.RUnlock()
	return s.regionResponse(s.c.byID[req.GetRegionId()]), nil
}

// QueryRegion serves the router client's batched stream (the PD client's
// default path for GetRegion, GetPrevRegion and GetRegionByID): keys and
// prev-keys map, by position, to region ids (0 when none), and every region
// found is listed once in RegionsById.
func (s *pdService) QueryRegion(stream pdpb.PD_QueryRegionServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.validate(req.GetHeader()); err != nil {
			return err
		}
		if err := stream.Send(s.queryRegion(req)); err != nil {
			return err
		}
	}
}

func (s *pdService) queryRegion(req *pdpb.QueryRegionRequest) *pdpb.QueryRegionResponse {
	s.c.mu.RLock()
	defer s.c.mu.RUnlock()
	resp := &pdpb.QueryRegionResponse{
		Header:       s.header(),
		KeyIdMap:     make([]uint64, len(req.GetKeys())),
		PrevKeyIdMap: make([]uint64, len(req.GetPrevKeys())),
		RegionsById:  make(map[uint64]*pdpb.RegionResponse),
	}
	add := func(r *regionState) uint64 {
		if r == nil {
			return 0
		}
		if _, ok := resp.RegionsById[r.meta.Id]; !ok {
			cp := r.copyOut()
			resp.RegionsById[r.meta.Id] = &pdpb.RegionResponse{Region: cp.meta, Leader: cp.leader}
		}
		return r.meta.Id
	}
	for i, k := range req.GetKeys() {
		resp.KeyIdMap[i] = add(s.c.regionByKeyLocked(k))
	}
	for i, k := range req.GetPrevKeys() {
		resp.PrevKeyIdMap[i] = add(s.c.prevRegionLocked(k))
	}
	for _, id := range req.GetIds() {
		if id == 0 {
			continue
		}
		if r := s.c.byID[id]; r != nil {
			add(r)
		} else {
			// PD lists an unknown id with a nil entry.
			resp.RegionsById[id] = nil
		}
	}
	return resp
}

// pdRegion converts a region to the pdpb.Region of scan responses, where a
// missing leader is an empty peer.
func pdRegion(r *regionState) *pdpb.Region {
	cp := r.copyOut()
	if cp.leader == nil {
		cp.leader = &metapb.Peer{}
	}
	return &pdpb.Region{Region: cp.meta, Leader: cp.leader}
}

// ScanRegions is the deprecated range scan, still used by older clients; it
// fills both the new and the legacy fields.
func (s *pdService) ScanRegions(_ context.Context, req *pdpb.ScanRegionsRequest) (*pdpb.ScanRegionsResponse, error) {
	if err := s.validate(req.GetHeader()); err != nil {
		return nil, err
	}
	s.c.mu.RLock()
	defer s.c.mu.RUnlock()
	resp := &pdpb.ScanRegionsResponse{Header: s.header()}
	for _, r := range s.c.scanRegionsLocked(req.GetStartKey(), req.GetEndKey(), int(req.GetLimit())) {
		pr := pdRegion(r)
		resp.Regions = append(resp.Regions, pr)
		resp.RegionMetas = append(resp.RegionMetas, pr.Region)
		resp.Leaders = append(resp.Leaders, pr.Leader)
	}
	return resp, nil
}

// BatchScanRegions returns the regions covering sorted, disjoint ranges.
// Invalid ranges are reported in the header, as PD does.
func (s *pdService) BatchScanRegions(_ context.Context, req *pdpb.BatchScanRegionsRequest) (*pdpb.BatchScanRegionsResponse, error) {
	if err := s.validate(req.GetHeader()); err != nil {
		return nil, err
	}
	ranges := make([]keyRange, len(req.GetRanges()))
	for i, r := range req.GetRanges() {
		ranges[i] = keyRange{start: r.GetStartKey(), end: r.GetEndKey()}
	}
	s.c.mu.RLock()
	defer s.c.mu.RUnlock()
	regions, err := s.c.batchScanRegionsLocked(ranges, int(req.GetLimit()))
	if err != nil {
		return &pdpb.BatchScanRegionsResponse{Header: s.errorHeader(pdpb.ErrorType_UNKNOWN, err.Error())}, nil
	}
	resp := &pdpb.BatchScanRegionsResponse{Header: s.header(), Regions: make([]*pdpb.Region, 0, len(regions))}
	for _, r := range regions {
		resp.Regions = append(resp.Regions, pdRegion(r))
	}
	return resp, nil
}

// GetStore returns one store; an unknown id is reported in the header.
func (s *pdService) GetStore(_ context.Context, req *pdpb.GetStoreRequest) (*pdpb.GetStoreResponse, error) {
	if err := s.validate(req.GetHeader()); err != nil {
		return nil, err
	}
	s.c.mu.RLock()
	defer s.c.mu.RUnlock()
	st, err := s.c.storeLocked(req.GetStoreId())
	if err != nil {
		return &pdpb.GetStoreResponse{Header: s.errorHeader(pdpb.ErrorType_UNKNOWN, err.Error())}, nil
	}
	return &pdpb.GetStoreResponse{Header: s.header(), Store: st, Stats: &pdpb.StoreStats{StoreId: st.Id}}, nil
}

// GetAllStores returns every store (there are no tombstones to exclude).
func (s *pdService) GetAllStores(_ context.Context, req *pdpb.GetAllStoresRequest) (*pdpb.GetAllStoresResponse, error) {
	if err := s.validate(req.GetHeader()); err != nil {
		return nil, err
	}
	s.c.mu.RLock()
	defer s.c.mu.RUnlock()
	return &pdpb.GetAllStoresResponse{Header: s.header(), Stores: s.c.allStoresLocked()}, nil
}
