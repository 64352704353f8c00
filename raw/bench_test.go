package raw_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// BenchmarkRawGetConcurrent measures raw Get through the whole client (plan,
// selector, middleware chain, pool) against mocktikv over loopback gRPC, with
// 64 and 256 concurrent callers, over BatchCommands and over unary RPCs.
// The server runs in the same process, so allocs/op include its work,
// unless TIKVGO_BENCH_PD names the PD of a mocktikv (or cluster) in another
// process: then the figures are the client's alone.
//
//	go test -run '^$' -bench RawGetConcurrent -benchmem ./raw/
func BenchmarkRawGetConcurrent(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts []transport.PoolOption
	}{
		{"batch", nil},
		{"unary", []transport.PoolOption{transport.WithoutBatch()}},
	} {
		for _, callers := range []int{64, 256} {
			b.Run(fmt.Sprintf("%s/c%d", mode.name, callers), func(b *testing.B) {
				pd := strings.Split(os.Getenv("TIKVGO_BENCH_PD"), ",")
				if pd[0] == "" {
					pd = mocktikv.Start(b, mocktikv.WithStores(2), mocktikv.WithSplitKeys(key(500))).PDAddrs()
				}
				cluster, err := tikv.Connect(context.Background(), pd, tikv.WithPoolOptions(mode.opts...))
				if err != nil {
					b.Fatal(err)
				}
				defer cluster.Close()
				client := raw.NewClient(cluster)
				var keys, values [][]byte
				for i := range 1000 {
					keys, values = append(keys, key(i)), append(values, value(i))
				}
				if err := client.BatchPut(context.Background(), keys, values); err != nil {
					b.Fatal(err)
				}
				b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						if _, err := client.Get(context.Background(), keys[i%len(keys)]); err != nil {
							b.Error(err)
							return
						}
						i += 7
					}
				})
			})
		}
	}
}
