package admin

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/debugpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
)

// debugRegionProperties returns debugpb.Debug/GetRegionProperties as a
// transport command: a unary call of TiKV's Debug service (not
// tikvpb.Tikv), store-level (its request has no kvrpcpb.Context),
// read-only, in no key space. The Pool never batches a described command,
// and this package never forwards it. Describe returns the same Cmd for
// the same descriptor every time (mocktikv describes it identically).
func debugRegionProperties() (transport.Cmd, error) {
	return transport.Describe[*debugpb.GetRegionPropertiesRequest, *debugpb.GetRegionPropertiesResponse](transport.CmdDesc{
		Name:       "GetRegionProperties",
		FullMethod: "/debugpb.Debug/GetRegionProperties",
	})
}

// RegionProperties returns the properties TiKV's debug service reports
// for a region (client-go's CmdDebugGetRegionProperties,
// debugpb.Debug/GetRegionProperties): MVCC statistics such as
// "mvcc.num_rows", "mvcc.num_versions", "mvcc.min_ts", and the region's
// boundaries in hex ("region.start_key", "region.end_key"). The names are
// TiKV's (src/server/debug.rs get_region_properties); values are decimal
// numbers or hex strings.
//
// The request goes once to the store of the region's leader as the client
// knows it, as a unary call bounded by the environment's read timeout; it
// is not retried. A store that holds no peer of the region answers gRPC
// NotFound (status.Code(err) == codes.NotFound).
//
// Under API v2 with a keyspace the call is refused before it is sent
// (middleware.ErrRefusedInKeyspace): the answer describes the region as a
// whole, boundaries included, which cannot be confined to one keyspace.
func (c *Client) RegionProperties(ctx context.Context, regionID uint64) (map[string]string, error) {
	cmd, err := debugRegionProperties()
	if err != nil {
		return nil, err
	}
	r, err := c.env.Locator.LocateByID(ctx, regionID)
	if err != nil {
		return nil, fmt.Errorf("region properties of region %d: %w", regionID, err)
	}
	leader := r.Leader()
	if leader == nil {
		return nil, fmt.Errorf("region properties of region %d: no known leader: %w", regionID, kv.ErrNotSent)
	}
	st, err := c.env.Locator.Store(ctx, leader.StoreId)
	if err != nil {
		return nil, fmt.Errorf("region properties of region %d: %w", regionID, err)
	}
	timeout := c.env.ReadTimeout
	if timeout == 0 {
		timeout = pipeline.DefaultReadTimeout
	}
	resp, err := c.env.Sender.Send(ctx, &transport.Request{
		Cmd:     cmd,
		Msg:     &debugpb.GetRegionPropertiesRequest{RegionId: regionID},
		Target:  transport.Target{StoreID: st.ID, Addr: st.Addr},
		Timeout: timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("region properties of region %d on store %d: %w", regionID, st.ID, err)
	}
	props, ok := resp.Msg.(*debugpb.GetRegionPropertiesResponse)
	if !ok {
		return nil, fmt.Errorf("region properties of region %d: response is a %T: %w", regionID, resp.Msg, kv.ErrProtocol)
	}
	out := make(map[string]string, len(props.Props))
	for _, p := range props.Props {
		out[p.Name] = p.Value
	}
	return out, nil
}
