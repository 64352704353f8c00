package twopc_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// BenchmarkCommitProtocols compares the commit of 1 and 10 keys in one
// region with two-phase commit, async commit and 1PC, linearizable (a TSO
// fetch for the min commit ts) and with causal consistency (none), in
// process and over gRPC on loopback. Each op takes a start ts and commits;
// the time is what the caller waits; the background commit phase (2PC's
// secondaries, async commit's every key) is waited for untimed after each
// op. rpcs/op counts the
// Prewrite and Commit RPCs the caller waited for, tso/op the committer's
// TSO fetches, cpu-ns/op the process's CPU (mocktikv included) per op,
// the background work included.
//
// Run: go test -run '^$' -bench CommitProtocols -benchmem ./txn/internal/twopc/
func BenchmarkCommitProtocols(b *testing.B) {
	protocols := []struct {
		name string
		opts twopc.Options
		want twopc.Protocol
	}{
		{"2pc", twopc.Options{}, twopc.ProtocolTwoPC},
		{"async", twopc.Options{AsyncCommit: true}, twopc.ProtocolAsyncCommit},
		{"async-causal", twopc.Options{AsyncCommit: true, CausalConsistency: true}, twopc.ProtocolAsyncCommit},
		{"1pc", twopc.Options{OnePC: true}, twopc.ProtocolOnePC},
		{"1pc-causal", twopc.Options{OnePC: true, CausalConsistency: true}, twopc.ProtocolOnePC},
	}
	for _, mode := range []string{"inprocess", "grpc"} {
		for _, n := range []int{1, 10} {
			for _, p := range protocols {
				b.Run(fmt.Sprintf("%s/keys=%d/%s", mode, n, p.name), func(b *testing.B) {
					f := newFixture(b, setup{grpc: mode == "grpc", opts: p.opts})
					muts := puts(n)
					ctx := context.Background()
					rpcs, tsos := 0, 0
					b.ReportAllocs()
					cpu := processCPU(b)
					b.ResetTimer()
					for b.Loop() {
						d, err := f.committer.Commit(ctx, twopc.Request{StartTS: f.ts(), Mutations: muts})
						if err != nil {
							b.Fatal(err)
						}
						if d.Protocol != p.want {
							b.Fatalf("protocol %v, want %v", d.Protocol, p.want)
						}
						rpcs += d.PrewriteRPCs + d.CommitRPCs
						tsos += d.TSOCalls
						b.StopTimer()
						f.settle()
						b.StartTimer()
					}
					b.ReportMetric(float64(rpcs)/float64(b.N), "rpcs/op")
					b.ReportMetric(float64(tsos)/float64(b.N), "tso/op")
					b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
				})
			}
		}
	}
}

// processCPU is the process's user + system CPU time so far (getrusage).
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
