package middleware

import (
	"context"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/tikvgo/tikv/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func tagger(name string, log *[]string) transport.Middleware {
	return func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			*log = append(*log, name)
			return next.Send(ctx, req)
		})
	}
}

func TestInterceptorsRunInAttachOrder(t *testing.T) {
	var log []string
	terminal := transport.SenderFunc(func(context.Context, *transport.Request) (*transport.Response, error) {
		log = append(log, "send")
		return &transport.Response{}, nil
	})
	s := transport.Chain(terminal, Interceptors())

	parent := WithInterceptors(context.Background(), tagger("outer", &log))
	child := WithInterceptors(parent, tagger("inner1", &log), tagger("inner2", &log))
	if _, err := s.Send(child, &transport.Request{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"outer", "inner1", "inner2", "send"}; !slices.Equal(log, want) {
		t.Fatalf("order = %v, want %v", log, want)
	}

	// Deriving a sibling from parent must not see child's interceptors.
	log = nil
	sibling := WithInterceptors(parent, tagger("sibling", &log))
	if _, err := s.Send(sibling, &transport.Request{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"outer", "sibling", "send"}; !slices.Equal(log, want) {
		t.Fatalf("sibling order = %v, want %v", log, want)
	}
	if got := len(InterceptorsFrom(parent)); got != 1 {
		t.Fatalf("parent carries %d interceptors, want 1", got)
	}
}

func TestInterceptorsPassThroughWhenNone(t *testing.T) {
	called := false
	terminal := transport.SenderFunc(func(context.Context, *transport.Request) (*transport.Response, error) {
		called = true
		return &transport.Response{}, nil
	})
	if _, err := Interceptors()(terminal).Send(context.Background(), &transport.Request{}); err != nil || !called {
		t.Fatalf("err=%v called=%v", err, called)
	}
	ctx := context.Background()
	if WithInterceptors(ctx) != ctx {
		t.Fatal("WithInterceptors with nothing must return ctx unchanged")
	}
}
