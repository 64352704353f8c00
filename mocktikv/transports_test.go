package mocktikv

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// via names one of the three ways a request reaches a store; tests of
// region checks and faults run over each, since all must behave alike.
type via string

const (
	viaUnary  via = "unary"  // a unary gRPC call
	viaBatch  via = "batch"  // a sub-request on a BatchCommands stream
	viaSender via = "sender" // the in-process Sender
)

var allVias = []via{viaUnary, viaBatch, viaSender}

// callVia sends req for cmd to storeID over v and returns the response or the
// error the client sees. c must be served for viaUnary and viaBatch.
func callVia(ctx context.Context, t testing.TB, c *Cluster, v via, storeID uint64, cmd transport.Cmd, req transport.Message) (transport.Message, error) {
	t.Helper()
	switch v {
	case viaSender:
		resp, err := c.Sender().Send(ctx, &transport.Request{Cmd: cmd, Msg: req, Target: transport.Target{StoreID: storeID}})
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	case viaUnary:
		conn := dialConn(t, c, storeID)
		resp := cmd.NewResponse()
		if err := conn.Invoke(ctx, cmd.FullMethod(), req, resp); err != nil {
			return nil, err
		}
		return resp, nil
	case viaBatch:
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := tikvpb.NewTikvClient(dialConn(t, c, storeID)).BatchCommands(ctx)
		if err != nil {
			return nil, err
		}
		err = stream.Send(&tikvpb.BatchCommandsRequest{
			Requests:   []*tikvpb.BatchCommandsRequest_Request{wrapBatchRequest(t, cmd, req)},
			RequestIds: []uint64{7},
		})
		if err != nil {
			return nil, err
		}
		noErr(t, stream.CloseSend())
		out, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if len(out.RequestIds) != 1 || out.RequestIds[0] != 7 || len(out.Responses) != 1 {
			t.Fatalf("batch response: got ids %v for %d responses, want [7]", out.RequestIds, len(out.Responses))
		}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("batch stream after the only response: %v, want EOF", err)
		}
		return unwrapBatchResponse(out.Responses[0]), nil
	}
	t.Fatalf("unknown transport %q", v)
	return nil, nil
}

// skipWithoutMethod skips a unary subtest whose command has no gRPC method
// yet (its engine is not registered); BatchCommands and the Sender reach
// the handlers' table regardless.
func skipWithoutMethod(t testing.TB, v via, cmd transport.Cmd, err error) {
	t.Helper()
	if v == viaUnary && status.Code(err) == codes.Unimplemented {
		t.Skipf("%s has no gRPC method yet: %v", cmd, err)
	}
}

// dialConn opens a connection to a served store, closed with the test.
func dialConn(t testing.TB, c *Cluster, storeID uint64) *grpc.ClientConn {
	t.Helper()
	conn := must(grpc.NewClient(c.StoreAddr(storeID), grpc.WithTransportCredentials(insecure.NewCredentials())))(t)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// rawGetVia is a RawGet of key over v, failing the test on an RPC error.
func rawGetVia(t testing.TB, c *Cluster, v via, storeID uint64, rctx *kvrpcpb.Context, key string) *kvrpcpb.RawGetResponse {
	t.Helper()
	resp, err := callVia(context.Background(), t, c, v, storeID, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte(key)})
	noErr(t, err)
	return resp.(*kvrpcpb.RawGetResponse)
}

// rawPutVia is a RawPut over v; it returns the response or the RPC error.
func rawPutVia(ctx context.Context, t testing.TB, c *Cluster, v via, rctx *kvrpcpb.Context, key, value string) (*kvrpcpb.RawPutResponse, error) {
	t.Helper()
	resp, err := callVia(ctx, t, c, v, rctx.GetPeer().GetStoreId(), transport.CmdRawPut, &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte(key), Value: []byte(value)})
	if err != nil {
		return nil, err
	}
	return resp.(*kvrpcpb.RawPutResponse), nil
}

// hasValue reports whether key holds value, read from the engine through the
// leader.
func hasValue(t testing.TB, c *Cluster, key, value string) bool {
	t.Helper()
	resp := rawGetVia(t, c, viaSender, leaderCtx(c, key).Peer.StoreId, leaderCtx(c, key), key)
	return !resp.NotFound && string(resp.Value) == value
}
