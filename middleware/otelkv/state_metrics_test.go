package otelkv_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"google.golang.org/grpc/connectivity"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/middleware/otelkv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// gauge returns the int64 gauge name's value under attributes that include
// want, and whether such a point exists.
func gauge(t *testing.T, data map[string]metricdata.Aggregation, name string, want ...attribute.KeyValue) (int64, bool) {
	t.Helper()
	g, ok := data[name].(metricdata.Gauge[int64])
	if !ok {
		t.Fatalf("metric %s: %T, want an int64 gauge", name, data[name])
	}
	for _, dp := range g.DataPoints {
		if hasAll(dp.Attributes, want) {
			return dp.Value, true
		}
	}
	return 0, false
}

// intHistCount is histCount for an int64 histogram.
func intHistCount(t *testing.T, data map[string]metricdata.Aggregation, name string, want ...attribute.KeyValue) uint64 {
	t.Helper()
	h, ok := data[name].(metricdata.Histogram[int64])
	if !ok {
		t.Fatalf("metric %s: %T, want an int64 histogram", name, data[name])
	}
	var n uint64
	for _, dp := range h.DataPoints {
		if hasAll(dp.Attributes, want) {
			n += dp.Count
		}
	}
	return n
}

// TestStateMetricsOverGRPC: after raw Gets over loopback gRPC with the
// circuit breaker on, a collection shows the raw region cache's hits (one
// per Get after the first lookup, which missed), the store's connections
// ready, its breaker closed (0), and BatchCommands batches with their
// queue waits, as many waits as batches, all tagged with the store's
// address.
func TestStateMetricsOverGRPC(t *testing.T) {
	k, opts := newKit(t)
	mock, cluster := modes[1].connect(t, nil, append(opts, tikv.WithCircuitBreaker(middleware.BreakerConfig{}))...)
	client := raw.NewClient(cluster)
	ctx := t.Context()
	if err := client.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	const gets = 5
	for range gets {
		if _, err := client.Get(ctx, []byte("k")); err != nil {
			t.Fatal(err)
		}
	}
	_, leader := mock.RegionByKey([]byte("k"))
	addr := mock.StoreAddr(leader.GetStoreId())

	data := k.collect(t)
	if n := sum(t, data, otelkv.MetricCacheHits, otelkv.KeyKeyMode.String("raw")); n < gets {
		t.Errorf("raw cache hits %d, want at least %d (every Get after the Put's miss)", n, gets)
	}
	if n, ok := gauge(t, data, otelkv.MetricConnections, otelkv.KeyConnState.String("READY")); !ok || n != int64(transport.DefaultConnsPerStore) {
		t.Errorf("ready connections %d (%v), want %d", n, ok, transport.DefaultConnsPerStore)
	}
	if s, ok := gauge(t, data, otelkv.MetricBreakerState, otelkv.KeyStoreID.Int64(int64(leader.GetStoreId()))); !ok || s != 0 {
		t.Errorf("breaker state of store %d: %d (%v), want 0 (closed)", leader.GetStoreId(), s, ok)
	}
	host := semconv.ServerAddress("127.0.0.1")
	batches := intHistCount(t, data, otelkv.MetricBatchSize, host)
	if batches < gets+1 {
		t.Errorf("batches to %s: %d, want at least %d (one per sequential command)", addr, batches, gets+1)
	}
	if waits := histCount(t, data, otelkv.MetricBatchWait, host); waits != batches {
		t.Errorf("queue waits %d, want one per batch (%d)", waits, batches)
	}
}

// TestWatchReportsStates: Watch's gauges count connections per address and
// state and map breaker states to 0, 1, 2; its stop unregisters them.
func TestWatchReportsStates(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	tel, err := otelkv.New(nil, mp)
	if err != nil {
		t.Fatal(err)
	}
	stop, err := tel.Watch(otelkv.Sources{
		CacheHits: map[string]func() uint64{"txn": func() uint64 { return 7 }},
		ConnStates: func() map[string][]connectivity.State {
			return map[string][]connectivity.State{"10.0.0.1:20160": {connectivity.Ready, connectivity.TransientFailure, connectivity.Ready}}
		},
		BreakerStates: func() map[uint64]middleware.BreakerState {
			return map[uint64]middleware.BreakerState{1: middleware.BreakerClosed, 2: middleware.BreakerHalfOpen, 3: middleware.BreakerOpen}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	collect := func() map[string]metricdata.Aggregation {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
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
	data := collect()
	if n := sum(t, data, otelkv.MetricCacheHits, otelkv.KeyKeyMode.String("txn")); n != 7 {
		t.Errorf("txn cache hits %d, want 7", n)
	}
	server := semconv.ServerAddress("10.0.0.1")
	for state, want := range map[string]int64{"READY": 2, "TRANSIENT_FAILURE": 1} {
		if n, _ := gauge(t, data, otelkv.MetricConnections, server, otelkv.KeyConnState.String(state)); n != want {
			t.Errorf("%s connections %d, want %d", state, n, want)
		}
	}
	if _, ok := gauge(t, data, otelkv.MetricConnections, otelkv.KeyConnState.String("IDLE")); ok {
		t.Error("a point for IDLE connections, which there are none of")
	}
	for id, want := range map[int64]int64{1: 0, 2: 1, 3: 2} {
		if s, ok := gauge(t, data, otelkv.MetricBreakerState, otelkv.KeyStoreID.Int64(id)); !ok || s != want {
			t.Errorf("breaker of store %d: %d (%v), want %d", id, s, ok, want)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if g, ok := collect()[otelkv.MetricBreakerState].(metricdata.Gauge[int64]); ok && len(g.DataPoints) != 0 {
		t.Errorf("breaker states still reported after stop: %v", data[otelkv.MetricBreakerState])
	}
}
