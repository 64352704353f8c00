package twopc_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// BenchmarkCommit commits transactions of 1, 10 and 100 keys over four
// regions against mocktikv, in process and over gRPC (mocktikv runs in
// the benchmark's process either way, so B/op and allocs/op include the
// server's). Each op takes a start ts and commits: prewrite, commit ts,
// primary batch commit, as the caller waits for them. The secondaries'
// background commit is waited for after each op, untimed, so that the next
// transaction does not meet its locks (and the store keeps the same keys:
// fresh keys each op grew mocktikv's store and its cost per write with
// it). rpcs/op counts the prewrite and commit RPCs Commit itself sent.
func BenchmarkCommit(b *testing.B) {
	for _, mode := range []string{"inprocess", "grpc"} {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%s/keys=%d", mode, n), func(b *testing.B) {
				f := newFixture(b, setup{grpc: mode == "grpc", splits: []string{keyN(25), keyN(50), keyN(75)}})
				muts := make([]twopc.Mutation, n)
				for i := range muts {
					muts[i] = put(keyN(i*100/n), "value")
				}
				ctx := context.Background()
				rpcs := 0
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					d, err := f.committer.Commit(ctx, twopc.Request{StartTS: f.ts(), Mutations: muts})
					if err != nil {
						b.Fatal(err)
					}
					rpcs += d.PrewriteRPCs + d.CommitRPCs
					b.StopTimer()
					f.settle()
					b.StartTimer()
				}
				b.ReportMetric(float64(rpcs)/float64(b.N), "rpcs/op")
			})
		}
	}
}
