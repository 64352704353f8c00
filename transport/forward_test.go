package transport

import (
	"context"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"
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
	for _, batch := range []bool{false, true} {
		t.Run(map[bool]string{false: "unary", true: "batch"}[batch], func(t *testing.T) {
			s := &forwardTikv{streams: map[string]int{}}
			addr := startTikv(t, s)
			var opts []PoolOption
			if !batch {
				opts = append(opts, WithoutBatch())
			}
			p, _ := newTestPool(t, append(opts, WithConnsPerStore(2))...)
			for range 3 {
				for _, host := range []string{"", "10.0.0.1:20160", "10.0.0.2:20160"} {
					resp, err := p.Send(context.Background(), forwardedGet(addr, host))
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
