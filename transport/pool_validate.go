package transport

import (
	"time"

	"github.com/tikvgo/tikv/kv"
)

// MinKeepaliveTimeout is the shortest keepalive timeout (WithKeepalive)
// ValidatePoolOptions accepts, client-go's lower bound for
// TiKVClient.GrpcKeepAliveTimeout (0.05 s). A shorter wait drops healthy
// connections whenever a ping's answer queues behind a large response or
// one scheduling hiccup, and every dropped connection fails the calls in
// flight on it.
const MinKeepaliveTimeout = 50 * time.Millisecond

// ValidatePoolOptions checks the settings opts would give a Pool, as
// client-go's TiKVClient.Valid checks its gRPC settings, and returns an
// error wrapping kv.ErrInvalidArgument for the first one out of range: a
// keepalive timeout under MinKeepaliveTimeout. NewPool itself never fails
// (it keeps whatever it is given), so callers that take pool options from
// a user, tikv.Connect among them, call this first. It opens nothing.
func ValidatePoolOptions(opts ...PoolOption) error {
	cfg := poolConfig{keepaliveTimeout: DefaultKeepaliveTimeout}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.keepaliveTimeout < MinKeepaliveTimeout {
		return kv.InvalidArgument("transport: keepalive timeout %v is under the minimum %v", cfg.keepaliveTimeout, MinKeepaliveTimeout)
	}
	return nil
}
