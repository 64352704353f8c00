package tikv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
)

// TestClusterLifecycle covers client-go's KVStore lifecycle (core-12):
// ClusterID names PD's cluster; a goroutine started with Go sees its
// context cancelled by Close, and Close waits for it to return; once
// Close has begun, Closed is closed, IsClosed is true and Go refuses work
// with kv.ErrClosed. In process and over gRPC.
func TestClusterLifecycle(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(t *testing.T) {
			var cluster *tikv.Cluster
			var want uint64
			var err error
			if grpc {
				mock := mocktikv.Start(t, mocktikv.WithStores(1))
				want = mock.ClusterID()
				cluster, err = tikv.Connect(t.Context(), mock.PDAddrs())
			} else {
				mock := mocktikv.NewCluster(mocktikv.WithStores(1))
				t.Cleanup(mock.Close)
				want = mock.ClusterID()
				cluster, err = tikv.Connect(t.Context(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cluster.ClusterID(); got != want || got == 0 {
				t.Fatalf("ClusterID = %d, want PD's %d", got, want)
			}
			if cluster.IsClosed() {
				t.Fatal("a new Cluster reports closed")
			}
			started, finished := make(chan struct{}), make(chan struct{})
			if err := cluster.Go(func(ctx context.Context) {
				close(started)
				<-ctx.Done()
				time.Sleep(20 * time.Millisecond) // Close must wait for this
				close(finished)
			}); err != nil {
				t.Fatal(err)
			}
			<-started
			if err := cluster.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-finished:
			default:
				t.Fatal("Close returned before the goroutine it owns")
			}
			select {
			case <-cluster.Closed():
			default:
				t.Fatal("Closed() is open after Close")
			}
			if !cluster.IsClosed() {
				t.Fatal("IsClosed is false after Close")
			}
			if err := cluster.Go(func(context.Context) { t.Error("ran after Close") }); !errors.Is(err, kv.ErrClosed) {
				t.Fatalf("Go after Close = %v, want kv.ErrClosed", err)
			}
		})
	}
}
