package middleware

import (
	"context"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/transport"
)

// Each attempt adds its request's encoded size to the bytes sent and its
// response's to the bytes received, cumulatively over a call's attempts;
// an attempt to a store in the client's zone adds nothing to the
// cross-zone counters, one to another zone adds the same bytes to them.
//
// ports client-go's TestNetworkCollectorOnReq and TestNetworkCollectorOnResp
// (internal/locate/metrics_collector_test.go). Their stale-read byte
// metrics have no counterpart: tikvgo exports no Prometheus counters of
// its own (observe.Observer carries the events instead).
func TestTrafficAccountingSizes(t *testing.T) {
	labels := func(id uint64) []*metapb.StoreLabel {
		return []*metapb.StoreLabel{{Key: ZoneLabelKey, Value: map[uint64]string{1: "z1", 2: "z2"}[id]}}
	}
	var answer *kvrpcpb.GetResponse
	s := transport.Chain(transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		return &transport.Response{Msg: answer}, nil
	}), TrafficAccounting("z1", labels))

	d := &TrafficDetails{}
	ctx := WithTrafficDetails(context.Background(), d)
	get := func(store uint64, msg *kvrpcpb.GetRequest, resp *kvrpcpb.GetResponse) {
		t.Helper()
		answer = resp
		if _, err := s.Send(ctx, &transport.Request{Cmd: transport.CmdGet, Msg: msg, Target: transport.Target{StoreID: store}}); err != nil {
			t.Fatal(err)
		}
	}
	req := &kvrpcpb.GetRequest{Context: &kvrpcpb.Context{BusyThresholdMs: 50}, Key: []byte("key")}
	get(1, req, &kvrpcpb.GetResponse{Value: []byte("value")})
	if d.BytesSent() != 10 || d.BytesReceived() != 7 || d.CrossZoneBytesSent() != 0 || d.CrossZoneBytesReceived() != 0 {
		t.Fatalf("local read: sent %d, received %d, cross %d/%d; want 10, 7, 0/0",
			d.BytesSent(), d.BytesReceived(), d.CrossZoneBytesSent(), d.CrossZoneBytesReceived())
	}
	stale := &kvrpcpb.GetRequest{Context: &kvrpcpb.Context{StaleRead: true}, Key: []byte("key")}
	get(1, stale, &kvrpcpb.GetResponse{Value: []byte("stale-value")})
	if d.BytesSent() != int64(10+stale.Size()) || d.BytesReceived() != 7+13 || d.CrossZoneBytesSent() != 0 {
		t.Fatalf("second local read: sent %d, received %d, cross %d; want %d, 20, 0",
			d.BytesSent(), d.BytesReceived(), d.CrossZoneBytesSent(), 10+stale.Size())
	}
	get(2, req, &kvrpcpb.GetResponse{Value: []byte("value")})
	if d.CrossZoneBytesSent() != 10 || d.CrossZoneBytesReceived() != 7 {
		t.Fatalf("read in another zone: cross %d/%d, want 10/7", d.CrossZoneBytesSent(), d.CrossZoneBytesReceived())
	}
}
