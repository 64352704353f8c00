package txn_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/txn"
)

// benchClient connects a txn client to mocktikv over gRPC (loopback) or
// in-process, with a few regions.
func benchClient(b *testing.B, grpc bool) *txn.Client {
	b.Helper()
	var mock *mocktikv.Cluster
	var cluster *tikv.Cluster
	var err error
	if grpc {
		mock = mocktikv.Start(b, mocktikv.WithStores(3))
		cluster, err = tikv.Connect(context.Background(), mock.PDAddrs())
	} else {
		mock = mocktikv.NewCluster(mocktikv.WithStores(3))
		b.Cleanup(mock.Close)
		cluster, err = tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	}
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range []string{"k025", "k050", "k075"} {
		if _, err := mock.SplitTxn([]byte(k)); err != nil {
			b.Fatal(err)
		}
	}
	client := txn.NewClient(cluster)
	b.Cleanup(func() {
		client.Close(context.Background())
		cluster.Close()
	})
	return client
}

// BenchmarkTxnGet: a point read in a snapshot at a fresh ts each time
// (Begin's TSO included), of a committed key.
// Run: go test -run '^$' -bench TxnGet -benchmem ./txn/
func BenchmarkTxnGet(b *testing.B) {
	for _, grpc := range []bool{false, true} {
		b.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(b *testing.B) {
			client := benchClient(b, grpc)
			ctx := context.Background()
			if err := client.Update(ctx, func(ctx context.Context, t *txn.Txn) error { return t.Set([]byte("k001"), []byte("v")) }); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			start := processCPU(b)
			for b.Loop() {
				t, err := client.Begin(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := t.Get(ctx, []byte("k001")); err != nil {
					b.Fatal(err)
				}
				_ = t.Rollback()
			}
			reportCPU(b, start)
		})
	}
}

// BenchmarkTxnCommit: Begin, write n keys (spread over 4 regions when n >
// 1), Commit; the secondaries' background commit is waited for outside
// the timer only at the end (it overlaps the next transaction, as in an
// application).
func BenchmarkTxnCommit(b *testing.B) {
	for _, grpc := range []bool{false, true} {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%s/keys=%d", map[bool]string{false: "inprocess", true: "grpc"}[grpc], n), func(b *testing.B) {
				client := benchClient(b, grpc)
				ctx := context.Background()
				keys := make([][]byte, n)
				for i := range keys {
					keys[i] = fmt.Appendf(nil, "k%03d", i*100/n)
				}
				b.ReportAllocs()
				start := processCPU(b)
				for b.Loop() {
					t, err := client.Begin(ctx)
					if err != nil {
						b.Fatal(err)
					}
					for _, k := range keys {
						_ = t.Set(k, []byte("value"))
					}
					if err := t.Commit(ctx); err != nil {
						b.Fatal(err)
					}
				}
				reportCPU(b, start)
			})
		}
	}
}

// processCPU is the process's user + system CPU time so far (getrusage):
// with mocktikv in the same process, its share is included.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per op since start as "cpu-ns/op".
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
}
