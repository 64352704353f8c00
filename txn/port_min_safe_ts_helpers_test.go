package txn_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// minSafeTSCluster is a mocktikv cluster whose stores answer
// GetStoreSafeTS with scripted values (client-go's storeSafeTsMockClient
// in tikv/kv_test.go and integration_tests/pd_api_test.go), counting the
// requests, with a txn.Client on it; PD's min-resolved-ts answers are
// scripted with mock.InjectMinResolvedTS.
type minSafeTSCluster struct {
	t        *testing.T
	mock     *mocktikv.Cluster
	client   *txn.Client
	ids      []uint64                  // store ids, ascending
	safeTS   map[uint64]*atomic.Uint64 // store id -> its GetStoreSafeTS answer
	requests atomic.Int64              // GetStoreSafeTS requests served
	// settle lets background work that is due finish: synctest.Wait in
	// process, nothing over gRPC.
	settle func()
}

// minSafeTSInterval is the refresh interval of these tests: short, so
// that the gRPC runs (real time) stay fast.
const minSafeTSInterval = 20 * time.Millisecond

// runMinSafeTS runs body in process inside a synctest bubble (waiting for
// refreshes costs no real time) and over gRPC (where the client reads
// PD's min resolved ts through pd/client/http from the mock's HTTP API),
// on a cluster of len(labels) stores, store i labelled labels[i] before
// the client connects.
func runMinSafeTS(t *testing.T, labels []map[string]string, body func(t *testing.T, c *minSafeTSCluster)) {
	t.Run("grpc=false", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			body(t, newMinSafeTSCluster(t, false, labels))
		})
	})
	t.Run("grpc=true", func(t *testing.T) {
		body(t, newMinSafeTSCluster(t, true, labels))
	})
}

func newMinSafeTSCluster(t *testing.T, grpc bool, labels []map[string]string) *minSafeTSCluster {
	t.Helper()
	opts := []mocktikv.Option{mocktikv.WithStores(len(labels))}
	var mock *mocktikv.Cluster
	if grpc {
		mock = mocktikv.Start(t, opts...)
	} else {
		mock = mocktikv.NewCluster(opts...)
		t.Cleanup(mock.Close)
	}
	c := &minSafeTSCluster{t: t, mock: mock, ids: mock.StoreIDs(), safeTS: map[uint64]*atomic.Uint64{}, settle: func() {}}
	if !grpc {
		c.settle = synctest.Wait
	}
	for i, id := range c.ids {
		if err := mock.SetStoreLabels(id, labels[i]); err != nil {
			t.Fatal(err)
		}
		v := &atomic.Uint64{}
		c.safeTS[id] = v
		mock.Inject(mocktikv.Fault{Cmd: transport.CmdStoreSafeTS, Store: id, Steps: []mocktikv.Step{
			mocktikv.Always(mocktikv.Respond(func(transport.Message) transport.Message {
				c.requests.Add(1)
				return &kvrpcpb.StoreSafeTSResponse{SafeTs: v.Load()}
			})),
		}})
	}
	var cluster *tikv.Cluster
	var err error
	if grpc {
		cluster, err = tikv.Connect(t.Context(), mock.PDAddrs())
	} else {
		cluster, err = tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	}
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	c.client = txn.NewClient(cluster, txn.WithSafeTSUpdateInterval(minSafeTSInterval))
	t.Cleanup(func() {
		if err := c.client.Close(context.Background()); err != nil {
			t.Errorf("client close: %v", err)
		}
		cluster.Close()
	})
	return c
}

// setSafeTS sets what store id answers GetStoreSafeTS.
func (c *minSafeTSCluster) setSafeTS(id, ts uint64) { c.safeTS[id].Store(ts) }

// eventually waits, refresh interval by refresh interval, until cond
// holds, and fails the test if it does not within 500 intervals (virtual
// time in process). It asks MinSafeTS first, which starts the refreshes.
func (c *minSafeTSCluster) eventually(msg string, cond func() bool) {
	c.t.Helper()
	c.client.MinSafeTS()
	for range 500 {
		c.settle()
		if cond() {
			return
		}
		time.Sleep(minSafeTSInterval)
	}
	c.t.Fatalf("never happened: %s (min safe ts %d)", msg, c.client.MinSafeTS())
}

// refreshes lets n more whole refreshes run (each a refresh interval
// apart) after the call.
func (c *minSafeTSCluster) refreshes(n int) {
	c.t.Helper()
	c.client.MinSafeTS()
	for range n + 1 {
		c.settle()
		time.Sleep(minSafeTSInterval)
	}
	c.settle()
}
