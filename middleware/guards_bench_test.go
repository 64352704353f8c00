package middleware

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// BenchmarkGuardLayers measures what the guard layers add to one attempt,
// in isolation: a RawGet attempt through request-source tagging, request
// logging, the breaker, both rate limits (never waiting) and the store-token
// limit, ending in a Sender that answers at once; "none" is the bare Sender.
//
//	go test -run '^$' -bench GuardLayers -benchmem ./middleware/
func BenchmarkGuardLayers(b *testing.B) {
	resp := &transport.Response{Msg: &kvrpcpb.RawGetResponse{}}
	terminal := transport.SenderFunc(func(context.Context, *transport.Request) (*transport.Response, error) { return resp, nil })
	guards := []transport.Middleware{
		TagRequestSource("external_bench"),
		RequestLogging(LoggingConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}),
		NewCircuitBreaker(BreakerConfig{}).Middleware(),
		RateLimit(RateLimitConfig{Rate: 1e9, StoreRate: 1e9}),
		StoreTokenLimit(1024),
	}
	for _, c := range []struct {
		name string
		mws  []transport.Middleware
	}{{"none", nil}, {"all", guards}} {
		b.Run(c.name, func(b *testing.B) {
			s := transport.Chain(terminal, c.mws...)
			req := rawGet(1)
			rc := req.Cmd.Context(req.Msg)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				rc.RequestSource = ""
				if _, err := s.Send(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
