package tikv

import "github.com/pingcap/kvproto/pkg/kvrpcpb"

// WithRequestOrigin sets the request_origin of every request whose call
// names none (middleware.TagRequestOrigin): client-go's process-wide
// SetDefaultRequestOrigin, as a client option. The zero origin
// (RequestOriginUnknown, the default) leaves requests as they are.
func WithRequestOrigin(origin kvrpcpb.RequestOrigin) Option {
	return func(c *config) { c.requestOrigin = origin }
}
