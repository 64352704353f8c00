package otelkv_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
)

// dropExporter is a span exporter that drops every span: the SDK does all
// its work (sampling, recording, ending, handing the span over) and the
// export costs nothing, as issue #11's "no-op exporters" asks.
type dropExporter struct{}

func (dropExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (dropExporter) Shutdown(context.Context) error                             { return nil }

// allBuiltins returns the options that turn on every built-in layer: the
// OTel SDK's tracer (default sampler, a synchronous processor into a
// dropping exporter) and meter (a manual reader never collected), the
// circuit breaker, rate limits too high to wait, a store token limit too
// high to wait, request logging (to io.Discard), a request source and
// resource control in the default resource group (unlimited).
func allBuiltins(b *testing.B) []tikv.Option {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(dropExporter{}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return []tikv.Option{
		tikv.WithTracerProvider(tp),
		tikv.WithMeterProvider(mp),
		tikv.WithCircuitBreaker(middleware.BreakerConfig{}),
		tikv.WithRateLimit(middleware.RateLimitConfig{Rate: 1e9, StoreRate: 1e9}),
		tikv.WithStoreTokenLimit(1 << 20),
		tikv.WithRequestLogging(middleware.LoggingConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}),
		tikv.WithRequestSource(middleware.RequestSource{Type: "bench"}),
		tikv.WithResourceControl("default"),
	}
}

// BenchmarkRawGetAllBuiltins is issue #11's overhead acceptance: a raw Get
// with no middleware ("none") against one with every built-in layer on
// ("all", allBuiltins; "all-but-tracing" and "all-unsampled" tell
// tracing's share apart), over loopback gRPC (BatchCommands) against
// mocktikv and in-process (no sockets: the client's own CPU, and the
// mock's, which is the same in both variants). cpu-ns/op is the process's
// CPU per Get (getrusage), which also counts the work the layers push to
// other goroutines (the span processor, the resource-group controller).
//
//	go test -run '^$' -bench RawGetAllBuiltins -benchmem -count 6 ./middleware/otelkv/
func BenchmarkRawGetAllBuiltins(b *testing.B) {
	runVariants(b, []variant{
		{"none", func(*testing.B) []tikv.Option { return nil }},
		{"all", allBuiltins},
		// Every layer but tracing, and every layer with a tracer that
		// samples no call (a common production ratio is a few percent):
		// what the other layers cost, and what tracing costs unrecorded.
		{"all-but-tracing", func(b *testing.B) []tikv.Option { return allBuiltins(b)[1:] }},
		// Every layer, with OTel's no-op providers: telemetry wired but
		// going nowhere, as in an application that installs no SDK.
		{"all-noop", func(b *testing.B) []tikv.Option {
			return append(allBuiltins(b)[2:], tikv.WithTracerProvider(tracenoop.NewTracerProvider()),
				tikv.WithMeterProvider(metricnoop.NewMeterProvider()))
		}},
		// all-noop without resource control: what pd/client's
		// resource-group controller (its per-request accounting and its
		// background token and RU reporting loop) adds on its own.
		{"all-noop-but-rc", func(b *testing.B) []tikv.Option {
			o := allBuiltins(b)
			return append(o[2:len(o)-1], tikv.WithTracerProvider(tracenoop.NewTracerProvider()),
				tikv.WithMeterProvider(metricnoop.NewMeterProvider()))
		}},
		{"all-unsampled", func(b *testing.B) []tikv.Option {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()), sdktrace.WithSyncer(dropExporter{}))
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			return append(allBuiltins(b)[1:], tikv.WithTracerProvider(tp))
		}},
	})
}

// BenchmarkRawGetEachBuiltin prices the built-in layers one at a time, in
// process (the client's CPU and the mock's; the mock's is the same in
// every variant), so that BenchmarkRawGetAllBuiltins's overhead can be
// told apart per layer.
//
//	go test -run '^$' -bench RawGetEachBuiltin -benchmem -count 6 ./middleware/otelkv/
func BenchmarkRawGetEachBuiltin(b *testing.B) {
	all := func(b *testing.B) []tikv.Option { return allBuiltins(b) }
	for _, v := range []struct {
		name string
		pick func(opts []tikv.Option) []tikv.Option // from allBuiltins's list
	}{
		{"none", func([]tikv.Option) []tikv.Option { return nil }},
		{"tracing", func(o []tikv.Option) []tikv.Option { return o[0:1] }},
		{"metrics", func(o []tikv.Option) []tikv.Option { return o[1:2] }},
		{"breaker", func(o []tikv.Option) []tikv.Option { return o[2:3] }},
		{"ratelimit", func(o []tikv.Option) []tikv.Option { return o[3:4] }},
		{"storetokens", func(o []tikv.Option) []tikv.Option { return o[4:5] }},
		{"logging", func(o []tikv.Option) []tikv.Option { return o[5:6] }},
		{"source", func(o []tikv.Option) []tikv.Option { return o[6:7] }},
		{"resourcecontrol", func(o []tikv.Option) []tikv.Option { return o[7:8] }},
		{"all", func(o []tikv.Option) []tikv.Option { return o }},
	} {
		b.Run(v.name, func(b *testing.B) {
			mock := mocktikv.NewCluster(mocktikv.WithStores(1))
			defer mock.Close()
			opts := append([]tikv.Option{tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender())}, v.pick(all(b))...)
			cluster, err := tikv.Connect(context.Background(), nil, opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer cluster.Close()
			benchGet(b, raw.NewClient(cluster))
		})
	}
}

// BenchmarkSDKSpanFloor is what the OTel SDK itself costs for the spans a
// traced raw Get records (a call span and one attempt span under it, with
// attributes like ours, into a dropping exporter), without any client:
// the floor under BenchmarkRawGetAllBuiltins's tracing share, which no
// instrumentation that records those spans can go below.
func BenchmarkSDKSpanFloor(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(dropExporter{}))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tracer := tp.Tracer("floor")
	callAttrs := []attribute.KeyValue{attribute.String("db.system.name", "tikv"), attribute.String("db.operation.name", "RawGet"),
		attribute.Int64("tikv.call_id", 1)}
	attemptAttrs := []attribute.KeyValue{attribute.String("server.address", "127.0.0.1"), attribute.Int("server.port", 20160),
		attribute.String("db.system.name", "tikv"), attribute.String("db.operation.name", "RawGet"),
		attribute.Int64("tikv.store_id", 1), attribute.Int("tikv.attempt", 0), attribute.Bool("tikv.batchable", true),
		attribute.Int64("tikv.region_id", 2), attribute.Int("tikv.piece", 1), attribute.String("tikv.peer_role", "leader")}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		cctx, call := tracer.Start(ctx, "RawGet", trace.WithSpanKind(trace.SpanKindClient))
		call.SetAttributes(callAttrs...)
		_, attempt := tracer.Start(cctx, "tikvpb.Tikv/RawGet", trace.WithSpanKind(trace.SpanKindClient))
		attempt.SetAttributes(attemptAttrs...)
		attempt.End()
		call.End()
	}
}
