package mocktikv

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/pdpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestGetMinTS: PD's GetMinTS over gRPC and in process answers a fresh
// timestamp of the one TSO (mocktikv has no TSO keyspace groups): above
// one allocated before, below one allocated after.
func TestGetMinTS(t *testing.T) {
	c := Start(t, WithStores(1))
	conn := must(grpc.NewClient(c.PDAddrs()[0], grpc.WithTransportCredentials(insecure.NewCredentials())))(t)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pd := pdpb.NewPDClient(conn)
	local := c.PD().(localPD)
	ts := func() uint64 {
		p, l := must2(local.GetTS(ctx))(t)
		return uint64(p)<<18 | uint64(l)
	}
	before := ts()
	resp := must(pd.GetMinTS(ctx, &pdpb.GetMinTSRequest{Header: &pdpb.RequestHeader{ClusterId: c.ClusterID()}}))(t)
	if resp.GetHeader().GetError() != nil {
		t.Fatalf("GetMinTS: %v", resp.Header.Error)
	}
	grpcMin := uint64(resp.GetTimestamp().GetPhysical())<<18 | uint64(resp.GetTimestamp().GetLogical())
	p, l := must2(local.GetMinTS(ctx))(t)
	localMin := uint64(p)<<18 | uint64(l)
	after := ts()
	if !(before < grpcMin && grpcMin < localMin && localMin < after) {
		t.Fatalf("before %d, gRPC min %d, in-process min %d, after %d: want strictly increasing", before, grpcMin, localMin, after)
	}
}
