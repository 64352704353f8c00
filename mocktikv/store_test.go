package mocktikv

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

func TestStopStartStore(t *testing.T) {
	c := Start(t, WithStores(2))
	rctx := leaderCtx(c, "a")
	id := rctx.Peer.StoreId
	addr := c.StoreAddr(id)
	before := dialStore(t, c, id)
	rawGetRPC(t, before, rctx, "a")

	noErr(t, c.StopStore(id))
	_, err := before.RawGet(timeout(t), &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("a")})
	eq(t, status.Code(err), codes.Unavailable, "open connection after stop: %v", err)
	_, err = dialStore(t, c, id).RawGet(timeout(t), &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("a")})
	eq(t, status.Code(err), codes.Unavailable, "new connection after stop: %v", err)

	req := &transport.Request{Cmd: transport.CmdRawGet, Msg: &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("a")}, Target: transport.Target{StoreID: id}}
	_, err = c.Sender().Send(context.Background(), req)
	eq(t, errors.Is(err, transport.ErrNotSent), true, "in-process send to a stopped store: %v", err)
	// Stopping twice is harmless; the other store still serves.
	noErr(t, c.StopStore(id))
	other := c.StoreIDs()[0]
	if other == id {
		other = c.StoreIDs()[1]
	}
	rctx2 := peerCtx(c, "a", other)
	rctx2.ReplicaRead = true
	if resp := rawGetRPC(t, dialStore(t, c, other), rctx2, "a"); resp.RegionError != nil {
		t.Fatalf("other store: %v", resp.RegionError)
	}

	noErr(t, c.StartStore(id))
	eq(t, c.StoreAddr(id), addr, "address after restart")
	if resp := rawGetRPC(t, dialStore(t, c, id), rctx, "a"); resp.RegionError != nil {
		t.Fatalf("after restart: %v", resp.RegionError)
	}
	resp := must(c.Sender().Send(context.Background(), req))(t)
	if r := resp.Msg.(*kvrpcpb.RawGetResponse); r.RegionError != nil {
		t.Fatalf("in-process after restart: %v", r.RegionError)
	}

	if err := c.StopStore(99); err == nil {
		t.Fatal("unknown store: want an error")
	}
}

func TestStopStoreBeforeServe(t *testing.T) {
	c := NewCluster()
	noErr(t, c.StopStore(1))
	noErr(t, c.Serve())
	defer c.Close()
	rctx := leaderCtx(c, "a")
	_, err := dialStore(t, c, 1).RawGet(timeout(t), &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("a")})
	eq(t, status.Code(err), codes.Unavailable, "stopped before Serve: %v", err)
	noErr(t, c.StartStore(1))
	rawGetRPC(t, dialStore(t, c, 1), rctx, "a")
}

func TestCloseIdempotent(t *testing.T) {
	c := NewCluster()
	c.Close() // before Serve
	if err := c.Serve(); err == nil {
		t.Fatal("Serve after Close: want an error")
	}
	c.Close()

	c = Start(t)
	c.Close()
	c.Close() // and again from t.Cleanup
}

func TestOnRequest(t *testing.T) {
	c := Start(t, WithStores(2))
	type seen struct {
		store uint64
		cmd   transport.Cmd
		retry bool
	}
	var mu sync.Mutex
	var got []seen
	c.OnRequest(func(storeID uint64, cmd transport.Cmd, req transport.Message) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, seen{storeID, cmd, cmd.Context(req).GetIsRetryRequest()})
	})

	rctx := leaderCtx(c, "a")
	follower := peerCtx(c, "a", 3-rctx.Peer.StoreId)
	// A first attempt to the follower, rejected with NotLeader, then a retry
	// to the leader: both are observed.
	resp := rawGetRPC(t, dialStore(t, c, follower.Peer.StoreId), follower, "a")
	if resp.RegionError.GetNotLeader() == nil {
		t.Fatalf("want NotLeader, got %v", resp.RegionError)
	}
	rctx.IsRetryRequest = true
	msg := &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte("a"), Value: []byte("v")}
	_ = must(c.Sender().Send(context.Background(), &transport.Request{Cmd: transport.CmdRawPut, Msg: msg, Target: transport.Target{StoreID: rctx.Peer.StoreId}}))(t)

	mu.Lock()
	defer mu.Unlock()
	want := []seen{
		{follower.Peer.StoreId, transport.CmdRawGet, false},
		{rctx.Peer.StoreId, transport.CmdRawPut, true},
	}
	eq(t, len(got), len(want), "observed requests")
	for i := range want {
		eq(t, got[i], want[i], "request %d", i)
	}
}

func TestBatchCommands(t *testing.T) {
	c := Start(t)
	var observed sync.Map
	c.OnRequest(func(_ uint64, cmd transport.Cmd, _ transport.Message) { observed.Store(cmd, true) })
	cli := dialStore(t, c, 1)
	stream := must(cli.BatchCommands(timeout(t)))(t)
	rctx := leaderCtx(c, "a")
	noErr(t, stream.Send(&tikvpb.BatchCommandsRequest{
		RequestIds: []uint64{7, 8, 9},
		Requests: []*tikvpb.BatchCommandsRequest_Request{
			{Cmd: &tikvpb.BatchCommandsRequest_Request_RawPut{RawPut: &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte("a"), Value: []byte("1")}}},
			{Cmd: &tikvpb.BatchCommandsRequest_Request_RawGet{RawGet: &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("a")}}},
			{Cmd: &tikvpb.BatchCommandsRequest_Request_Empty{Empty: &tikvpb.BatchCommandsEmptyRequest{TestId: 42}}},
		},
	}))
	got := map[uint64]*tikvpb.BatchCommandsResponse_Response{}
	for len(got) < 3 {
		resp := must(stream.Recv())(t)
		for i, id := range resp.RequestIds {
			got[id] = resp.Responses[i]
		}
	}
	eq(t, got[7].GetRawPut().GetError(), "", "put")
	// Sub-requests of one batch run concurrently, as in TiKV: the get may
	// or may not see the put.
	if v := string(got[8].GetRawGet().GetValue()); v != "" && v != "1" {
		t.Errorf("get in the same batch as the put: got %q", v)
	}
	eq(t, got[9].GetEmpty().GetTestId(), uint64(42), "empty echo")
	_, ok := observed.Load(transport.CmdRawGet)
	eq(t, ok, true, "batched RawGet observed")

	// A sub-command the store does not serve gets an empty answer under
	// its id, and the stream goes on.
	noErr(t, stream.Send(&tikvpb.BatchCommandsRequest{
		RequestIds: []uint64{10, 11},
		Requests: []*tikvpb.BatchCommandsRequest_Request{
			{Cmd: &tikvpb.BatchCommandsRequest_Request_Import{Import: &kvrpcpb.ImportRequest{}}},
			{Cmd: &tikvpb.BatchCommandsRequest_Request_RawGet{RawGet: &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("a")}}},
		},
	}))
	clear(got)
	for len(got) < 2 {
		resp := must(stream.Recv())(t)
		for i, id := range resp.RequestIds {
			got[id] = resp.Responses[i]
		}
	}
	eq(t, got[10].Cmd == nil, true, "answer to the unserved sub-command: %v", got[10])
	eq(t, string(got[11].GetRawGet().GetValue()), "1", "get after it")
}
