package mocktikv

import (
	"context"
	"fmt"
	"reflect"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// handler executes one command on one store. It returns the command's
// response message, or an error that becomes the RPC's gRPC status (TiKV
// reports region and key failures inside the response; gRPC errors are
// reserved for cluster-id mismatches and unimplemented commands).
type handler func(c *Cluster, storeID uint64, req transport.Message) transport.Message

// typed adapts a command's function to a handler.
func typed[Req, Resp transport.Message](f func(*Cluster, uint64, Req) Resp) handler {
	return func(c *Cluster, storeID uint64, req transport.Message) transport.Message {
		return f(c, storeID, req.(Req))
	}
}

// handlers is the command table the gRPC service and the in-process Sender
// share. Commands absent from it answer codes.Unimplemented.
var handlers = map[transport.Cmd]handler{
	transport.CmdRawGet:         typed((*Cluster).rawGet),
	transport.CmdRawBatchGet:    typed((*Cluster).rawBatchGet),
	transport.CmdRawPut:         typed((*Cluster).rawPut),
	transport.CmdRawBatchPut:    typed((*Cluster).rawBatchPut),
	transport.CmdRawDelete:      typed((*Cluster).rawDelete),
	transport.CmdRawBatchDelete: typed((*Cluster).rawBatchDelete),
	transport.CmdRawScan:        typed((*Cluster).rawScan),
	transport.CmdRawDeleteRange: typed((*Cluster).rawDeleteRange),
}

// handle serves one request that reached storeID: it notifies observers,
// applies the service-level cluster-id check and runs the command.
func (c *Cluster) handle(storeID uint64, cmd transport.Cmd, req transport.Message) (transport.Message, error) {
	if !cmd.Valid() {
		return nil, status.Errorf(codes.Unimplemented, "mocktikv: unknown command %d", uint16(cmd))
	}
	c.observers.notify(storeID, cmd, req)
	h, ok := handlers[cmd]
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "mocktikv: %s is not implemented", cmd)
	}
	if cmd.HasContext() {
		if err := c.checkClusterID(cmd.Context(req)); err != nil {
			return nil, err
		}
	}
	return h(c, storeID, req), nil
}

// tikvService is one store's tikvpb.Tikv gRPC service.
type tikvService struct {
	tikvpb.UnimplementedTikvServer
	c       *Cluster
	storeID uint64
}

// serve runs cmd for a gRPC call and returns its typed response.
func serve[Resp transport.Message](s *tikvService, cmd transport.Cmd, req transport.Message) (Resp, error) {
	var zero Resp
	resp, err := s.c.handle(s.storeID, cmd, req)
	if err != nil {
		return zero, err
	}
	typedResp, ok := resp.(Resp)
	if !ok {
		return zero, status.Errorf(codes.Internal, "mocktikv: %s produced %T", cmd, resp)
	}
	return typedResp, nil
}

func (s *tikvService) RawGet(_ context.Context, req *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	return serve[*kvrpcpb.RawGetResponse](s, transport.CmdRawGet, req)
}

func (s *tikvService) RawBatchGet(_ context.Context, req *kvrpcpb.RawBatchGetRequest) (*kvrpcpb.RawBatchGetResponse, error) {
	return serve[*kvrpcpb.RawBatchGetResponse](s, transport.CmdRawBatchGet, req)
}

func (s *tikvService) RawPut(_ context.Context, req *kvrpcpb.RawPutRequest) (*kvrpcpb.RawPutResponse, error) {
	return serve[*kvrpcpb.RawPutResponse](s, transport.CmdRawPut, req)
}

func (s *tikvService) RawBatchPut(_ context.Context, req *kvrpcpb.RawBatchPutRequest) (*kvrpcpb.RawBatchPutResponse, error) {
	return serve[*kvrpcpb.RawBatchPutResponse](s, transport.CmdRawBatchPut, req)
}

func (s *tikvService) RawDelete(_ context.Context, req *kvrpcpb.RawDeleteRequest) (*kvrpcpb.RawDeleteResponse, error) {
	return serve[*kvrpcpb.RawDeleteResponse](s, transport.CmdRawDelete, req)
}

func (s *tikvService) RawBatchDelete(_ context.Context, req *kvrpcpb.RawBatchDeleteRequest) (*kvrpcpb.RawBatchDeleteResponse, error) {
	return serve[*kvrpcpb.RawBatchDeleteResponse](s, transport.CmdRawBatchDelete, req)
}

func (s *tikvService) RawScan(_ context.Context, req *kvrpcpb.RawScanRequest) (*kvrpcpb.RawScanResponse, error) {
	return serve[*kvrpcpb.RawScanResponse](s, transport.CmdRawScan, req)
}

func (s *tikvService) RawDeleteRange(_ context.Context, req *kvrpcpb.RawDeleteRangeRequest) (*kvrpcpb.RawDeleteRangeResponse, error) {
	return serve[*kvrpcpb.RawDeleteRangeResponse](s, transport.CmdRawDeleteRange, req)
}

// Sender returns the in-process TiKV: a transport.Sender that delivers each
// request to the store named by req.Target.StoreID and runs exactly the
// handler that store's gRPC server runs. A request to a stopped or unknown
// store fails with an error wrapping transport.ErrNotSent; so does one whose
// ctx is already done. An unimplemented command fails with a gRPC status
// error (codes.Unimplemented), as over the wire. It is safe for concurrent
// use and works without Serve.
func (c *Cluster) Sender() transport.Sender {
	return transport.SenderFunc(c.send)
}

func (c *Cluster) send(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", transport.ErrNotSent, err)
	}
	id := req.Target.StoreID
	c.mu.RLock()
	st, ok := c.stores[id]
	down := ok && st.stopped
	c.mu.RUnlock()
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: store %d does not exist", transport.ErrNotSent, id)
	case down:
		return nil, fmt.Errorf("%w: store %d is down", transport.ErrNotSent, id)
	case req.Msg == nil:
		return nil, fmt.Errorf("%w: %s request has no message", transport.ErrNotSent, req.Cmd)
	}
	if req.Cmd.Valid() {
		if want := req.Cmd.NewRequest(); reflect.TypeOf(want) != reflect.TypeOf(req.Msg) {
			return nil, fmt.Errorf("%w: %s request is a %T, want %T", transport.ErrNotSent, req.Cmd, req.Msg, want)
		}
	}
	resp, err := c.handle(id, req.Cmd, req.Msg)
	if err != nil {
		return nil, err
	}
	return &transport.Response{Msg: resp}, nil
}
