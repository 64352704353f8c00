package middleware

import (
	"context"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// TestRequestSourceString ports client-go's util/request_source_test.go
// (TestGetRequestSource): the label is scope, type, then the explicit type
// when it differs; "unknown" when no type is set.
func TestRequestSourceString(t *testing.T) {
	cases := []struct {
		src  RequestSource
		want string
	}{
		{RequestSource{Internal: true, Type: "test", ExplicitType: "lightning"}, "internal_test_lightning"},
		{RequestSource{Type: "test", ExplicitType: "lightning"}, "external_test_lightning"},
		{RequestSource{}, "unknown"},
		{RequestSource{Internal: true}, "unknown"},
		{RequestSource{Type: "test"}, "external_test"},
		{RequestSource{ExplicitType: "lightning"}, "external_unknown_lightning"},
		{RequestSource{Internal: true, Type: "gc", ExplicitType: "gc"}, "internal_gc"},
	}
	for _, c := range cases {
		if got := c.src.String(); got != c.want {
			t.Errorf("%+v.String() = %q, want %q", c.src, got, c.want)
		}
	}
	if !IsInternal("internal_gc") || IsInternal("external_test") || IsInternal("unknown") {
		t.Error("IsInternal misjudges")
	}
}

// TestTagRequestSource: the call's own source wins, then the context's,
// then the client default; a command without a kvrpcpb.Context passes
// untouched.
func TestTagRequestSource(t *testing.T) {
	var seen string
	terminal := transport.SenderFunc(func(_ context.Context, req *transport.Request) (*transport.Response, error) {
		seen = ""
		if rc := req.Cmd.Context(req.Msg); rc != nil {
			seen = rc.RequestSource
		}
		return &transport.Response{}, nil
	})
	s := transport.Chain(terminal, TagRequestSource("external_app"))
	bg := context.Background()
	tagged := WithRequestSource(bg, RequestSource{Internal: true, Type: "gc"})

	send := func(ctx context.Context, req *transport.Request) string {
		t.Helper()
		if _, err := s.Send(ctx, req); err != nil {
			t.Fatal(err)
		}
		return seen
	}
	if got := send(bg, rawGet(1)); got != "external_app" {
		t.Errorf("default: %q, want external_app", got)
	}
	if got := send(tagged, rawGet(1)); got != "internal_gc" {
		t.Errorf("ctx source: %q, want internal_gc", got)
	}
	own := rawGet(1)
	own.Cmd.Context(own.Msg).RequestSource = "external_mine"
	if got := send(tagged, own); got != "external_mine" {
		t.Errorf("call's own source: %q, want it kept", got)
	}
	if src, ok := RequestSourceFrom(tagged); !ok || src != "internal_gc" {
		t.Errorf("RequestSourceFrom = %q, %v", src, ok)
	}
	// GetStoreSafeTS carries no kvrpcpb.Context: nothing to tag, and the
	// layer must not fail on it.
	noCtx := &transport.Request{Cmd: transport.CmdStoreSafeTS, Msg: &kvrpcpb.StoreSafeTSRequest{}}
	if transport.CmdStoreSafeTS.HasContext() {
		t.Fatal("GetStoreSafeTS has a Context; pick another command for this case")
	}
	if got := send(tagged, noCtx); got != "" {
		t.Errorf("command without a Context: %q", got)
	}
	plain := transport.Chain(terminal, TagRequestSource(""))
	if _, err := plain.Send(bg, rawGet(1)); err != nil || seen != "" {
		t.Errorf("no default, no ctx source: %q, %v; want it left empty", seen, err)
	}
}
