package transport

import (
	"context"
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"
)

// recordingMiddleware appends "name>" on the way in and "<name" on the way
// out, so a trace shows the nesting order.
func recordingMiddleware(name string, trace *[]string) Middleware {
	return func(next Sender) Sender {
		return SenderFunc(func(ctx context.Context, req *Request) (*Response, error) {
			*trace = append(*trace, name+">")
			resp, err := next.Send(ctx, req)
			*trace = append(*trace, "<"+name)
			return resp, err
		})
	}
}

func TestChainOrder(t *testing.T) {
	var trace []string
	terminal := SenderFunc(func(context.Context, *Request) (*Response, error) {
		trace = append(trace, "send")
		return &Response{Msg: &kvrpcpb.RawGetResponse{}}, nil
	})
	s := Chain(terminal,
		recordingMiddleware("a", &trace),
		nil,
		recordingMiddleware("b", &trace),
		recordingMiddleware("c", &trace),
		nil,
	)
	_, err := s.Send(context.Background(), &Request{Cmd: CmdRawGet})
	require.NoError(t, err)
	require.Equal(t, []string{"a>", "b>", "c>", "send", "<c", "<b", "<a"}, trace)
}

func TestChainNoMiddleware(t *testing.T) {
	calls := 0
	terminal := SenderFunc(func(context.Context, *Request) (*Response, error) {
		calls++
		return nil, nil
	})
	for _, s := range []Sender{Chain(terminal), Chain(terminal, nil, nil)} {
		_, err := s.Send(context.Background(), &Request{})
		require.NoError(t, err)
	}
	require.Equal(t, 2, calls)
}

func TestChainMiddlewareCanRefuse(t *testing.T) {
	errRefused := errors.New("refused")
	reached := false
	terminal := SenderFunc(func(context.Context, *Request) (*Response, error) {
		reached = true
		return nil, nil
	})
	refuse := func(Sender) Sender {
		return SenderFunc(func(context.Context, *Request) (*Response, error) { return nil, errRefused })
	}
	_, err := Chain(terminal, refuse).Send(context.Background(), &Request{})
	require.ErrorIs(t, err, errRefused)
	require.False(t, reached)
}

type ctxKey struct{}

func TestSenderFunc(t *testing.T) {
	want := &Response{Msg: &kvrpcpb.RawGetResponse{Value: []byte("v")}}
	wantErr := errors.New("boom")
	req := &Request{Cmd: CmdRawGet, Target: Target{Addr: "a:1"}}
	ctx := context.WithValue(context.Background(), ctxKey{}, "carried")

	var gotReq *Request
	var gotVal any
	f := SenderFunc(func(ctx context.Context, r *Request) (*Response, error) {
		gotReq, gotVal = r, ctx.Value(ctxKey{})
		return want, wantErr
	})
	var s Sender = f
	resp, err := s.Send(ctx, req)
	require.Same(t, want, resp)
	require.Same(t, wantErr, err)
	require.Same(t, req, gotReq)
	require.Equal(t, "carried", gotVal)
}
