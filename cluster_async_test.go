package tikv_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// asyncCluster connects to a fresh mock cluster over gRPC or in-process.
func asyncCluster(t *testing.T, grpc bool) *tikv.Cluster {
	t.Helper()
	var (
		cluster *tikv.Cluster
		err     error
	)
	if grpc {
		mock := mocktikv.Start(t, mocktikv.WithStores(2))
		cluster, err = tikv.Connect(t.Context(), mock.PDAddrs())
	} else {
		mock := mocktikv.NewCluster(mocktikv.WithStores(2))
		t.Cleanup(mock.Close)
		cluster, err = tikv.Connect(t.Context(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = cluster.Close() })
	return cluster
}

// TestPlanStartOnCluster runs region-aware plans asynchronously with the
// Cluster as their Spawner (client-go's SendReqAsync, the region-aware
// form of the asynchronous API), over both transports: many puts started
// at once, their Futures awaited, then gets answered through callbacks on
// one RunLoop. Close stops what is left and refuses new plans.
func TestPlanStartOnCluster(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			cluster := asyncCluster(t, grpc)
			if grpc {
				_, ok := cluster.Sender().(transport.AsyncSender)
				require.True(t, ok, "the default chain keeps sends asynchronous")
			}
			raw := plans.NewRaw(cluster.EnvFor(kv.ModeRaw))
			ctx := context.Background()

			const n = 50
			puts := make([]*pipeline.Future[*kvrpcpb.RawPutResponse], n)
			for i := range puts {
				puts[i] = pipeline.Start(cluster, ctx, raw.Put, &kvrpcpb.RawPutRequest{
					Key: fmt.Appendf(nil, "k%03d", i), Value: fmt.Appendf(nil, "v%d", i),
				})
			}
			for _, f := range puts {
				_, err := f.Result()
				require.NoError(t, err)
			}

			var loop transport.RunLoop
			got := make(map[string]string)
			for i := range n {
				key := fmt.Sprintf("k%03d", i)
				pipeline.Go(cluster, ctx, raw.Get, &kvrpcpb.RawGetRequest{Key: []byte(key)},
					transport.OnExecutor(&loop, func(resp *kvrpcpb.RawGetResponse, err error) {
						require.NoError(t, err)
						got[key] = string(resp.Value) // on the loop: no lock needed
					}))
			}
			for ran := 0; ran < n; {
				k, err := loop.Exec(ctx)
				require.NoError(t, err)
				ran += k
			}
			require.Len(t, got, n)
			require.Equal(t, "v7", got["k007"])

			require.NoError(t, cluster.Close())
			_, err := pipeline.Start(cluster, ctx, raw.Get, &kvrpcpb.RawGetRequest{Key: []byte("k000")}).Result()
			require.ErrorIs(t, err, kv.ErrClosed)
			require.ErrorIs(t, err, transport.ErrNotSent)
		})
	}
}

// TestClusterSenderSendAsync sends one attempt asynchronously through the
// Cluster's middleware chain (the seam client-go's SendRequestAsync is),
// addressed by hand from the region cache, over both transports: the
// write lands (a raw Get reads it back), the callback runs once, and a
// ctx already done sends nothing.
func TestClusterSenderSendAsync(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			cluster := asyncCluster(t, grpc)
			ctx := context.Background()
			cache := cluster.RegionCacheFor(kv.ModeRaw)
			key := []byte("async-key")
			region, err := cache.Locate(ctx, key)
			require.NoError(t, err)
			leader := region.Leader()
			store, err := cache.Store(ctx, leader.GetStoreId())
			require.NoError(t, err)
			put := func() *transport.Request {
				return &transport.Request{
					Cmd: transport.CmdRawPut,
					Msg: &kvrpcpb.RawPutRequest{
						Context: &kvrpcpb.Context{RegionId: region.ID(), RegionEpoch: region.Epoch(), Peer: leader},
						Key:     key, Value: []byte("v"),
					},
					Target: transport.Target{StoreID: store.ID, Addr: store.Addr, RegionID: region.ID(), Peer: leader},
				}
			}

			done, cancel := context.WithCancel(ctx)
			cancel()
			var calls int
			transport.SendAsync(done, cluster.Sender(), put(), func(_ *transport.Response, err error) {
				calls++
				require.ErrorIs(t, err, transport.ErrNotSent)
			})
			require.Equal(t, 1, calls, "refused before it was sent")
			_, err = raw.NewClient(cluster).Get(ctx, key)
			require.ErrorIs(t, err, kv.ErrNotFound, "nothing was written")

			var loop transport.RunLoop
			transport.SendAsync(ctx, cluster.Sender(), put(), transport.OnExecutor(&loop, func(resp *transport.Response, err error) {
				calls++
				require.NoError(t, err)
				require.Nil(t, resp.Msg.(*kvrpcpb.RawPutResponse).GetRegionError())
			}))
			n, err := loop.Exec(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			require.Equal(t, 2, calls)
			got, err := raw.NewClient(cluster).Get(ctx, key)
			require.NoError(t, err)
			require.Equal(t, "v", string(got))
		})
	}
}

// TestClusterSenderAsyncFallbackIsOwned: an asynchronous send through the
// Cluster's Sender that meets a synchronous layer (here a user middleware
// that holds the attempt until its ctx ends) continues on a goroutine the
// Cluster owns: Close cancels it, the callback hears the cancellation, and
// Close returns only after it did. Both transports.
func TestClusterSenderAsyncFallbackIsOwned(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			held := make(chan struct{}, 1)
			hold := func(next transport.Sender) transport.Sender {
				return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
					held <- struct{}{}
					<-ctx.Done()
					return nil, ctx.Err()
				})
			}
			var cluster *tikv.Cluster
			var err error
			if grpc {
				mock := mocktikv.Start(t, mocktikv.WithStores(1))
				cluster, err = tikv.Connect(t.Context(), mock.PDAddrs(), tikv.WithMiddleware(hold))
			} else {
				mock := mocktikv.NewCluster(mocktikv.WithStores(1))
				t.Cleanup(mock.Close)
				cluster, err = tikv.Connect(t.Context(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()), tikv.WithMiddleware(hold))
			}
			require.NoError(t, err)
			ctx := context.Background()
			region, err := cluster.RegionCacheFor(kv.ModeRaw).Locate(ctx, []byte("k"))
			require.NoError(t, err)
			store, err := cluster.RegionCacheFor(kv.ModeRaw).Store(ctx, region.Leader().GetStoreId())
			require.NoError(t, err)
			req := &transport.Request{
				Cmd:    transport.CmdRawGet,
				Msg:    &kvrpcpb.RawGetRequest{Context: &kvrpcpb.Context{RegionId: region.ID(), RegionEpoch: region.Epoch(), Peer: region.Leader()}, Key: []byte("k")},
				Target: transport.Target{StoreID: store.ID, Addr: store.Addr, RegionID: region.ID(), Peer: region.Leader()},
			}
			var got atomic.Value
			transport.SendAsync(ctx, cluster.Sender(), req, func(_ *transport.Response, err error) { got.Store(fmt.Sprint(err)) })
			<-held
			require.Nil(t, got.Load(), "answered while the layer holds it")
			require.NoError(t, cluster.Close())
			require.Contains(t, got.Load(), context.Canceled.Error(), "Close must cancel the send and wait for its callback")

			// After Close, a send that needs the fallback is refused unsent.
			var after error
			transport.SendAsync(ctx, cluster.Sender(), req, func(_ *transport.Response, err error) { after = err })
			require.ErrorIs(t, after, transport.ErrNotSent)
		})
	}
}
