package transport

import (
	"context"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// forwardTikv answers RawGet with the tikv-forwarded-host its call (or its
// BatchCommands stream) carried, and counts the streams opened per host.
type forwardTikv struct {
	tikvpb.UnimplementedTikvServer
	mu      sync.Mutex
	streams map[string]int
	unary   []string
}

func hostOf(ctx context.Context) string {
	if v := metadata.ValueFromIncomingContext(ctx, ForwardedHostKey); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (s *forwardTikv) RawGet(ctx context.Context, _ *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	s.mu.Lock()
	s.unary = append(s.unary, hostOf(ctx))
	s.mu.Unlock()
	return &kvrpcpb.RawGetResponse{Value: []byte(hostOf(ctx))}, nil
}

func (s *forwardTikv) BatchCommands(stream tikvpb.Tikv_BatchCommandsServer) error {
	host := hostOf(stream.Context())
	s.mu.Lock()
	s.streams[host]++
	s.mu.Unlock()
	return serveBatchStream(stream, func(_ context.Context, cmd Cmd, _ Message) (Message, error) {
		return &kvrpcpb.RawGetResponse{Value: []byte(host)}, nil
	}, false, nil)
}

func forwardedGet(addr, host string) *Request {
	return &Request{Cmd: CmdRawGet, Msg: &kvrpcpb.RawGetRequest{Context: &kvrpcpb.Context{}, Key: []byte("k")},
		Target: Target{Addr: addr, ForwardedHost: host}}
}

// TestForwardedHostMetadata ports client-go's TestForwardMetadataByUnaryCall
// and TestForwardMetadataByBatchCommands (internal/client/client_test.go): a
// request with a forwarded host carries it as tikv-forwarded-host metadata,
// on a unary call and on the BatchCommands stream it travels in; batched
// requests for different forwarded hosts (and none) use streams of their
// own, opened once per host and connection, never mixed.
func TestForwardedHostMetadata(t *testing.T) {
	for _, mode := range []struct {
		name         string
		batch, async bool
	}{{"unary", false, false}, {"batch", true, false}, {"unary-async", false, true}, {"batch-async", true, true}} {
		batch := mode.batch
		send := func(p *Pool, req *Request) (*Response, error) {
			if !mode.async {
				return p.Send(context.Background(), req)
			}
			// SendAsync must pick the forwarded host's stream too.
			type result struct {
				resp *Response
				err  error
			}
			done := make(chan result, 1)
			p.SendAsync(context.Background(), req, func(r *Response, err error) { done <- result{r, err} })
			r := <-done
			return r.resp, r.err
		}
		t.Run(mode.name, func(t *testing.T) {
			s := &forwardTikv{streams: map[string]int{}}
			addr := startTikv(t, s)
			var opts []PoolOption
			if !batch {
				opts = append(opts, WithoutBatch())
			}
			p, _ := newTestPool(t, append(opts, WithConnsPerStore(2))...)
			for range 3 {
				for _, host := range []string{"", "10.0.0.1:20160", "10.0.0.2:20160"} {
					resp, err := send(p, forwardedGet(addr, host))
					require.NoError(t, err)
					require.Equal(t, host, string(resp.Msg.(*kvrpcpb.RawGetResponse).Value))
				}
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if !batch {
				require.Len(t, s.unary, 9)
				require.Empty(t, s.streams)
				return
			}
			require.Empty(t, s.unary)
			// One stream per connection (2) for each forwarded host.
			require.Equal(t, map[string]int{"": 2, "10.0.0.1:20160": 2, "10.0.0.2:20160": 2}, s.streams)
		})
	}
}

// breakingTikv holds the RawGets of the stream without a forwarded host
// until release is closed, and breaks every stream for host "broken" at its
// first request.
type breakingTikv struct {
	tikvpb.UnimplementedTikvServer
	release chan struct{}
	held    chan struct{} // one token per held request
	mu      sync.Mutex
	opened  map[string]int
}

func (s *breakingTikv) BatchCommands(stream tikvpb.Tikv_BatchCommandsServer) error {
	host := hostOf(stream.Context())
	s.mu.Lock()
	s.opened[host]++
	s.mu.Unlock()
	return serveBatchStream(stream, func(ctx context.Context, cmd Cmd, _ Message) (Message, error) {
		if cmd == CmdRawGet && host == "" {
			s.held <- struct{}{}
			<-s.release
		}
		return &kvrpcpb.RawGetResponse{Value: []byte(host)}, nil
	}, false, func(req *tikvpb.BatchCommandsRequest) error {
		if host == "broken" && len(req.Requests) > 0 {
			if _, ok := req.Requests[0].Cmd.(*tikvpb.BatchCommandsRequest_Request_RawGet); ok {
				return status.Error(codes.Unavailable, "test: forwarded stream broken")
			}
		}
		return nil
	})
}

// TestForwardedStreamBreaksAlone: the streams for a forwarded host are their
// own (client-go scopes failPendingRequests to the forwarded host of the
// stream that broke, client_batch.go): when the stream that forwards to one
// host breaks, only its requests fail; a request in flight on the same
// connection's own stream still gets its answer, and requests forwarded to
// another host still go through. (client-go then re-creates every stream of
// the connection once, TestRecvErrorInMultipleRecvLoops; here each stream
// reconnects on its own, so only the broken one is opened again.)
func TestForwardedStreamBreaksAlone(t *testing.T) {
	s := &breakingTikv{release: make(chan struct{}), held: make(chan struct{}, 1), opened: map[string]int{}}
	addr := startTikv(t, s)
	p, _ := newTestPool(t, WithConnsPerStore(1))

	direct := sendAsync(context.Background(), p, forwardedGet(addr, ""))
	<-s.held // in flight on the stream without a forwarded host

	_, err := p.Send(context.Background(), forwardedGet(addr, "broken"))
	require.Error(t, err)
	require.Equal(t, codes.Unavailable, status.Code(err))

	resp, err := p.Send(context.Background(), forwardedGet(addr, "other"))
	require.NoError(t, err)
	require.Equal(t, "other", string(resp.Msg.(*kvrpcpb.RawGetResponse).Value))

	close(s.release)
	r := <-direct
	require.NoError(t, r.err)
	require.Equal(t, "", string(r.resp.Msg.(*kvrpcpb.RawGetResponse).Value))

	s.mu.Lock()
	defer s.mu.Unlock()
	require.Equal(t, 1, s.opened[""], "the direct stream was never re-opened")
	require.Equal(t, 1, s.opened["other"])
}
