package txn_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tikvgo/tikv/txn"
)

// BenchmarkPipelinedCommit: a transaction of 20000 keys (about 1.3 MB)
// over 4 regions, begun, written and committed, with two-phase commit and
// pipelined (flushed every 2000 keys while it writes). Reported per
// transaction: the time of the whole transaction and of its Commit call.
// Run: go test -run '^$' -bench PipelinedCommit -benchtime 5x ./txn/
func BenchmarkPipelinedCommit(b *testing.B) {
	const n = 20000
	value := make([]byte, 48)
	for _, grpc := range []bool{false, true} {
		for _, pipelined := range []bool{false, true} {
			name := fmt.Sprintf("%s/%s", map[bool]string{false: "inprocess", true: "grpc"}[grpc],
				map[bool]string{false: "2pc", true: "pipelined"}[pipelined])
			b.Run(name, func(b *testing.B) {
				client := benchClient(b, grpc)
				ctx := context.Background()
				var opts []txn.BeginOption
				if pipelined {
					opts = append(opts, txn.WithPipelined(txn.PipelinedOptions{MinFlushKeys: 2000, MinFlushSize: 1}))
				}
				var commitNs int64
				for b.Loop() {
					tx, err := client.Begin(ctx, opts...)
					if err != nil {
						b.Fatal(err)
					}
					for i := range n {
						if err := tx.Set(fmt.Appendf(nil, "k%03d%06d", i%100, i), value); err != nil {
							b.Fatal(err)
						}
					}
					start := time.Now()
					if err := tx.Commit(ctx); err != nil {
						b.Fatal(err)
					}
					commitNs += int64(time.Since(start))
				}
				b.ReportMetric(float64(commitNs)/float64(b.N)/1e6, "commit-ms/txn")
			})
		}
	}
}
