package raw_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// attempt is one physical attempt as a recording middleware saw it.
type attempt struct {
	cmd      transport.Cmd
	storeID  uint64
	regionID uint64
	n        int    // transport.Request.Attempt
	regErr   string // kv.RegionErrorKind of the response, "" when none
	err      error
}

// recorder is a client-wide middleware that logs every attempt.
type recorder struct {
	mu       sync.Mutex
	attempts []attempt
}

func (r *recorder) middleware(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		resp, err := next.Send(ctx, req)
		a := attempt{cmd: req.Cmd, storeID: req.Target.StoreID, regionID: req.Target.RegionID, n: req.Attempt, err: err}
		if resp != nil {
			if re, ok := resp.Msg.(interface{ GetRegionError() *errorpb.Error }); ok && re.GetRegionError() != nil {
				a.regErr = kv.RegionErrorKind(re.GetRegionError())
			}
		}
		r.mu.Lock()
		r.attempts = append(r.attempts, a)
		r.mu.Unlock()
		return resp, err
	})
}

func (r *recorder) take() []attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.attempts
	r.attempts = nil
	return out
}

// connectGRPC starts a mocktikv served over gRPC on loopback and connects a
// cluster to it through the real PD client and gRPC pool.
func connectGRPC(t *testing.T, mockOpts []mocktikv.Option, opts ...tikv.Option) (*mocktikv.Cluster, *tikv.Cluster, *raw.Client) {
	t.Helper()
	mock := mocktikv.Start(t, mockOpts...)
	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs(), opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cluster.Close() })
	return mock, cluster, raw.NewClient(cluster)
}

// connectInProcess runs the client on mocktikv's in-process PD and sender:
// no sockets, so it works inside testing/synctest bubbles.
func connectInProcess(t *testing.T, mockOpts []mocktikv.Option, opts ...tikv.Option) (*mocktikv.Cluster, *tikv.Cluster, *raw.Client) {
	t.Helper()
	mock := mocktikv.NewCluster(mockOpts...)
	opts = append([]tikv.Option{tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender())}, opts...)
	cluster, err := tikv.Connect(context.Background(), nil, opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		cluster.Close()
		mock.Close()
	})
	return mock, cluster, raw.NewClient(cluster)
}

func key(i int) []byte   { return fmt.Appendf(nil, "key%05d", i) }
func value(i int) []byte { return fmt.Appendf(nil, "value%05d", i) }

// regionOf returns the id of the region holding k as the mock sees it.
func regionOf(t *testing.T, mock *mocktikv.Cluster, k []byte) uint64 {
	t.Helper()
	r, _ := mock.RegionByKey(k)
	if r == nil {
		t.Fatalf("no region holds %q", k)
	}
	return r.GetId()
}
