package middleware

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

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
	// Redact is how the lines show user keys (the attempt's first key,
	// attribute "key"); RedactOff, the zero value, logs them as hex.
	Redact Redaction
}

// RequestLogging returns the layer that logs each failed attempt at
// warning level, with the command, store, address, region, the attempt's
// first key (redacted as cfg.Redact says), logical call, attempt number,
// whether the request provably never left (not_sent) and the error. A
// call whose context carries a logger (WithCallLogger) is logged there
// instead, without the rate limit. Lines are rate-limited per store and kind (sent or refused
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
	h := RedactKeys(l.Handler(), cfg.Redact)
	if every > 0 {
		h = logging.RateLimit(h, every, slog.LevelDebug)
	}
	l = slog.New(h)
	return func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			resp, err := next.Send(ctx, req)
			if err != nil && ctx.Err() == nil {
				to := l
				if cl := CallLogger(ctx); cl != nil {
					to = slog.New(RedactKeys(cl.Handler(), cfg.Redact))
				}
				if to.Enabled(ctx, slog.LevelWarn) {
					logFailure(ctx, to, req, err)
				}
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
	if req.Target.ForwardedHost != "" {
		// Sent through a follower that forwards it (tikv.WithForwarding):
		// addr is the proxy's.
		l.LogAttrs(ctx, slog.LevelWarn, msg,
			slog.String("cmd", req.Cmd.String()),
			slog.Uint64("store", req.Target.StoreID),
			slog.String("addr", req.Target.Addr),
			slog.Uint64("proxy_store", req.Target.ProxyStoreID),
			slog.String("forwarded_host", req.Target.ForwardedHost),
			slog.Uint64("region", req.Target.RegionID),
			LogKey("key", firstKey(req.Msg)),
			slog.String("call", req.Call.String()),
			slog.Int("attempt", req.Attempt),
			slog.Bool("not_sent", notSent),
			slog.String("error", err.Error()),
		)
		return
	}
	l.LogAttrs(ctx, slog.LevelWarn, msg,
		slog.String("cmd", req.Cmd.String()),
		slog.Uint64("store", req.Target.StoreID),
		slog.String("addr", req.Target.Addr),
		slog.Uint64("region", req.Target.RegionID),
		LogKey("key", firstKey(req.Msg)),
		slog.String("call", req.Call.String()),
		slog.Int("attempt", req.Attempt),
		slog.Bool("not_sent", notSent),
		slog.String("error", err.Error()),
	)
}

// firstKey returns the first user key a request names, through the getters
// kvrpcpb's messages share (Key, StartKey, Keys, Mutations, PrimaryLock),
// or nil.
func firstKey(msg transport.Message) []byte {
	switch m := msg.(type) {
	case interface{ GetKey() []byte }:
		return m.GetKey()
	case interface{ GetStartKey() []byte }:
		return m.GetStartKey()
	case interface{ GetKeys() [][]byte }:
		if ks := m.GetKeys(); len(ks) > 0 {
			return ks[0]
		}
	case interface{ GetMutations() []*kvrpcpb.Mutation }:
		if ms := m.GetMutations(); len(ms) > 0 {
			return ms[0].GetKey()
		}
	case interface{ GetPrimaryLock() []byte }:
		return m.GetPrimaryLock()
	}
	return nil
}
