package otelkv_test

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
)

// BenchmarkRawGetTelemetry measures what tracing and metrics cost a raw
// Get, against mocktikv over loopback gRPC (BatchCommands) and in-process
// (no sockets: the client's and the mock's CPU only):
//
//   - none: no provider, so no layer is installed (the default);
//   - noop: OTel's no-op tracer and meter providers;
//   - sdk: the OTel SDK with every span recorded and every point
//     aggregated, but no exporter (a span processor-less tracer provider, a
//     manual reader never collected): the client's side of real telemetry;
//   - sdk-unsampled: the same with a sampler that records no trace (the
//     common production set-up samples a small share of calls);
//   - sdk-metrics: metrics only.
//
// Run: go test -run '^$' -bench RawGetTelemetry -benchmem ./middleware/otelkv/
func BenchmarkRawGetTelemetry(b *testing.B) {
	runVariants(b, []variant{
		{"none", func(*testing.B) []tikv.Option { return nil }},
		{"noop", func(*testing.B) []tikv.Option {
			return []tikv.Option{tikv.WithTracerProvider(tracenoop.NewTracerProvider()),
				tikv.WithMeterProvider(metricnoop.NewMeterProvider())}
		}},
		{"sdk", func(b *testing.B) []tikv.Option {
			tp := sdktrace.NewTracerProvider()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			b.Cleanup(func() {
				_ = tp.Shutdown(context.Background())
				_ = mp.Shutdown(context.Background())
			})
			return []tikv.Option{tikv.WithTracerProvider(tp), tikv.WithMeterProvider(mp)}
		}},
		{"sdk-unsampled", func(b *testing.B) []tikv.Option {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			b.Cleanup(func() {
				_ = tp.Shutdown(context.Background())
				_ = mp.Shutdown(context.Background())
			})
			return []tikv.Option{tikv.WithTracerProvider(tp), tikv.WithMeterProvider(mp)}
		}},
		{"sdk-metrics", func(b *testing.B) []tikv.Option {
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
			return []tikv.Option{tikv.WithMeterProvider(mp)}
		}},
	})
}

// benchGet runs sequential Gets and reports, besides time and allocations,
// the process's CPU time per Get ("cpu-ns/op": user + system, from
// getrusage; the embedded mocktikv's share included, the same in every
// variant).
func benchGet(b *testing.B, client *raw.Client) {
	ctx := context.Background()
	if err := client.Put(ctx, []byte("k"), []byte("v")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := processCPU(b)
	for b.Loop() {
		if _, err := client.Get(ctx, []byte("k")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// variant is one configuration of a Get benchmark: the Connect options it
// adds (built per run, so providers are shut down with the run).
type variant struct {
	name string
	opts func(b *testing.B) []tikv.Option
}

// benchPDEnv names an environment variable holding the PD address of a
// mocktikv (or TiKV cluster) in another process. When it is set, the gRPC
// variants run against it, so that the process's CPU and allocations are
// the client's alone, without the embedded server's:
//
//	go run ./cmd/mocktikv -stores 1 &   # prints its PD address
//	TIKVGO_BENCH_PD=127.0.0.1:2379 go test -run '^$' -bench RawGetAllBuiltins/grpc -benchmem ./middleware/otelkv/
const benchPDEnv = "TIKVGO_BENCH_PD"

// runVariants benchmarks raw Gets under each variant, over gRPC on loopback
// against mocktikv (embedded, or the one benchPDEnv names) and in-process.
func runVariants(b *testing.B, variants []variant) {
	for _, v := range variants {
		b.Run("grpc/"+v.name, func(b *testing.B) {
			pd := strings.Split(os.Getenv(benchPDEnv), ",")
			if pd[0] == "" {
				pd = mocktikv.Start(b, mocktikv.WithStores(1)).PDAddrs()
			}
			cluster, err := tikv.Connect(context.Background(), pd, v.opts(b)...)
			if err != nil {
				b.Fatal(err)
			}
			defer cluster.Close()
			benchGet(b, raw.NewClient(cluster))
		})
		b.Run("inprocess/"+v.name, func(b *testing.B) {
			mock := mocktikv.NewCluster(mocktikv.WithStores(1))
			defer mock.Close()
			opts := append([]tikv.Option{tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender())}, v.opts(b)...)
			cluster, err := tikv.Connect(context.Background(), nil, opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer cluster.Close()
			benchGet(b, raw.NewClient(cluster))
		})
	}
}
