package middleware

import (
	"context"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// asyncOnly is a terminal AsyncSender whose Send fails the test: a layer
// that turns an asynchronous send into a waiting one reaches Send.
type asyncOnly struct {
	t       *testing.T
	got     *transport.Request
	respond func(*transport.Request) *transport.Response
}

func (s *asyncOnly) Send(context.Context, *transport.Request) (*transport.Response, error) {
	s.t.Fatal("the asynchronous send became synchronous")
	return nil, nil
}

func (s *asyncOnly) SendAsync(_ context.Context, req *transport.Request, cb transport.Callback) {
	s.got = req
	cb(s.respond(req), nil) // settled inline, as a fast receive loop would
}

// TestAlwaysOnLayersStayAsynchronous: the layers every Cluster chain has
// (interceptors, request source, keyspace codec, traffic accounting) pass
// an asynchronous send down as one, doing their work before it and on the
// answer, so a Pool below sends it without a goroutine.
func TestAlwaysOnLayersStayAsynchronous(t *testing.T) {
	raw, txn := codecs(t)
	term := &asyncOnly{t: t, respond: func(req *transport.Request) *transport.Response {
		return &transport.Response{Msg: &kvrpcpb.RawGetResponse{Value: []byte("v")}}
	}}
	s := transport.Chain(term,
		Interceptors(),
		TagRequestSource("default-src"),
		Keyspace(raw, txn),
		TrafficAccounting("", nil),
	)
	d := &TrafficDetails{}
	ctx := WithTrafficDetails(context.Background(), d)
	req := &transport.Request{Cmd: transport.CmdRawGet, Msg: &kvrpcpb.RawGetRequest{Context: &kvrpcpb.Context{}, Key: []byte("k")}}
	var got *transport.Response
	calls := 0
	transport.SendAsync(ctx, s, req, func(resp *transport.Response, err error) {
		calls++
		if err != nil {
			t.Fatal(err)
		}
		got = resp
	})
	if calls != 1 || got == nil {
		t.Fatalf("callback ran %d times", calls)
	}
	wire := term.got.Msg.(*kvrpcpb.RawGetRequest)
	if string(wire.Key) != string(pre(rawP, "k")) || wire.Context.GetKeyspaceId() != 1 {
		t.Fatalf("keyspace codec skipped: key %q, context %v", wire.Key, wire.Context)
	}
	if wire.Context.RequestSource != "default-src" {
		t.Fatalf("request source %q", wire.Context.RequestSource)
	}
	if d.BytesSent() == 0 || d.BytesReceived() == 0 {
		t.Fatalf("traffic not counted: sent %d received %d", d.BytesSent(), d.BytesReceived())
	}

	// An interceptor written as a plain Middleware can only wait: the
	// send still works, on a goroutine, and reaches the terminal's Send.
	waiting := func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			return next.Send(ctx, req)
		})
	}
	sync := &syncTerm{}
	s = transport.Chain(sync, Interceptors())
	done := make(chan error, 1)
	transport.SendAsync(WithInterceptors(context.Background(), waiting), s, req, func(_ *transport.Response, err error) { done <- err })
	if err := <-done; err != nil || sync.sends != 1 {
		t.Fatalf("err %v, sends %d", err, sync.sends)
	}
}

type syncTerm struct{ sends int }

func (s *syncTerm) Send(context.Context, *transport.Request) (*transport.Response, error) {
	s.sends++
	return &transport.Response{Msg: &kvrpcpb.RawGetResponse{}}, nil
}
