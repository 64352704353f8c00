package tikv_test

import (
	"context"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// TestRequestOriginReachesTiKV: tikv.WithRequestOrigin (client-go's
// SetDefaultRequestOrigin, as a client option) is the request_origin TiKV
// receives on every command; without it requests carry Unknown. Over gRPC
// and in-process.
func TestRequestOriginReachesTiKV(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		for _, origin := range []kvrpcpb.RequestOrigin{kvrpcpb.RequestOrigin_RequestOriginTiDB, kvrpcpb.RequestOrigin_RequestOriginUnknown} {
			t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc]+"/"+origin.String(), func(t *testing.T) {
				var mock *mocktikv.Cluster
				var cluster *tikv.Cluster
				var err error
				opt := tikv.WithRequestOrigin(origin)
				if grpc {
					mock = mocktikv.Start(t)
					cluster, err = tikv.Connect(t.Context(), mock.PDAddrs(), opt)
				} else {
					mock = mocktikv.NewCluster()
					defer mock.Close()
					cluster, err = tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()), opt)
				}
				if err != nil {
					t.Fatal(err)
				}
				defer cluster.Close()
				var mu sync.Mutex
				seen := map[transport.Cmd]kvrpcpb.RequestOrigin{}
				mock.OnRequest(func(_ uint64, cmd transport.Cmd, msg transport.Message) {
					mu.Lock()
					seen[cmd] = cmd.Context(msg).GetRequestOrigin()
					mu.Unlock()
				})
				client := raw.NewClient(cluster)
				if err := client.Put(t.Context(), []byte("k"), []byte("v")); err != nil {
					t.Fatal(err)
				}
				if _, err := client.Get(t.Context(), []byte("k")); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, c := range []transport.Cmd{transport.CmdRawPut, transport.CmdRawGet} {
					if got, ok := seen[c]; !ok || got != origin {
						t.Errorf("%s reached TiKV with origin %v (seen %v), want %v", c, got, ok, origin)
					}
				}
			})
		}
	}
}
