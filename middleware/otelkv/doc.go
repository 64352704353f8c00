// Package otelkv is tikvgo's OpenTelemetry layer: tracing and metrics for
// every logical call and every physical attempt, through the OTel API only
// (go.opentelemetry.io/otel/trace and /metric). The application brings the
// SDK and exporters; with none configured the cluster does not install this
// package at all (tikv.WithTracerProvider, tikv.WithMeterProvider).
//
// One package serves both signals because they watch the same two seams
// with the same vocabulary: an observe.Observer sees each logical call (a
// raw Get, a transaction's Commit) from start to end with its backoffs,
// re-splits, region-cache misses and PD calls, and a transport.Middleware
// sees each physical attempt (one command to one store). Both name things
// the same way (OTel's database-client conventions: db.system.name "tikv",
// db.operation.name, server.address, server.port, error.type) and share the
// per-store attribute sets cached on the hot path. A Telemetry built by New
// hands out the three pieces; the cluster places Tracing and then Metrics
// outermost in its chain (middleware/doc.go) and joins Observer with the
// user's observer (observe.Join).
//
// Traces: one span per logical call, named after its API (observe.Call.API),
// of kind client, with an event per backoff (its policy and sleep), re-split,
// region-cache miss and load, and lock resolution, and a child span per PD
// RPC made for it (region and store loads, TSO). Each attempt is a child
// span of its call, named after the command, with the store, its address,
// the region, the peer's role, the attempt and piece numbers, whether it is
// a replica or stale read and whether its command may travel in a
// BatchCommands stream, and its outcome (region error kind or gRPC code as
// error.type). The attempt's trace id is written into kvrpcpb.Context's
// trace_id so that TiKV can log it.
//
// Metrics (names and units in metrics.go): db.client.operation.duration per
// API and error.type; attempt duration per command, store and error.type;
// attempts in flight; backoff sleeps per policy; region-cache misses and
// loads; routing invalidations per region error kind; PD call duration per
// method; lock resolutions per outcome; transaction commit duration per
// protocol (2PC, async commit, 1PC); BatchCommands batch sizes and their
// oldest request's queue wait per store address (BatchObserver, fed by
// transport.WithBatchObserver). Read only when the meter collects (Watch):
// region-cache hits per key mode (the caches count them), gRPC connections
// per address and state, and each store's circuit-breaker state.
//
// Background work a call leaves running (a transaction's secondaries
// committed after Commit returned, a failed commit's rollback) is a call of
// its own whose span is a root linked to the span of the call that left it
// (observe.WithCause).
//
// Cost: with no provider, or OTel's no-op ones, nothing is installed. With
// the SDK, each call and attempt pays for its span and points; attribute
// sets are cached per store, command and outcome, attribute slices are
// pooled, and a call's state is its context (BenchmarkRawGetTelemetry
// measures it; BenchmarkRawGetAllBuiltins and BenchmarkRawGetEachBuiltin
// put it beside the other built-in layers). Most of a recorded span's cost
// is the SDK's own (the span, its attribute copy and de-duplication, the
// snapshot handed to the processor): sampling is the lever that matters.
package otelkv
