package otelkv

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tikvgo/tikv/observe"
)

// KeyLinkCause is the attribute of the link from a background call's span
// to the call that left it running; its value is "background".
const KeyLinkCause = attribute.Key("tikv.link.cause")

// callSpanOptions returns the start options of a call's span: a client
// span, linked to the span of the call that caused it when ctx is
// background work some call left running (observe.WithCause: a
// transaction's secondaries committed after its TxnCommit returned, the
// rollback of a failed commit). The background call stays the root of its
// own trace, as OTel advises for work that outlives its trigger, and the
// link joins it to the commit's trace. A ctx that already carries a span
// makes a child of it instead, with no link.
func callSpanOptions(ctx context.Context) []trace.SpanStartOption {
	cause := observe.CauseOf(ctx)
	if cause == nil || trace.SpanContextFromContext(ctx).IsValid() {
		return clientSpan
	}
	var sc trace.SpanContext
	if st := stateOf(cause); st != nil && st.span != nil {
		sc = st.span.SpanContext() // the call's own span, whatever a user's observer added
	} else {
		sc = trace.SpanContextFromContext(cause)
	}
	if !sc.IsValid() {
		return clientSpan
	}
	return []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient),
		trace.WithLinks(trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{KeyLinkCause.String("background")}})}
}
