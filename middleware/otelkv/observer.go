package otelkv

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/tikvgo/tikv/observe"
)

// APITxnCommit is the logical call of a transaction's commit (txn.Txn's
// Commit begins it with pipeline.BeginCall); its duration also goes to
// MetricCommitDuration, by protocol.
const APITxnCommit = "TxnCommit"

// observer is the Telemetry's observe.Observer: a span per call and the
// per-call metrics. It is called on the request path, possibly from several
// of a call's goroutines at once.
type observer struct{ t *Telemetry }

// Start opens the call's span (a child of any span in ctx) and starts its
// clock.
func (o observer) Start(ctx context.Context, c observe.Call) context.Context {
	st := &callState{call: c, start: time.Now()}
	if o.t.tracer != nil {
		name := c.API
		if name == "" {
			name = "tikv"
		}
		ctx, st.span = o.t.tracer.Start(ctx, name, callSpanOptions(ctx)...)
		st.traceID = st.span.SpanContext().TraceID()
		if st.span.IsRecording() {
			buf := attrPool.Get().(*[]attribute.KeyValue)
			*buf = append((*buf)[:0], dbSystem, semconv.DBOperationName(c.API), KeyCallID.Int64(int64(c.ID)))
			st.span.SetAttributes(*buf...)
			attrPool.Put(buf)
		}
	}
	st.Context = ctx
	return st
}

// Event records e on the call's span and in the metrics it feeds.
func (o observer) Event(ctx context.Context, e observe.Event) {
	st := stateOf(ctx)
	if st == nil {
		return // an event of a call this observer did not start
	}
	if o.t.in != nil {
		o.measureEvent(ctx, e)
	}
	if st.span == nil || !st.span.IsRecording() {
		return
	}
	switch e.Kind {
	case observe.PDCall:
		// The event arrives when the RPC is over: its span is opened and
		// closed after the fact, with the RPC's own start and end times.
		end := time.Now()
		_, span := o.t.tracer.Start(trace.ContextWithSpan(ctx, st.span), "PD "+e.Method,
			trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(end.Add(-e.Duration)),
			trace.WithAttributes(KeyPDMethod.String(e.Method)))
		if et := errorType(e.Err); et != "" {
			span.SetAttributes(semconv.ErrorTypeKey.String(et))
			span.SetStatus(codes.Error, e.Err.Error())
		}
		span.End(trace.WithTimestamp(end))
		return
	case observe.Backoff:
		st.span.AddEvent("backoff", trace.WithAttributes(withErrorType([]attribute.KeyValue{KeyBackoff.String(e.Backoff),
			KeySleepMs.Float64(float64(e.Sleep) / float64(time.Millisecond)), KeyPiece.Int(e.Piece)}, e.Err)...))
	case observe.Split:
		if e.Pieces <= 1 {
			return // a single-region call: the attempt span says where it went
		}
		st.span.AddEvent("split", trace.WithAttributes(attribute.Int("tikv.pieces", e.Pieces),
			attribute.Int("tikv.first_piece", e.FirstPiece)))
	case observe.Resplit:
		st.span.AddEvent("resplit", trace.WithAttributes(withErrorType([]attribute.KeyValue{KeyPiece.Int(e.Piece),
			attribute.Int("tikv.pieces", e.Pieces), attribute.Int("tikv.first_piece", e.FirstPiece)}, e.Err)...))
	case observe.CacheMiss:
		st.span.AddEvent("cache-miss", trace.WithAttributes(KeyCacheKind.String(cacheKind(e))))
	case observe.CacheLoad:
		attrs := []attribute.KeyValue{KeyCacheKind.String(cacheKind(e)),
			attribute.Float64("tikv.duration_ms", float64(e.Duration)/float64(time.Millisecond))}
		if e.RegionID != 0 {
			attrs = append(attrs, KeyRegionID.Int64(int64(e.RegionID)))
		}
		st.span.AddEvent("cache-load", trace.WithAttributes(withErrorType(attrs, e.Err)...))
	default:
		st.span.AddEvent(e.Kind.String())
	}
}

// End closes the call's span with its outcome and records its duration.
func (o observer) End(ctx context.Context, c observe.Call, err error) {
	st := stateOf(ctx)
	if st == nil {
		return
	}
	et := errorType(err)
	if o.t.in != nil {
		d := time.Since(st.start).Seconds()
		o.t.in.opDuration.Record(ctx, d, o.t.attrs.point(setKey{kind: setOperation, name: c.API, errType: et}).rec...)
		if c.API == APITxnCommit {
			p := txnProtocol(st.protocol.Load()).String()
			o.t.in.commitDuration.Record(ctx, d, o.t.attrs.point(setKey{kind: setCommit, name: p, errType: et}).rec...)
		}
	}
	if st.span != nil {
		if et != "" && st.span.IsRecording() {
			st.span.SetAttributes(semconv.ErrorTypeKey.String(et))
			st.span.SetStatus(codes.Error, err.Error())
		}
		st.span.End()
	}
}

// measureEvent feeds an event to the metrics.
func (o observer) measureEvent(ctx context.Context, e observe.Event) {
	in, attrs := o.t.in, o.t.attrs
	switch e.Kind {
	case observe.Backoff:
		in.backoffSleep.Record(ctx, e.Sleep.Seconds(), attrs.point(setKey{kind: setBackoff, name: e.Backoff}).rec...)
	case observe.CacheMiss:
		in.cacheMisses.Add(ctx, 1, attrs.point(setKey{kind: setCacheMiss, name: cacheKind(e)}).add...)
	case observe.CacheLoad:
		in.cacheLoads.Record(ctx, e.Duration.Seconds(),
			attrs.point(setKey{kind: setCacheLoad, name: cacheKind(e), errType: errorType(e.Err)}).rec...)
	case observe.PDCall:
		in.pdDuration.Record(ctx, e.Duration.Seconds(),
			attrs.point(setKey{kind: setPD, name: e.Method, errType: errorType(e.Err)}).rec...)
	}
}

// cacheKind says whether a cache event looked up a region or a store.
func cacheKind(e observe.Event) string {
	if e.Key == nil && e.StoreID != 0 {
		return "store"
	}
	return "region"
}

// withErrorType adds error.type for err to attrs, when err is a failure.
func withErrorType(attrs []attribute.KeyValue, err error) []attribute.KeyValue {
	if et := errorType(err); et != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(et))
	}
	return attrs
}
