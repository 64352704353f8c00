package txn_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tikvgo/tikv/txn"
)

// BenchmarkPessimisticHotKey: pessimistic transactions that all lock,
// write and commit the same key, over loopback gRPC (and in-process for
// comparison), sequentially and from 8 goroutines (RunParallel with
// parallelism 4 on 2 cores): each op is Begin, LockKeys (waiting for the
// key), Set, Commit. It reports committed ops per second (locks/s) and the
// LockKeys calls that waited behind another holder (waits/op).
// Run: go test -run '^$' -bench PessimisticHotKey -benchmem ./txn/
func BenchmarkPessimisticHotKey(b *testing.B) {
	for _, grpc := range []bool{false, true} {
		for _, par := range []int{0, 4} {
			name := fmt.Sprintf("%s/parallel=%d", map[bool]string{false: "inprocess", true: "grpc"}[grpc], par)
			b.Run(name, func(b *testing.B) {
				client := benchClient(b, grpc)
				ctx := context.Background()
				key := []byte("k010")
				var waits atomic.Int64
				op := func() {
					t, err := client.Begin(ctx, txn.WithPessimistic())
					if err != nil {
						b.Error(err)
						return
					}
					start := time.Now()
					if err := t.LockKeys(ctx, nil, key); err != nil {
						b.Error(err)
						_ = t.Rollback()
						return
					}
					if time.Since(start) > 5*time.Millisecond {
						waits.Add(1)
					}
					if err := t.Set(key, []byte("v")); err != nil {
						b.Error(err)
					}
					if err := t.Commit(ctx); err != nil {
						b.Error(err)
					}
				}
				b.ReportAllocs()
				begin := time.Now()
				if par == 0 {
					for b.Loop() {
						op()
					}
				} else {
					b.SetParallelism(par)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							op()
						}
					})
				}
				b.ReportMetric(float64(b.N)/time.Since(begin).Seconds(), "locks/s")
				b.ReportMetric(float64(waits.Load())/float64(b.N), "waits/op")
			})
		}
	}
}
