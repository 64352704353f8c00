package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// batchHandler answers one sub-request of a BatchCommands stream.
type batchHandler func(ctx context.Context, cmd Cmd, msg Message) (Message, error)

// serveBatchStream is a test server's BatchCommands: it decodes each
// sub-request with UnwrapBatchRequest and answers it through handle. With
// inline set, a whole batch is answered in one response, in order, as TiKV
// does for fast commands; otherwise each sub-request runs in its own
// goroutine and is answered alone, so that a handler that blocks holds only
// its own request. observe, when set, sees every batch first and may end
// the stream by returning an error.
func serveBatchStream(stream tikvpb.Tikv_BatchCommandsServer, handle batchHandler, inline bool,
	observe func(*tikvpb.BatchCommandsRequest) error) error {
	ctx := stream.Context()
	var (
		sendMu sync.Mutex
		wg     sync.WaitGroup
	)
	defer wg.Wait()
	send := func(resp *tikvpb.BatchCommandsResponse) {
		sendMu.Lock()
		defer sendMu.Unlock()
		_ = stream.Send(resp)
	}
	answer := func(id uint64, cmd Cmd, msg Message) *tikvpb.BatchCommandsResponse_Response {
		resp, err := handle(ctx, cmd, msg)
		if err != nil {
			return nil
		}
		return cmd.WrapBatchResponse(resp)
	}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if observe != nil {
			if err := observe(req); err != nil {
				return err
			}
		}
		out := &tikvpb.BatchCommandsResponse{}
		for i, sub := range req.Requests {
			id := req.RequestIds[i]
			if empty := sub.GetEmpty(); empty != nil {
				out.Responses = append(out.Responses, emptyResponse(empty))
				out.RequestIds = append(out.RequestIds, id)
				continue
			}
			cmd, msg, ok := UnwrapBatchRequest(sub)
			if !ok {
				return status.Errorf(codes.Unimplemented, "sub-request %T", sub.Cmd)
			}
			if inline {
				if r := answer(id, cmd, msg); r != nil {
					out.Responses = append(out.Responses, r)
					out.RequestIds = append(out.RequestIds, id)
				}
				continue
			}
			wg.Go(func() {
				if r := answer(id, cmd, msg); r != nil {
					send(&tikvpb.BatchCommandsResponse{Responses: []*tikvpb.BatchCommandsResponse_Response{r}, RequestIds: []uint64{id}})
				}
			})
		}
		if len(out.RequestIds) > 0 {
			send(out)
		}
	}
}

// emptyResponse echoes an Empty probe, as TiKV does.
func emptyResponse(r *tikvpb.BatchCommandsEmptyRequest) *tikvpb.BatchCommandsResponse_Response {
	return &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_Empty{
		Empty: &tikvpb.BatchCommandsEmptyResponse{TestId: r.TestId},
	}}
}

// handleUnary routes a sub-request to fakeTikv's unary handlers.
func (s *fakeTikv) handleUnary(ctx context.Context, cmd Cmd, msg Message) (Message, error) {
	switch cmd {
	case CmdRawGet:
		return s.RawGet(ctx, msg.(*kvrpcpb.RawGetRequest))
	case CmdRawPut:
		return s.RawPut(ctx, msg.(*kvrpcpb.RawPutRequest))
	}
	return nil, status.Errorf(codes.Unimplemented, "%s", cmd)
}

// BatchCommands makes fakeTikv serve the Pool's default path with the same
// handlers (and gate) as its unary calls.
func (s *fakeTikv) BatchCommands(stream tikvpb.Tikv_BatchCommandsServer) error {
	return serveBatchStream(stream, s.handleUnary, false, nil)
}

// batchTikv is a fakeTikv that also records what arrives by which path and
// can misbehave on its BatchCommands streams.
type batchTikv struct {
	*fakeTikv
	inline bool

	streams     atomic.Int64 // BatchCommands streams opened
	unaryGets   atomic.Int64 // RawGet unary calls
	unaryTTLs   atomic.Int64 // RawGetKeyTTL unary calls
	batchedSubs atomic.Int64 // sub-requests received on streams

	mu      sync.Mutex
	sizes   []int      // size of each BatchCommandsRequest
	ids     [][]uint64 // request ids, per stream
	arrived []string   // keys of sub-requests, in arrival order

	// swallow: sub-requests are recorded and never answered; each one is
	// announced on swallowed, and abort ends the stream with Unavailable.
	swallow   atomic.Bool
	swallowed chan uint64
	abort     chan struct{}
	// bogusID, when set, is answered before every real response.
	bogusID atomic.Uint64
	// load, when set, is reported as transport_layer_load in every
	// response.
	load atomic.Uint64
	// feedback, when set, is attached as health_feedback to every
	// response.
	feedback atomic.Pointer[kvrpcpb.HealthFeedback]
}

// loadStream stamps the server's load, and its health feedback if set, on
// every response.
type loadStream struct {
	tikvpb.Tikv_BatchCommandsServer
	load     *atomic.Uint64
	feedback *atomic.Pointer[kvrpcpb.HealthFeedback]
}

func (s loadStream) Send(resp *tikvpb.BatchCommandsResponse) error {
	resp.TransportLayerLoad = s.load.Load()
	resp.HealthFeedback = s.feedback.Load()
	return s.Tikv_BatchCommandsServer.Send(resp)
}

func newBatchTikv() *batchTikv {
	return &batchTikv{
		fakeTikv:  &fakeTikv{},
		swallowed: make(chan uint64, 1024),
		abort:     make(chan struct{}, 1),
	}
}

func (s *batchTikv) RawGet(ctx context.Context, req *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	s.unaryGets.Add(1)
	return s.fakeTikv.RawGet(ctx, req)
}

func (s *batchTikv) RawGetKeyTTL(ctx context.Context, req *kvrpcpb.RawGetKeyTTLRequest) (*kvrpcpb.RawGetKeyTTLResponse, error) {
	s.unaryTTLs.Add(1)
	return &kvrpcpb.RawGetKeyTTLResponse{Ttl: 7}, nil
}

func (s *batchTikv) BatchCommands(stream tikvpb.Tikv_BatchCommandsServer) error {
	s.streams.Add(1)
	s.mu.Lock()
	s.ids = append(s.ids, nil)
	streamNo := len(s.ids) - 1
	s.mu.Unlock()

	if s.swallow.Load() {
		return s.swallowStream(stream)
	}
	stream = loadStream{stream, &s.load, &s.feedback}
	handle := s.fakeTikv.handleUnary
	if bogus := s.bogusID.Load(); bogus != 0 {
		handle = func(ctx context.Context, cmd Cmd, msg Message) (Message, error) {
			_ = stream.Send(&tikvpb.BatchCommandsResponse{
				Responses:  []*tikvpb.BatchCommandsResponse_Response{cmd.WrapBatchResponse(cmd.NewResponse())},
				RequestIds: []uint64{bogus},
			})
			return s.fakeTikv.handleUnary(ctx, cmd, msg)
		}
	}
	return serveBatchStream(stream, handle, s.inline, func(req *tikvpb.BatchCommandsRequest) error {
		s.record(streamNo, req)
		return nil
	})
}

// record notes a batch; the client's Empty probes do not count.
func (s *batchTikv) record(streamNo int, req *tikvpb.BatchCommandsRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[streamNo] = append(s.ids[streamNo], req.RequestIds...)
	n := 0
	for _, sub := range req.Requests {
		if sub.GetEmpty() == nil {
			n++
		}
	}
	if n == 0 {
		return
	}
	s.batchedSubs.Add(int64(n))
	s.sizes = append(s.sizes, n)
	for _, sub := range req.Requests {
		switch {
		case sub.GetRawGet() != nil:
			s.arrived = append(s.arrived, string(sub.GetRawGet().Key))
		case sub.GetRawPut() != nil:
			s.arrived = append(s.arrived, string(sub.GetRawPut().Key))
		}
	}
}

func (s *batchTikv) swallowStream(stream tikvpb.Tikv_BatchCommandsServer) error {
	reqs := make(chan *tikvpb.BatchCommandsRequest)
	recvErr := make(chan error, 1)
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case reqs <- req:
			case <-stream.Context().Done():
				recvErr <- stream.Context().Err()
				return
			}
		}
	}()
	for {
		select {
		case req := <-reqs:
			for i, id := range req.RequestIds {
				if empty := req.Requests[i].GetEmpty(); empty != nil {
					_ = stream.Send(&tikvpb.BatchCommandsResponse{
						Responses:  []*tikvpb.BatchCommandsResponse_Response{emptyResponse(empty)},
						RequestIds: []uint64{id},
					})
					continue
				}
				s.batchedSubs.Add(1)
				s.swallowed <- id
			}
		case <-s.abort:
			return status.Error(codes.Unavailable, "injected stream failure")
		case err := <-recvErr:
			return err
		}
	}
}

func (s *batchTikv) batchSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.sizes...)
}

func (s *batchTikv) arrivals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.arrived...)
}

// startTikv serves srv on 127.0.0.1 until the test ends and returns its
// address.
func startTikv(t testing.TB, srv tikvpb.TikvServer) string {
	addr, _ := startTikvServer(t, srv)
	return addr
}

// startTikvServer is startTikv that also returns the server, to stop it.
func startTikvServer(t testing.TB, srv tikvpb.TikvServer) (string, *grpc.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer()
	tikvpb.RegisterTikvServer(gs, srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(lis)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})
	return lis.Addr().String(), gs
}
