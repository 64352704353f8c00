package tikv_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
)

// BenchmarkRawGetGuards measures one caller's raw Get over loopback gRPC
// (BatchCommands) with the guard layers off, and on: per-store circuit
// breaker, client-wide and per-store rate limits set high enough never to
// wait, a store-token limit, request-source tagging and request logging.
// The server runs in the same process, so allocs/op include its work.
//
//	go test -run '^$' -bench RawGetGuards -benchmem -count 5 .
func BenchmarkRawGetGuards(b *testing.B) {
	guards := []tikv.Option{
		tikv.WithCircuitBreaker(middleware.BreakerConfig{}),
		tikv.WithRateLimit(middleware.RateLimitConfig{Rate: 1e9, StoreRate: 1e9}),
		tikv.WithStoreTokenLimit(1024),
		tikv.WithRequestSource(middleware.RequestSource{Type: "bench"}),
		tikv.WithRequestLogging(middleware.LoggingConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}),
	}
	for _, mode := range []struct {
		name string
		opts []tikv.Option
	}{
		{"off", nil},
		{"on", guards},
	} {
		b.Run(mode.name, func(b *testing.B) {
			mock := mocktikv.Start(b, mocktikv.WithStores(3))
			cluster, err := tikv.Connect(context.Background(), mock.PDAddrs(), mode.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer cluster.Close()
			client := raw.NewClient(cluster)
			ctx := context.Background()
			keys := make([][]byte, 64)
			for i := range keys {
				keys[i] = fmt.Appendf(nil, "key%03d", i)
				if err := client.Put(ctx, keys[i], []byte("value")); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := client.Get(ctx, keys[i%len(keys)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
