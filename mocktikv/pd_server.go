package mocktikv

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/meta_storagepb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// pdMemberID is the id of the mock's single PD member (etcd member ids are
// arbitrary non-zero numbers).
const pdMemberID = 0x6d6f636b74696b76

// registerPD registers PD's gRPC services on s: pdpb.PD, the meta storage
// the PD client probes at start-up, the keyspace service and the resource
// manager. url is the member's client URL.
func (c *Cluster) registerPD(s *grpc.Server, url string) {
	pd := &pdService{c: c, url: url}
	pdpb.RegisterPDServer(s, pd)
	meta_storagepb.RegisterMetaStorageServer(s, &pdMetaStorage{c: c})
	keyspacepb.RegisterKeyspaceServer(s, &pdKeyspace{pd: pd})
	rmpb.RegisterResourceManagerServer(s, &pdResourceManager{c: c}) // pd_resource_manager_service.go
}

// pdService is the pdpb.PD gRPC service: a single-member PD in the
// non-microservice mode, serving the calls github.com/tikv/pd/client makes at
// start-up (GetMembers, GetClusterInfo, the TSO and QueryRegion streams), for
// routing (regions, stores), for splitting and scattering (pd_operators.go)
// and for GC (pd_gc.go). The rest answer codes.Unimplemented. The handlers
// follow PD's server/grpc_service.go, server/gc_service.go and
// pkg/utils/grpcutil. Every call can be failed or delayed (pd_faults.go).
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
func (s *pdService) GetMembers(ctx context.Context, _ *pdpb.GetMembersRequest) (*pdpb.GetMembersResponse, error) {
	var resp *pdpb.GetMembersResponse
	err := s.serveUnchecked(ctx, "GetMembers", func() {
		m := s.member()
		resp = &pdpb.GetMembersResponse{Header: s.header(), Members: []*pdpb.Member{m}, Leader: m, EtcdLeader: m}
	})
	return resp, err
}

// GetClusterInfo reports the PD service mode: TSO is served by PD itself,
// so the client opens its TSO stream to this server.
func (s *pdService) GetClusterInfo(ctx context.Context, _ *pdpb.GetClusterInfoRequest) (*pdpb.GetClusterInfoResponse, error) {
	var resp *pdpb.GetClusterInfoResponse
	err := s.serveUnchecked(ctx, "GetClusterInfo", func() {
		resp = &pdpb.GetClusterInfoResponse{Header: s.header(), ServiceModes: []pdpb.ServiceMode{pdpb.ServiceMode_PD_SVC_MODE}}
	})
	return resp, err
}

// IsBootstrapped is always true: the cluster is born bootstrapped.
func (s *pdService) IsBootstrapped(ctx context.Context, req *pdpb.IsBootstrappedRequest) (*pdpb.IsBootstrappedResponse, error) {
	var resp *pdpb.IsBootstrappedResponse
	err := s.serveUnary(ctx, "IsBootstrapped", req.GetHeader(), func() {
		resp = &pdpb.IsBootstrappedResponse{Header: s.header(), Bootstrapped: true}
	})
	return resp, err
}

// AllocID allocates from the counter stores, regions and peers use.
func (s *pdService) AllocID(ctx context.Context, req *pdpb.AllocIDRequest) (*pdpb.AllocIDResponse, error) {
	var resp *pdpb.AllocIDResponse
	err := s.serveUnary(ctx, "AllocID", req.GetHeader(), func() {
		s.c.mu.Lock()
		defer s.c.mu.Unlock()
		count := max(req.GetCount(), 1)
		first := s.c.lastID + 1
		s.c.lastID += uint64(count)
		resp = &pdpb.AllocIDResponse{Header: s.header(), Id: first, Count: count}
	})
	return resp, err
}

// Tso serves the TSO stream: each request reserves count timestamps and the
// response carries the largest one. Like PD, a request naming another
// cluster ends the stream with an error. While the TSO is paused
// (PauseTSO) a request waits, allocating nothing, until it is resumed or
// the stream ends; a scripted failure of "Tso" ends the stream with its
// error.
func (s *pdService) Tso(stream pdpb.PD_TsoServer) error {
	ctx := stream.Context()
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
		if err := s.c.tso.wait(ctx); err != nil {
			return status.FromContextError(err).Err()
		}
		var resp *pdpb.TsoResponse
		var genErr error
		err = s.serveUnchecked(ctx, "Tso", func() {
			physical, logical, err := s.c.tso.next(req.GetCount())
			if err != nil {
				genErr = status.Errorf(codes.Unknown, "[PD:tso:ErrGenerateTimestamp]generate timestamp failed, %v", err)
				return
			}
			resp = &pdpb.TsoResponse{
				Header:    s.header(),
				Count:     req.GetCount(),
				Timestamp: &pdpb.Timestamp{Physical: physical, Logical: logical},
			}
		})
		if err != nil {
			return err
		}
		if genErr != nil {
			return genErr
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// serveUnary runs one unary PD call the way PD's GrpcServer does: the
// cluster id is validated, then the call's scripted failure (FailPD) is
// applied, then answer computes the response, then the scripted delay
// (DelayPD) is waited, so a delayed answer can be stale.
func (s *pdService) serveUnary(ctx context.Context, method string, h *pdpb.RequestHeader, answer func()) error {
	if err := s.validate(h); err != nil {
		return err
	}
	return s.serveUnchecked(ctx, method, answer)
}

// serveUnchecked is serveUnary without the cluster-id check, for the calls
// a client makes before it knows the id.
func (s *pdService) serveUnchecked(ctx context.Context, method string, answer func()) error {
	if err := s.c.pdFaults.failure(method); err != nil {
		return err
	}
	answer()
	if err := s.c.pdFaults.delay(ctx, method); err != nil {
		return status.FromContextError(err).Err()
	}
	return nil
}

func (s *pdService) regionResponse(r *regionState, needBuckets bool) *pdpb.GetRegionResponse {
	resp := &pdpb.GetRegionResponse{Header: s.header()}
	if r != nil {
		cp := r.copyOut(time.Now(), needBuckets)
		resp.Region, resp.Leader = cp.meta, cp.leader
		resp.DownPeers, resp.PendingPeers, resp.Buckets = cp.down, cp.pending, cp.buckets
	}
	return resp
}

// getRegion serves the three unary region lookups.
func (s *pdService) getRegion(ctx context.Context, method string, h *pdpb.RequestHeader, needBuckets bool, find func() *regionState) (*pdpb.GetRegionResponse, error) {
	var resp *pdpb.GetRegionResponse
	err := s.serveUnary(ctx, method, h, func() {
		s.c.mu.RLock()
		defer s.c.mu.RUnlock()
		resp = s.regionResponse(find(), needBuckets)
	})
	return resp, err
}

// GetRegion returns the region containing the key; for a key no region
// covers the leader answers with an empty response, not an error.
func (s *pdService) GetRegion(ctx context.Context, req *pdpb.GetRegionRequest) (*pdpb.GetRegionResponse, error) {
	return s.getRegion(ctx, "GetRegion", req.GetHeader(), req.GetNeedBuckets(), func() *regionState {
		return s.c.regionByKeyLocked(req.GetRegionKey())
	})
}

// GetPrevRegion returns the region just before the one containing the key.
func (s *pdService) GetPrevRegion(ctx context.Context, req *pdpb.GetRegionRequest) (*pdpb.GetRegionResponse, error) {
	return s.getRegion(ctx, "GetPrevRegion", req.GetHeader(), req.GetNeedBuckets(), func() *regionState {
		return s.c.prevRegionLocked(req.GetRegionKey())
	})
}

// GetRegionByID returns the region with the id.
func (s *pdService) GetRegionByID(ctx context.Context, req *pdpb.GetRegionByIDRequest) (*pdpb.GetRegionResponse, error) {
	return s.getRegion(ctx, "GetRegionByID", req.GetHeader(), req.GetNeedBuckets(), func() *regionState {
		return s.c.byID[req.GetRegionId()]
	})
}

// QueryRegion serves the router client's batched stream (the PD client's
// default path for GetRegion, GetPrevRegion and GetRegionByID): keys and
// prev-keys map, by position, to region ids (0 when none), and every region
// found is listed once in RegionsById. Faults apply per request message.
func (s *pdService) QueryRegion(stream pdpb.PD_QueryRegionServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var resp *pdpb.QueryRegionResponse
		if err := s.serveUnary(stream.Context(), "QueryRegion", req.GetHeader(), func() { resp = s.queryRegion(req) }); err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

func (s *pdService) queryRegion(req *pdpb.QueryRegionRequest) *pdpb.QueryRegionResponse {
	s.c.mu.RLock()
	defer s.c.mu.RUnlock()
	now := time.Now()
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
			cp := r.copyOut(now, req.GetNeedBuckets())
			resp.RegionsById[r.meta.Id] = &pdpb.RegionResponse{
				Region: cp.meta, Leader: cp.leader, DownPeers: cp.down, PendingPeers: cp.pending, Buckets: cp.buckets,
			}
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
func pdRegion(r *regionState, now time.Time, needBuckets bool) *pdpb.Region {
	cp := r.copyOut(now, needBuckets)
	if cp.leader == nil {
		cp.leader = &metapb.Peer{}
	}
	return &pdpb.Region{Region: cp.meta, Leader: cp.leader, DownPeers: cp.down, PendingPeers: cp.pending, Buckets: cp.buckets}
}

// ScanRegions is the deprecated range scan, still used by older clients
// (and by the PD client's ScanRegions); it fills both the new and the
// legacy fields. It has no need_buckets, so it never carries buckets.
func (s *pdService) ScanRegions(ctx context.Context, req *pdpb.ScanRegionsRequest) (*pdpb.ScanRegionsResponse, error) {
	var resp *pdpb.ScanRegionsResponse
	err := s.serveUnary(ctx, "ScanRegions", req.GetHeader(), func() {
		s.c.mu.RLock()
		defer s.c.mu.RUnlock()
		now := time.Now()
		resp = &pdpb.ScanRegionsResponse{Header: s.header()}
		for _, r := range s.c.scanRegionsLocked(req.GetStartKey(), req.GetEndKey(), int(req.GetLimit())) {
			pr := pdRegion(r, now, false)
			resp.Regions = append(resp.Regions, pr)
			resp.RegionMetas = append(resp.RegionMetas, pr.Region)
			resp.Leaders = append(resp.Leaders, pr.Leader)
		}
	})
	return resp, err
}

// BatchScanRegions returns the regions covering sorted, disjoint ranges.
// Invalid ranges are reported in the header, as PD does.
func (s *pdService) BatchScanRegions(ctx context.Context, req *pdpb.BatchScanRegionsRequest) (*pdpb.BatchScanRegionsResponse, error) {
	ranges := make([]keyRange, len(req.GetRanges()))
	for i, r := range req.GetRanges() {
		ranges[i] = keyRange{start: r.GetStartKey(), end: r.GetEndKey()}
	}
	var resp *pdpb.BatchScanRegionsResponse
	err := s.serveUnary(ctx, "BatchScanRegions", req.GetHeader(), func() {
		s.c.mu.RLock()
		defer s.c.mu.RUnlock()
		regions, err := s.c.batchScanRegionsLocked(ranges, int(req.GetLimit()))
		if err != nil {
			resp = &pdpb.BatchScanRegionsResponse{Header: s.errorHeader(pdpb.ErrorType_UNKNOWN, err.Error())}
			return
		}
		now := time.Now()
		resp = &pdpb.BatchScanRegionsResponse{Header: s.header(), Regions: make([]*pdpb.Region, 0, len(regions))}
		for _, r := range regions {
			resp.Regions = append(resp.Regions, pdRegion(r, now, req.GetNeedBuckets()))
		}
	})
	return resp, err
}

// GetStore returns one store, whatever its state (a tombstone too: the PD
// client turns a Removed node into a nil store); an unknown id is reported
// in the header.
func (s *pdService) GetStore(ctx context.Context, req *pdpb.GetStoreRequest) (*pdpb.GetStoreResponse, error) {
	var resp *pdpb.GetStoreResponse
	err := s.serveUnary(ctx, "GetStore", req.GetHeader(), func() {
		s.c.mu.RLock()
		defer s.c.mu.RUnlock()
		st, err := s.c.storeLocked(req.GetStoreId())
		if err != nil {
			resp = &pdpb.GetStoreResponse{Header: s.errorHeader(pdpb.ErrorType_UNKNOWN, err.Error())}
			return
		}
		resp = &pdpb.GetStoreResponse{Header: s.header(), Store: st, Stats: &pdpb.StoreStats{StoreId: st.Id}}
	})
	return resp, err
}

// GetAllStores returns every store, without tombstones when the request
// sets exclude_tombstone_stores.
func (s *pdService) GetAllStores(ctx context.Context, req *pdpb.GetAllStoresRequest) (*pdpb.GetAllStoresResponse, error) {
	var resp *pdpb.GetAllStoresResponse
	err := s.serveUnary(ctx, "GetAllStores", req.GetHeader(), func() {
		s.c.mu.RLock()
		defer s.c.mu.RUnlock()
		resp = &pdpb.GetAllStoresResponse{Header: s.header(), Stores: s.c.allStoresLocked(req.GetExcludeTombstoneStores())}
	})
	return resp, err
}
