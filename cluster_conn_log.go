package tikv

import (
	"context"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/connectivity"

	"github.com/tikvgo/tikv/internal/logging"
	"github.com/tikvgo/tikv/transport"
)

// connStateLogger returns the Pool's connection-state observer: one line
// per change of a gRPC connection's state through l (the cluster's
// logger), the event log beside the tikv.client.grpc.connections gauge. A
// failed connection attempt (TransientFailure) is a warning, every other
// change (Connecting, Ready, Idle, Shutdown) information. Lines are
// rate-limited per address, state and level, as the quiet default logger
// is (one line per logging.RepeatWindow, the next carrying how many were
// suppressed), so a store that flaps while down does not flood the log.
func connStateLogger(l *slog.Logger) func(transport.ConnStateChange) {
	l = slog.New(logging.RateLimit(l.Handler(), logging.RepeatWindow, slog.LevelDebug))
	return func(c transport.ConnStateChange) {
		level := slog.LevelInfo
		if c.To == connectivity.TransientFailure {
			level = slog.LevelWarn
		}
		// The address and state are in the message: the rate limit keys
		// on it, so each store's changes are limited on their own.
		l.Log(context.Background(), level, fmt.Sprintf("tikv: gRPC connection to %s is %s", c.Addr, c.To),
			"from", c.From.String(), "conn", c.Conn)
	}
}
