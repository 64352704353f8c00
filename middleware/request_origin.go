package middleware

import (
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// TagRequestOrigin returns the layer that sets kvrpcpb.Context's
// request_origin of every attempt that names none (RequestOriginUnknown) to
// origin: client-go's SetDefaultRequestOrigin, which TiDB sets once for the
// process so that TiKV can tell its requests from other clients'. Here it
// is a client's option (tikv.WithRequestOrigin), not process state. An
// origin the call set itself is kept, and a command without a
// kvrpcpb.Context is left alone. It writes only that field of the
// attempt's own Context copy. For RequestOriginUnknown it returns nil:
// there is nothing to fill, and Chain skips a nil layer.
func TagRequestOrigin(origin kvrpcpb.RequestOrigin) transport.Middleware {
	if origin == kvrpcpb.RequestOrigin_RequestOriginUnknown {
		return nil
	}
	return func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			if rc := req.Cmd.Context(req.Msg); rc != nil && rc.RequestOrigin == kvrpcpb.RequestOrigin_RequestOriginUnknown {
				rc.RequestOrigin = origin
			}
			return next.Send(ctx, req)
		})
	}
}
