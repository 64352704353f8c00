package middleware

import (
	"context"
	"encoding/hex"
	"log/slog"
	"strings"

	"github.com/tikvgo/tikv/internal/logging"
)

// Redaction says how log lines show user keys, TiDB's three redact-log
// modes (tidb_redact_log): keys in a line may be user data that must not
// reach the logs.
type Redaction uint8

const (
	// RedactOff logs keys as upper-case hex, as TiKV and client-go do.
	RedactOff Redaction = iota
	// RedactOn replaces every key with "?" (client-go's redact.Key).
	RedactOn
	// RedactMarker logs the hex between "‹" and "›", so that a tool can
	// strip or keep them later (TiDB's MARKER mode).
	RedactMarker
)

// String names the mode as TiDB's variable does: OFF, ON or MARKER.
func (r Redaction) String() string {
	switch r {
	case RedactOn:
		return "ON"
	case RedactMarker:
		return "MARKER"
	}
	return "OFF"
}

// Key renders a user key under r.
func (r Redaction) Key(k []byte) string {
	h := strings.ToUpper(hex.EncodeToString(k))
	switch r {
	case RedactOn:
		return "?"
	case RedactMarker:
		// Hex holds neither marker, so nothing inside needs escaping
		// (TiDB doubles a marker that occurs in the value).
		return "‹" + h + "›"
	}
	return h
}

// LogKey returns a log attribute carrying user key k. A handler made by
// RedactKeys (the cluster's logger under tikv.WithLogRedaction, and
// RequestLogging's) renders it under its Redaction; any other handler logs
// it as upper-case hex.
func LogKey(name string, k []byte) slog.Attr { return slog.Any(name, logging.Key(k)) }

// RedactKeys returns h rendering every LogKey attribute under r; h itself
// when r is RedactOff (LogKey's own form is RedactOff's).
func RedactKeys(h slog.Handler, r Redaction) slog.Handler {
	if r == RedactOff {
		return h
	}
	return logging.Redact(h, r.Key)
}

type callLoggerKey struct{}

// WithCallLogger returns a context whose calls log through l instead of the
// client's logger: RequestLogging writes a call's failed attempts to it,
// unthrottled (one call's lines are few) and redacted as the client's are.
// It is client-go's WithLogContext, with a *slog.Logger.
func WithCallLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, callLoggerKey{}, l)
}

// CallLogger returns the logger WithCallLogger attached to ctx, or nil.
func CallLogger(ctx context.Context) *slog.Logger {
	l, _ := ctx.Value(callLoggerKey{}).(*slog.Logger)
	return l
}
