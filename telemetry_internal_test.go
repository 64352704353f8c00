package tikv

import (
	"context"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tikvgo/tikv/internal/apicodec"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/observe"
)

type nopObserver struct{}

func (nopObserver) Start(ctx context.Context, _ observe.Call) context.Context { return ctx }
func (nopObserver) Event(context.Context, observe.Event)                      {}
func (nopObserver) End(context.Context, observe.Call, error)                  {}

// TestTelemetryPlaces: without providers, or with OTel's no-op ones,
// nothing is added to the chain and the user's observer is used as given; with both, Tracing and Metrics are
// the two outermost layers and the observer joins the telemetry's with the
// user's; with one, only its layer is added.
func TestTelemetryPlaces(t *testing.T) {
	codecs := [kv.ModeTxn + 1]*apicodec.Codec{nil, apicodec.NewV1(kv.ModeRaw), apicodec.NewV1(kv.ModeTxn)}
	user := nopObserver{}
	build := func(opts ...Option) config {
		cfg := defaultConfig()
		for _, o := range append(opts, WithObserver(user)) {
			o(&cfg)
		}
		if err := cfg.buildTelemetry(); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	bare := build()
	base := len(chainOrder(bare, codecs, nil, nil, nil))
	if bare.telemetry != nil || bare.observer != user {
		t.Fatalf("no provider: telemetry %v, observer %T", bare.telemetry, bare.observer)
	}
	noop := build(WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(metricnoop.NewMeterProvider()))
	if n := len(chainOrder(noop, codecs, nil, nil, nil)); n != base || noop.observer != user {
		t.Fatalf("no-op providers: %d layers (want %d), observer %T", n, base, noop.observer)
	}
	tp, mp := sdktrace.NewTracerProvider(), sdkmetric.NewMeterProvider()
	defer tp.Shutdown(context.Background())
	defer mp.Shutdown(context.Background())
	both := build(WithTracerProvider(tp), WithMeterProvider(mp))
	if n := len(chainOrder(both, codecs, nil, nil, nil)); n != base+2 {
		t.Fatalf("both providers: %d layers, want %d", n, base+2)
	}
	if both.observer == user || both.observer == nil {
		t.Fatalf("both providers: observer %T, want the joined one", both.observer)
	}
	one := build(WithMeterProvider(mp))
	if n := len(chainOrder(one, codecs, nil, nil, nil)); n != base+1 {
		t.Fatalf("meter only: %d layers, want %d", n, base+1)
	}
}
