package middleware_test

import (
	"context"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/transport"
)

// TestTagRequestOrigin ports client-go's TestDefaultRequestOrigin
// (tikvrpc/tikvrpc_test.go): with a default origin set, an attempt whose
// Context names none gets it, for a read and for the lock-resolution
// commands (ScanLock, Cleanup, CheckTxnStatus, CheckSecondaryLocks) alike,
// in the attempt's own Context only; an origin the request set itself is
// kept; the Unknown default installs no layer at all.
func TestTagRequestOrigin(t *testing.T) {
	var seen kvrpcpb.RequestOrigin
	terminal := transport.SenderFunc(func(_ context.Context, req *transport.Request) (*transport.Response, error) {
		seen = req.Cmd.Context(req.Msg).GetRequestOrigin()
		return &transport.Response{Msg: req.Cmd.NewResponse()}, nil
	})
	s := transport.Chain(terminal, middleware.TagRequestOrigin(kvrpcpb.RequestOrigin_RequestOriginTiDB))
	for _, c := range []transport.Cmd{transport.CmdGet, transport.CmdScanLock, transport.CmdCleanup,
		transport.CmdCheckTxnStatus, transport.CmdCheckSecondaryLocks, transport.CmdRawGet} {
		orig := c.NewRequest()
		msg, _ := c.CopyWithContext(orig)
		seen = kvrpcpb.RequestOrigin_RequestOriginUnknown
		if _, err := s.Send(t.Context(), &transport.Request{Cmd: c, Msg: msg}); err != nil {
			t.Fatal(err)
		}
		if seen != kvrpcpb.RequestOrigin_RequestOriginTiDB {
			t.Errorf("%s: origin %v, want TiDB", c, seen)
		}
		if c.Context(orig) != nil {
			t.Errorf("%s: the caller's request was modified", c)
		}
	}
	// A store-level command without a Context passes untouched.
	if _, err := s.Send(t.Context(), &transport.Request{Cmd: transport.CmdStoreSafeTS, Msg: &kvrpcpb.StoreSafeTSRequest{}}); err != nil {
		t.Fatal(err)
	}
	if middleware.TagRequestOrigin(kvrpcpb.RequestOrigin_RequestOriginUnknown) != nil {
		t.Fatal("an Unknown default installs a layer")
	}
}
