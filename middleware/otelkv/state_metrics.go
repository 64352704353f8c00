package otelkv

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/connectivity"

	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/transport"
)

// Metric names of the cluster's state, read when the meter collects
// (Watch), and of BatchCommands batches (BatchObserver).
const (
	MetricCacheHits    = "tikv.client.region_cache.hits"
	MetricConnections  = "tikv.client.grpc.connections"
	MetricBreakerState = "tikv.client.breaker.state"
	MetricBatchSize    = "tikv.client.batch.size"
	MetricBatchWait    = "tikv.client.batch.queue_wait.duration"
)

// Attribute keys of the state metrics.
const (
	// KeyKeyMode is the key space of a region cache: "raw" or "txn".
	KeyKeyMode = attribute.Key("tikv.key_mode")
	// KeyConnState is a gRPC connection's state, as grpc names it
	// ("READY", "IDLE", "CONNECTING", "TRANSIENT_FAILURE", "SHUTDOWN").
	KeyConnState = attribute.Key("tikv.grpc.state")
)

// batchSizeBuckets bound batch sizes (client-go's MaxBatchSize is 128).
var batchSizeBuckets = []float64{1, 2, 4, 8, 16, 32, 64, 128}

// batchWaitBuckets bound queue waits, in seconds: a batch is usually
// written within microseconds, the turbo trigger holds it up to 0.1ms and
// a full queue (MaxConcurrency) longer.
var batchWaitBuckets = []float64{0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1}

// Sources is the cluster state Watch reads at each collection; nil fields
// are not measured.
type Sources struct {
	// CacheHits returns the hits so far of the region cache of a key
	// mode ("raw", "txn"), by mode (pdclient.RegionCache.Hits).
	CacheHits map[string]func() uint64
	// ConnStates returns each address's gRPC connection states
	// (transport.Pool.ConnStates).
	ConnStates func() map[string][]connectivity.State
	// BreakerStates returns each store's circuit-breaker state
	// (middleware.CircuitBreaker.States).
	BreakerStates func() map[uint64]middleware.BreakerState
}

// Watch registers, when metrics are on, the observable instruments that
// read src at each collection: region-cache hits (a counter per key mode),
// gRPC connections per address and state (a gauge: how many of the
// address's connections are in the state), and each store's breaker state
// (a gauge: 0 closed, 1 half-open, 2 open). The returned stop unregisters
// them (the cluster calls it on Close); it is a no-op when metrics are off.
// Nothing is read between collections, so the request path pays nothing.
func (t *Telemetry) Watch(src Sources) (stop func() error, err error) {
	if t.in == nil {
		return func() error { return nil }, nil
	}
	m := t.in.meter
	hits, err1 := m.Int64ObservableCounter(MetricCacheHits, metric.WithUnit("{hit}"),
		metric.WithDescription("Region-cache lookups answered without PD."))
	conns, err2 := m.Int64ObservableGauge(MetricConnections, metric.WithUnit("{connection}"),
		metric.WithDescription("gRPC connections to each store address, by connectivity state."))
	breakers, err3 := m.Int64ObservableGauge(MetricBreakerState, metric.WithUnit("1"),
		metric.WithDescription("Each store's circuit-breaker state: 0 closed, 1 half-open, 2 open."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for mode, f := range src.CacheHits {
			o.ObserveInt64(hits, int64(f()), metric.WithAttributes(dbSystem, KeyKeyMode.String(mode)))
		}
		if src.ConnStates != nil {
			for addr, states := range src.ConnStates() {
				var n [connectivity.Shutdown + 1]int64
				for _, s := range states {
					if s >= 0 && s <= connectivity.Shutdown {
						n[s]++
					}
				}
				server := t.attrs.server.get(addr)
				for s, count := range n {
					if count == 0 {
						continue
					}
					kvs := append([]attribute.KeyValue{dbSystem, KeyConnState.String(connectivity.State(s).String())}, server...)
					o.ObserveInt64(conns, count, metric.WithAttributes(kvs...))
				}
			}
		}
		if src.BreakerStates != nil {
			for id, s := range src.BreakerStates() {
				o.ObserveInt64(breakers, int64(s), metric.WithAttributes(dbSystem, KeyStoreID.Int64(int64(id))))
			}
		}
		return nil
	}, hits, conns, breakers)
	if err != nil {
		return nil, err
	}
	return reg.Unregister, nil
}

// BatchObserver returns the callback (transport.WithBatchObserver) that
// records each BatchCommands batch's size and its oldest request's queue
// wait, per store address; nil when metrics are off. It runs on the
// streams' send loops and allocates nothing once an address's attribute
// set is cached.
func (t *Telemetry) BatchObserver() func(transport.BatchStats) {
	if t.in == nil {
		return nil
	}
	return func(b transport.BatchStats) {
		ctx := context.Background()
		opts := t.attrs.point(setKey{kind: setBatch, name: b.Addr}).rec
		t.in.batchSize.Record(ctx, int64(b.Size), opts...)
		t.in.batchWait.Record(ctx, b.Wait.Seconds(), opts...)
	}
}
