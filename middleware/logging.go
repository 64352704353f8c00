package middleware

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/tikvgo/tikv/internal/logging"
	"github.com/tikvgo/tikv/transport"
)

// DefaultLogEvery is how long RequestLogging stays silent about a store it
// has just reported, counting the repeats instead (as the quiet default
// logger does for any message).
const DefaultLogEvery = 10 * time.Second

// LoggingConfig configures RequestLogging.
type LoggingConfig struct {
	// Logger receives the lines; nil means slog.Default(). (tikv.Connect
	// passes the cluster's logger when this is nil.)
	Logger *slog.Logger
	// Every is the repeat window: after a line about a store, further
	// failed attempts to that store within Every are counted and the
	// count is attached to the next line that goes out (default
	// DefaultLogEvery; a negative value logs every failure).
	Every time.Duration
}

// RequestLogging returns the layer that logs each failed attempt at
// warning level, with the command, store, address, region, logical call,
// attempt number, whether the request provably never left (not_sent) and
// the error. Lines are rate-limited per store and kind (sent or refused
// before sending), through the same limiter as tikvgo's quiet default
// logger: a store that is down produces one line per window, carrying the
// number of repeats dropped ("suppressed"), not one per attempt. Attempts
// whose context ended are the caller's doing and are not logged; neither
// are responses, whatever region or key errors they carry (the pipeline
// handles those). The layer is safe for concurrent use.
func RequestLogging(cfg LoggingConfig) transport.Middleware {
	l := cfg.Logger
	if l == nil {
		l = slog.Default()
	}
	every := cfg.Every
	if every == 0 {
		every = DefaultLogEvery
	}
	if every > 0 {
		l = slog.New(logging.RateLimit(l.Handler(), every, slog.LevelDebug))
	}
	return func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			resp, err := next.Send(ctx, req)
			if err != nil && ctx.Err() == nil && l.Enabled(ctx, slog.LevelWarn) {
				logFailure(ctx, l, req, err)
			}
			return resp, err
		})
	}
}

// logFailure writes one line. The store id is part of the message, so that
// the limiter, which keys on level and message, limits each store on its
// own: one dead store cannot hide another's first failure.
func logFailure(ctx context.Context, l *slog.Logger, req *transport.Request, err error) {
	notSent := errors.Is(err, transport.ErrNotSent)
	msg := "tikv: attempt to store " + strconv.FormatUint(req.Target.StoreID, 10) + " failed"
	if notSent {
		msg = "tikv: attempt to store " + strconv.FormatUint(req.Target.StoreID, 10) + " not sent"
	}
	l.LogAttrs(ctx, slog.LevelWarn, msg,
		slog.String("cmd", req.Cmd.String()),
		slog.Uint64("store", req.Target.StoreID),
		slog.String("addr", req.Target.Addr),
		slog.Uint64("region", req.Target.RegionID),
		slog.String("call", req.Call.String()),
		slog.Int("attempt", req.Attempt),
		slog.Bool("not_sent", notSent),
		slog.String("error", err.Error()),
	)
}
