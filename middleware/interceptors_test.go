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

// TestNamedInterceptorsDeduplicate ports client-go's
// TestAppendChainedInterceptor: chaining keeps attach order, and attaching
// a name again moves that interceptor to the innermost place.
func TestNamedInterceptorsDeduplicate(t *testing.T) {
	var log []string
	terminal := transport.SenderFunc(func(context.Context, *transport.Request) (*transport.Response, error) {
		return &transport.Response{}, nil
	})
	s := Interceptors()(terminal)
	run := func(ctx context.Context) []string {
		log = nil
		if _, err := s.Send(ctx, &transport.Request{}); err != nil {
			t.Fatal(err)
		}
		return log
	}
	ctx := context.Background()
	for _, n := range []string{"0", "1", "2", "3", "4"} {
		ctx = WithNamedInterceptor(ctx, n, tagger(n, &log))
	}
	if got := run(ctx); !slices.Equal(got, []string{"0", "1", "2", "3", "4"}) {
		t.Fatalf("order = %v", got)
	}
	again := WithNamedInterceptor(ctx, "1", tagger("1", &log))
	if got := run(again); !slices.Equal(got, []string{"0", "2", "3", "4", "1"}) {
		t.Fatalf("after re-attaching 1: %v, want [0 2 3 4 1]", got)
	}
	if got := len(InterceptorsFrom(again)); got != 5 {
		t.Fatalf("%d interceptors, want 5", got)
	}
	// The parent context is unchanged.
	if got := run(ctx); !slices.Equal(got, []string{"0", "1", "2", "3", "4"}) {
		t.Fatalf("parent order changed: %v", got)
	}
	// Anonymous interceptors are never de-duplicated.
	anon := WithInterceptors(again, tagger("x", &log), tagger("x", &log))
	if got := run(anon); !slices.Equal(got, []string{"0", "2", "3", "4", "1", "x", "x"}) {
		t.Fatalf("anonymous: %v", got)
	}
}
