package otelkv

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/transport"
)

// ScopeName is the instrumentation scope of the tracer and meter.
const ScopeName = "github.com/tikvgo/tikv/middleware/otelkv"

// Telemetry holds one cluster's tracer, meter instruments and attribute
// caches. Build it with New; it is safe for concurrent use and holds no
// goroutines (the providers' own pipelines belong to the application).
type Telemetry struct {
	tracer trace.Tracer // nil: no tracing
	in     *instruments // nil: no metrics
	attrs  *attrCaches  // shared by both signals
}

// New returns the telemetry for tp and mp; either may be nil to leave that
// signal off. OTel's no-op providers (trace/noop, metric/noop) count as nil:
// they would record nothing, and skipping them spares every call the
// contexts and closures their spans cost. It fails only if the meter
// refuses an instrument.
func New(tp trace.TracerProvider, mp metric.MeterProvider) (*Telemetry, error) {
	if _, ok := tp.(tracenoop.TracerProvider); ok {
		tp = nil
	}
	if _, ok := mp.(metricnoop.MeterProvider); ok {
		mp = nil
	}
	t := &Telemetry{attrs: newAttrCaches()}
	if tp != nil {
		t.tracer = tp.Tracer(ScopeName)
	}
	if mp != nil {
		in, err := newInstruments(mp.Meter(ScopeName))
		if err != nil {
			return nil, err
		}
		t.in = in
	}
	return t, nil
}

// Observer returns the observer that opens a span per logical call and
// records the per-call metrics, or nil when both signals are off.
func (t *Telemetry) Observer() observe.Observer {
	if t.tracer == nil && t.in == nil {
		return nil
	}
	return observer{t}
}

// Tracing returns the middleware that opens a span per attempt, a child of
// its call's span, and writes its trace id into the request's
// kvrpcpb.Context; nil when tracing is off. It never changes the request
// otherwise and never retries.
func (t *Telemetry) Tracing() transport.Middleware {
	if t.tracer == nil {
		return nil
	}
	return t.traceAttempts
}

// Metrics returns the middleware that measures every attempt (duration,
// in-flight, routing invalidations, lock resolutions); nil when metrics are
// off. It never changes the request.
func (t *Telemetry) Metrics() transport.Middleware {
	if t.in == nil {
		return nil
	}
	return t.measureAttempts
}

// callState is what a call's context carries while this package watches
// it: the call's own span (found here rather than in ctx, where a user's
// observer may have put a span of its own after ours), when it started, and
// the commit protocol the attempts revealed. It is itself the call's
// context, the parent's with itself as the value of callKey, so that a
// call costs one allocation here rather than two (the state and a
// context.WithValue); deadline, cancellation and other values are the
// parent's.
type callState struct {
	context.Context
	call     observe.Call
	span     trace.Span
	start    time.Time
	protocol atomic.Uint32 // a txnProtocol
	traceID  trace.TraceID // the call span's, for the attempts' kvrpcpb.Context
}

type callKey struct{}

// Value returns s for callKey and the parent's value otherwise.
func (s *callState) Value(key any) any {
	if key == (callKey{}) {
		return s
	}
	return s.Context.Value(key)
}

func stateOf(ctx context.Context) *callState {
	s, _ := ctx.Value(callKey{}).(*callState)
	return s
}

// txnProtocol is how a transaction committed, learnt from its prewrite.
type txnProtocol uint32

const (
	protocol2PC txnProtocol = iota
	protocolAsyncCommit
	protocol1PC
)

func (p txnProtocol) String() string {
	switch p {
	case protocolAsyncCommit:
		return "async_commit"
	case protocol1PC:
		return "1pc"
	}
	return "2pc"
}
