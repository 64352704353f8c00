package tikv

import (
	"context"
	"log/slog"

	"github.com/tikvgo/tikv/middleware"
)

// WithLogRedaction sets how the cluster's log lines show user keys, as
// TiDB's redact-log modes do: middleware.RedactOff (hex, the default),
// RedactOn ("?") or RedactMarker (hex between "‹" and "›"). It applies to
// every attribute that carries a key (middleware.LogKey) written through
// the cluster's logger (WithLogger's, or the quiet default) and to request
// logging (WithRequestLogging; a LoggingConfig.Redact of its own wins),
// per-call loggers (WithLogContext) included.
func WithLogRedaction(r middleware.Redaction) Option {
	return func(c *config) { c.logRedaction = r }
}

// WithLogContext returns a context whose calls log through l instead of the
// cluster's logger (client-go's WithLogContext): request logging writes the
// call's failed attempts to l, under the cluster's redaction.
func WithLogContext(ctx context.Context, l *slog.Logger) context.Context {
	return middleware.WithCallLogger(ctx, l)
}
