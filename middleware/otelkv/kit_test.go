package otelkv_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
)

// kit is the OTel SDK with in-memory exporters: a span recorder and a
// manual metric reader, plus a middleware inside Tracing that records the
// trace id each request carried to TiKV.
type kit struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader

	mu       sync.Mutex
	traceIDs map[transport.Cmd][][]byte
}

func newKit(t *testing.T) (*kit, []tikv.Option) {
	k := &kit{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader(), traceIDs: map[transport.Cmd][][]byte{}}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(k.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(k.reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return k, []tikv.Option{tikv.WithTracerProvider(tp), tikv.WithMeterProvider(mp), tikv.WithMiddleware(k.middleware)}
}

func (k *kit) middleware(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		if c := req.Cmd.Context(req.Msg); c != nil {
			k.mu.Lock()
			k.traceIDs[req.Cmd] = append(k.traceIDs[req.Cmd], slices.Clone(c.TraceId))
			k.mu.Unlock()
		}
		return next.Send(ctx, req)
	})
}

// only returns the one ended span named name, failing otherwise.
func (k *kit) only(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range k.spans.Ended() {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d ended spans named %q, want 1; spans: %s", len(found), name, k.names())
	}
	return found[0]
}

// children returns the ended children of parent, in the order they ended.
func (k *kit) children(parent sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range k.spans.Ended() {
		if s.Parent().SpanID() == parent.SpanContext().SpanID() {
			out = append(out, s)
		}
	}
	return out
}

func (k *kit) names() string {
	var n []string
	for _, s := range k.spans.Ended() {
		n = append(n, s.Name())
	}
	return strings.Join(n, ", ")
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var n []string
	for _, s := range spans {
		n = append(n, s.Name())
	}
	return n
}

func eventNames(s sdktrace.ReadOnlySpan) []string {
	var n []string
	for _, e := range s.Events() {
		n = append(n, e.Name)
	}
	return n
}

// attr returns the span's attribute key, and whether it is set.
func attr(s sdktrace.ReadOnlySpan, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// collect reads the metrics, by name.
func (k *kit) collect(t *testing.T) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := k.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

// histCount returns how many measurements the histogram name holds under
// attributes that include want.
func histCount(t *testing.T, data map[string]metricdata.Aggregation, name string, want ...attribute.KeyValue) uint64 {
	t.Helper()
	h, ok := data[name].(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("metric %s: %T, want a float64 histogram", name, data[name])
	}
	var n uint64
	for _, dp := range h.DataPoints {
		if hasAll(dp.Attributes, want) {
			n += dp.Count
		}
	}
	return n
}

// sum returns the int64 sum name holds under attributes that include want.
func sum(t *testing.T, data map[string]metricdata.Aggregation, name string, want ...attribute.KeyValue) int64 {
	t.Helper()
	s, ok := data[name].(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("metric %s: %T, want an int64 sum", name, data[name])
	}
	var n int64
	for _, dp := range s.DataPoints {
		if hasAll(dp.Attributes, want) {
			n += dp.Value
		}
	}
	return n
}

func hasAll(set attribute.Set, want []attribute.KeyValue) bool {
	for _, w := range want {
		if v, ok := set.Value(w.Key); !ok || v != w.Value {
			return false
		}
	}
	return true
}

// hasNo reports whether no point of the histogram name has the key.
func withoutKey(t *testing.T, data map[string]metricdata.Aggregation, name string, key attribute.Key, want ...attribute.KeyValue) uint64 {
	t.Helper()
	h := data[name].(metricdata.Histogram[float64])
	var n uint64
	for _, dp := range h.DataPoints {
		if _, has := dp.Attributes.Value(key); !has && hasAll(dp.Attributes, want) {
			n += dp.Count
		}
	}
	return n
}

// mode connects a cluster to a mocktikv in-process or over gRPC.
type mode struct {
	name    string
	connect func(t *testing.T, mockOpts []mocktikv.Option, opts ...tikv.Option) (*mocktikv.Cluster, *tikv.Cluster)
}

var modes = []mode{
	{"in-process", func(t *testing.T, mockOpts []mocktikv.Option, opts ...tikv.Option) (*mocktikv.Cluster, *tikv.Cluster) {
		mock := mocktikv.NewCluster(mockOpts...)
		opts = append([]tikv.Option{tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender())}, opts...)
		c, err := tikv.Connect(context.Background(), nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c.Close()
			mock.Close()
		})
		return mock, c
	}},
	{"grpc", func(t *testing.T, mockOpts []mocktikv.Option, opts ...tikv.Option) (*mocktikv.Cluster, *tikv.Cluster) {
		mock := mocktikv.Start(t, mockOpts...)
		c, err := tikv.Connect(t.Context(), mock.PDAddrs(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return mock, c
	}},
}

// traceIDOf returns s's trace id as bytes, as kvrpcpb.Context carries it.
func traceIDOf(s sdktrace.ReadOnlySpan) []byte {
	id := s.SpanContext().TraceID()
	return id[:]
}
