package raw_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/raw"
)

// nopObserver watches every call and does nothing: what an installed
// observer costs the plan itself.
type nopObserver struct{}

func (nopObserver) Start(ctx context.Context, _ observe.Call) context.Context { return ctx }
func (nopObserver) Event(context.Context, observe.Event)                      {}
func (nopObserver) End(context.Context, observe.Call, error)                  {}

// BenchmarkRawGetObserver compares a raw Get with no observer installed
// (the default) and with one that does nothing, in-process (no sockets:
// the client's and mocktikv's CPU only) and over gRPC with BatchCommands.
// Run: go test -run '^$' -bench RawGetObserver -benchmem ./raw/
func BenchmarkRawGetObserver(b *testing.B) {
	for _, obs := range []struct {
		name string
		opts []tikv.Option
	}{
		{"none", nil},
		{"observer", []tikv.Option{tikv.WithObserver(nopObserver{})}},
	} {
		b.Run("inprocess/"+obs.name, func(b *testing.B) {
			mock := mocktikv.NewCluster(mocktikv.WithStores(1))
			defer mock.Close()
			opts := append([]tikv.Option{tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender())}, obs.opts...)
			cluster, err := tikv.Connect(context.Background(), nil, opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer cluster.Close()
			benchGet(b, raw.NewClient(cluster))
		})
		b.Run("grpc/"+obs.name, func(b *testing.B) {
			mock := mocktikv.Start(b, mocktikv.WithStores(1))
			cluster, err := tikv.Connect(context.Background(), mock.PDAddrs(), obs.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer cluster.Close()
			benchGet(b, raw.NewClient(cluster))
		})
	}
}

// benchGet runs sequential Gets and reports, besides time and
// allocations, the process's CPU time per Get ("cpu-ns/op": user + system,
// from getrusage; the embedded mocktikv's share included, the same in both
// variants), which one caller's wall time over loopback does not show.
func benchGet(b *testing.B, client *raw.Client) {
	ctx := context.Background()
	if err := client.Put(ctx, key(1), value(1)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := processCPU(b)
	for b.Loop() {
		if _, err := client.Get(ctx, key(1)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
