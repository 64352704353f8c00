package middleware

import (
	"context"
	"strings"

	"github.com/tikvgo/tikv/transport"
)

// RequestSource says who sends a request, for TiKV's per-source metrics and
// resource accounting: client-go's util.RequestSource. Its String form is
// what goes into kvrpcpb.Context.request_source.
type RequestSource struct {
	// Internal marks work the application does for itself (GC, statistics,
	// DDL) rather than for its users.
	Internal bool
	// Type names the kind of work, such as "gc", "stats" or "ddl".
	Type string
	// ExplicitType names the tool or task that asked for it, such as
	// "br", "lightning" or "background"; optional.
	ExplicitType string
}

// String renders the source as client-go's GetRequestSource does:
// "internal_" or "external_", then Type (or "unknown"), then "_" and
// ExplicitType when it is set and differs from Type; just "unknown" when
// neither type is set.
func (s RequestSource) String() string {
	if s.Type == "" && s.ExplicitType == "" {
		return "unknown"
	}
	var b strings.Builder
	if s.Internal {
		b.WriteString("internal_")
	} else {
		b.WriteString("external_")
	}
	if s.Type != "" {
		b.WriteString(s.Type)
	} else {
		b.WriteString("unknown")
	}
	if s.ExplicitType != "" && s.ExplicitType != s.Type {
		b.WriteByte('_')
		b.WriteString(s.ExplicitType)
	}
	return b.String()
}

// IsInternal reports whether a request_source string names internal work
// (client-go's util.IsInternalRequest).
func IsInternal(source string) bool { return strings.HasPrefix(source, "internal") }

type requestSourceKey struct{}

// WithRequestSource returns a context whose requests carry s as their
// request source, unless a call's own option (raw.RequestSource,
// txn.WithTxnRequestSource) already set one.
func WithRequestSource(ctx context.Context, s RequestSource) context.Context {
	return context.WithValue(ctx, requestSourceKey{}, s.String())
}

// RequestSourceFrom returns the request source ctx carries, in its String
// form.
func RequestSourceFrom(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(requestSourceKey{}).(string)
	return s, ok
}

// TagRequestSource returns the layer that fills kvrpcpb.Context's
// request_source of each attempt that has none: from the context
// (WithRequestSource), else def (the client's default; empty for none).
// A source set by the call itself wins over both, and a command without a
// kvrpcpb.Context is left alone. It writes only that field of the
// attempt's own Context copy (the transport package's middleware contract).
//
// It is built with transport.Around, so it keeps an asynchronous send
// asynchronous.
func TagRequestSource(def string) transport.Middleware {
	return transport.Around(func(ctx context.Context, req *transport.Request) (context.Context, *transport.Request, transport.After, error) {
		src, ok := RequestSourceFrom(ctx)
		if !ok {
			src = def
		}
		if src != "" {
			if rc := req.Cmd.Context(req.Msg); rc != nil && rc.RequestSource == "" {
				rc.RequestSource = src
			}
		}
		return ctx, req, nil, nil
	})
}
