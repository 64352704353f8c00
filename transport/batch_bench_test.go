package transport

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
)

// benchTikv answers RawGet with a fixed value, unary or batched (a whole
// batch in one response, as TiKV answers fast reads), recording nothing.
type benchTikv struct {
	tikvpb.UnimplementedTikvServer
}

var benchValue = make([]byte, 64)

func (*benchTikv) RawGet(context.Context, *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	return &kvrpcpb.RawGetResponse{Value: benchValue}, nil
}

func (s *benchTikv) BatchCommands(stream tikvpb.Tikv_BatchCommandsServer) error {
	return serveBatchStream(stream, func(ctx context.Context, _ Cmd, msg Message) (Message, error) {
		return s.RawGet(ctx, msg.(*kvrpcpb.RawGetRequest))
	}, true, nil)
}

// BenchmarkPoolRawGet compares unary calls with BatchCommands for RawGet
// against a loopback server in this process, with 64 and 256 concurrent
// callers (b.SetParallelism scales GOMAXPROCS to them). allocs/op counts the
// server's allocations as well as the client's.
func BenchmarkPoolRawGet(b *testing.B) {
	addr := startTikv(b, &benchTikv{})
	modes := []struct {
		name string
		opts []PoolOption
	}{
		{"unary", []PoolOption{WithoutBatch()}},
		{"batch", nil},
	}
	for _, m := range modes {
		for _, callers := range []int{64, 256} {
			b.Run(fmt.Sprintf("%s/c%d", m.name, callers), func(b *testing.B) {
				p := NewPool(m.opts...)
				defer p.Close()
				ctx := context.Background()
				if _, err := p.Send(ctx, rawGet(addr, "k")); err != nil {
					b.Fatal(err)
				}
				b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					req := rawGet(addr, "k")
					for pb.Next() {
						if _, err := p.Send(ctx, req); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkPoolRawGetAsync issues RawGets with SendAsync from one
// goroutine, keeping up to `window` in flight (a semaphore refilled by the
// callbacks), against the same loopback server: the asynchronous
// counterpart of BenchmarkPoolRawGet's batch/c64 and c256, with one
// caller goroutine instead of 64 or 256.
func BenchmarkPoolRawGetAsync(b *testing.B) {
	addr := startTikv(b, &benchTikv{})
	for _, window := range []int{64, 256} {
		b.Run(fmt.Sprintf("w%d", window), func(b *testing.B) {
			p := NewPool()
			defer p.Close()
			ctx := context.Background()
			if _, err := p.Send(ctx, rawGet(addr, "k")); err != nil {
				b.Fatal(err)
			}
			slots := make(chan struct{}, window)
			cb := func(_ *Response, err error) {
				if err != nil {
					b.Error(err)
				}
				<-slots
			}
			req := rawGet(addr, "k")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				slots <- struct{}{}
				p.SendAsync(ctx, req, cb)
			}
			for range window {
				slots <- struct{}{}
			}
		})
	}
}
