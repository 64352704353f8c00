package mocktikv

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// TestForwardingAndClientPartition: a store cut off from the client with
// PartitionClient refuses the client's requests and health checks, over
// gRPC (tikvgo's Pool, unary and batched) and in process alike, while a
// request forwarded to it through another store (tikv-forwarded-host) is
// served by it; a forwarded host that is no store fails with Unavailable
// after reaching the proxy (a unary call's outcome is unknown), as TiKV's
// proxy drops a call it cannot pass on; HealClient lets the client in again.
func TestForwardingAndClientPartition(t *testing.T) {
	c := NewCluster(WithStores(3))
	defer c.Close()
	noErr(t, c.Serve())
	pool := transport.NewPool()
	defer pool.Close()
	unary := transport.NewPool(transport.WithoutBatch())
	defer unary.Close()
	senders := map[string]transport.Sender{"sender": c.Sender(), "batch": pool, "unary": unary}

	rctx := leaderCtx(c, "k")
	leader := rctx.GetPeer().GetStoreId()
	proxy := uint64(1)
	if leader == 1 {
		proxy = 2
	}
	put := func(s transport.Sender, to uint64, host, value string) error {
		target := transport.Target{StoreID: leader, Addr: c.StoreAddr(to), RegionID: rctx.GetRegionId(), Peer: rctx.GetPeer()}
		if host != "" {
			target.ForwardedHost, target.ProxyStoreID = host, to
		}
		resp, err := s.Send(context.Background(), &transport.Request{Cmd: transport.CmdRawPut, Target: target,
			Msg: &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte("k"), Value: []byte(value)}})
		if err == nil && resp.Msg.(*kvrpcpb.RawPutResponse).GetRegionError() != nil {
			t.Fatalf("region error %v", resp.Msg.(*kvrpcpb.RawPutResponse).GetRegionError())
		}
		return err
	}

	noErr(t, c.PartitionClient(leader))
	if err := c.Sender().(transport.HealthChecker).CheckHealth(context.Background(), c.StoreAddr(leader)); err == nil {
		t.Fatal("the cut store passes the client's health check")
	}
	for name, s := range senders {
		if err := put(s, leader, "", "direct"); status.Code(err) != codes.Unavailable {
			t.Fatalf("%s: direct put to the cut store: %v, want Unavailable", name, err)
		}
		if err := put(s, proxy, c.StoreAddr(leader), "via-"+name); err != nil {
			t.Fatalf("%s: forwarded put: %v", name, err)
		}
		resp, err := c.Sender().Send(context.Background(), &transport.Request{Cmd: transport.CmdRawGet,
			Target: transport.Target{StoreID: leader, Addr: c.StoreAddr(proxy), ForwardedHost: c.StoreAddr(leader), ProxyStoreID: proxy},
			Msg:    &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("k")}})
		noErr(t, err)
		if string(resp.Msg.(*kvrpcpb.RawGetResponse).GetValue()) != "via-"+name {
			t.Fatalf("%s: the forwarded put was not applied by the leader", name)
		}
		err = put(s, proxy, "127.0.0.1:1", "lost")
		// Batched, the stream to the unknown host fails before the request
		// is written: the Pool then knows it was not sent.
		if status.Code(err) != codes.Unavailable || (name != "batch" && errors.Is(err, transport.ErrNotSent)) {
			t.Fatalf("%s: put forwarded to an unknown host: %v, want Unavailable, possibly sent", name, err)
		}
	}
	noErr(t, c.HealClient(leader))
	for name, s := range senders {
		// The Pool reconnects after its backoff; a refused dial is never
		// sent, so trying again is safe.
		deadline := time.Now().Add(10 * time.Second)
		for err := put(s, leader, "", "healed"); err != nil; err = put(s, leader, "", "healed") {
			if !errors.Is(err, transport.ErrNotSent) || time.Now().After(deadline) {
				t.Fatalf("%s: direct put after HealClient: %v", name, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
