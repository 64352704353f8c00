package mocktikv

import (
	"context"
	"encoding/hex"
	"strconv"

	"github.com/pingcap/kvproto/pkg/debugpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// cmdDebugGetRegionProperties is debugpb.Debug/GetRegionProperties as a
// transport command: a unary call of TiKV's Debug service, which is not
// part of tikvpb.Tikv and so has no built-in Cmd. Describing it with the
// same descriptor elsewhere (package admin does) yields this same Cmd, so
// the in-process Sender serves what admin sends. It is set once, at
// package initialisation, and never changed.
var cmdDebugGetRegionProperties = mustDescribeDebug()

func mustDescribeDebug() transport.Cmd {
	cmd, err := transport.Describe[*debugpb.GetRegionPropertiesRequest, *debugpb.GetRegionPropertiesResponse](transport.CmdDesc{
		Name:       "GetRegionProperties",
		FullMethod: "/debugpb.Debug/GetRegionProperties",
	})
	if err != nil {
		panic(err) // a programming error: the descriptor is constant
	}
	return cmd
}

// debugService is one store's debugpb.Debug gRPC service; only
// GetRegionProperties is implemented, the other methods answer
// Unimplemented.
type debugService struct {
	debugpb.UnimplementedDebugServer
	c       *Cluster
	storeID uint64
}

// GetRegionProperties runs through Cluster.handle, as the tikvpb methods
// do, so observers and faults see it on both transports.
func (s *debugService) GetRegionProperties(ctx context.Context, req *debugpb.GetRegionPropertiesRequest) (*debugpb.GetRegionPropertiesResponse, error) {
	resp, err := s.c.handle(ctx, servingStore(ctx, s.storeID), cmdDebugGetRegionProperties, req)
	if err != nil {
		return nil, grpcError(err)
	}
	return resp.(*debugpb.GetRegionPropertiesResponse), nil
}

// regionProperties answers GetRegionProperties on storeID. TiKV's
// debugger reads the region's state from the store's own engine
// (src/server/debug.rs get_region_properties, get_region_state), so any
// store holding a peer answers, leader or not, and a store without one
// fails with gRPC NotFound "region <id>" (service/debug.rs
// error_to_status maps Error::NotFound to NOT_FOUND).
//
// Reported, computed exactly from the in-memory engine: mvcc.min_ts,
// mvcc.max_ts, mvcc.num_rows, mvcc.num_puts, mvcc.num_deletes,
// mvcc.num_versions, mvcc.max_row_versions, writecf.num_entries (every
// write record), writecf.num_deletes (RocksDB tombstones: always 0, the
// mock has none), defaultcf.num_entries (transactional long values; raw
// pairs are not counted), region.start_key and region.end_key (hex of the
// region's boundaries). Not reported, having no meaning without SST files:
// writecf.num_files, writecf.sst_files, defaultcf.num_files,
// defaultcf.sst_files, region.middle_key_by_approximate_size.
func (c *Cluster) regionProperties(storeID uint64, req *debugpb.GetRegionPropertiesRequest) (*debugpb.GetRegionPropertiesResponse, error) {
	c.mu.RLock()
	r := c.byID[req.RegionId]
	c.mu.RUnlock()
	if r == nil || peerOnStore(r.meta, storeID) == nil {
		return nil, status.Errorf(codes.NotFound, "region %d", req.RegionId)
	}
	p := c.txn.store.Properties(regionRange(r.meta))
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	props := [][2]string{
		{"mvcc.min_ts", u(p.MinTS)},
		{"mvcc.max_ts", u(p.MaxTS)},
		{"mvcc.num_rows", u(p.NumRows)},
		{"mvcc.num_puts", u(p.NumPuts)},
		{"mvcc.num_deletes", u(p.NumDeletes)},
		{"mvcc.num_versions", u(p.NumVersions)},
		{"mvcc.max_row_versions", u(p.MaxRowVersions)},
		{"writecf.num_entries", u(p.NumVersions)},
		{"writecf.num_deletes", "0"},
		{"defaultcf.num_entries", u(p.DefaultEntries)},
		{"region.start_key", hex.EncodeToString(r.meta.StartKey)},
		{"region.end_key", hex.EncodeToString(r.meta.EndKey)},
	}
	resp := &debugpb.GetRegionPropertiesResponse{Props: make([]*debugpb.Property, len(props))}
	for i, kv := range props {
		resp.Props[i] = &debugpb.Property{Name: kv[0], Value: kv[1]}
	}
	return resp, nil
}
