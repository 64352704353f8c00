package transport

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// BenchmarkCmdLookup measures the per-attempt table lookups of a built-in
// command (what the pipeline and the Pool do for every attempt): they must
// stay an array index, with no lock and no allocation beyond the request
// copy WithContext makes.
func BenchmarkCmdLookup(b *testing.B) {
	req := &kvrpcpb.RawGetRequest{Key: []byte("k")}
	rctx := &kvrpcpb.Context{RegionId: 1}
	b.ReportAllocs()
	for b.Loop() {
		c := CmdRawGet
		if !c.Valid() || c.IsWrite() || !c.HasContext() {
			b.Fatal("wrong row")
		}
		_ = c.Context(req)
		msg := c.WithContext(req, rctx)
		if c.FullMethod() == "" || c.String() == "" {
			b.Fatal("no name")
		}
		if _, ok := c.KeyMode(); !ok {
			b.Fatal("no mode")
		}
		if validateRequest(&Request{Cmd: c, Msg: msg, Target: Target{Addr: "a"}}) != nil {
			b.Fatal("invalid")
		}
	}
}
