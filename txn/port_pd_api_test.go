package txn_test

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// storeSafeTS scripts every store's GetStoreSafeTS answer (client-go's
// storeSafeTsMockClient in pd_api_test.go): each store answers safeTS and
// the answers are counted.
type storeSafeTS struct {
	safeTS   atomic.Uint64
	requests atomic.Int64
}

// install makes every store of mock answer GetStoreSafeTS with s.safeTS.
func (s *storeSafeTS) install(mock *mocktikv.Cluster) {
	mock.Inject(mocktikv.Fault{Cmd: transport.CmdStoreSafeTS, Steps: []mocktikv.Step{
		mocktikv.Always(mocktikv.Respond(func(transport.Message) transport.Message {
			s.requests.Add(1)
			return &kvrpcpb.StoreSafeTSResponse{SafeTs: s.safeTS.Load()}
		})),
	}})
}

// safeTSInterval is the refresh interval of the ported min-resolved-ts
// tests: short, so that the gRPC runs (real time) stay fast.
const safeTSInterval = 20 * time.Millisecond

// runSafeTS runs body in process inside a synctest bubble (where waiting
// for the refresh costs no real time) and over gRPC, on 3 stores whose
// answers s scripts; wait(want) lets a refresh that started after the call
// finish, then requires MinSafeTS to be want.
func runSafeTS(t *testing.T, body func(t *testing.T, p *portCluster, s *storeSafeTS, wait func(want uint64))) {
	t.Run("grpc=false", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := newPortCluster(t, false, []mocktikv.Option{mocktikv.WithStores(3)},
				txn.WithSafeTSUpdateInterval(safeTSInterval))
			s := &storeSafeTS{}
			s.install(p.mock)
			body(t, p, s, func(want uint64) {
				t.Helper()
				p.client.MinSafeTS()
				synctest.Wait()
				time.Sleep(safeTSInterval)
				synctest.Wait()
				require.Equal(t, want, p.client.MinSafeTS())
			})
		})
	})
	t.Run("grpc=true", func(t *testing.T) {
		p := newPortCluster(t, true, []mocktikv.Option{mocktikv.WithStores(3)},
			txn.WithSafeTSUpdateInterval(safeTSInterval))
		s := &storeSafeTS{}
		s.install(p.mock)
		body(t, p, s, func(want uint64) {
			t.Helper()
			// Refreshes run one after another and each asks the 3 stores:
			// once 6 more requests arrived, a whole refresh that started
			// after this call has stored its minimum.
			from := s.requests.Load()
			p.client.MinSafeTS()
			deadline := time.Now().Add(10 * time.Second)
			for s.requests.Load() < from+6 {
				require.True(t, time.Now().Before(deadline), "no refresh")
				time.Sleep(5 * time.Millisecond)
			}
			require.Equal(t, want, p.client.MinSafeTS())
		})
	})
}

// TestPortInitClusterMinResolvedTSZero ports client-go's pd_api_test.go
// TestInitClusterMinResolvedTSZero, store half: while every store answers
// safe ts 0 (no initialised resolved ts), MinSafeTS is 0, never
// MaxUint64 (the "nothing seen" start of the minimum); once the stores
// answer 150, it advances to 150. client-go's middle step reads 100 from
// PD's min-resolved-ts HTTP API, which txn.Client does not use (it asks
// the stores only), so that step is not ported.
func TestPortInitClusterMinResolvedTSZero(t *testing.T) {
	runSafeTS(t, func(t *testing.T, p *portCluster, s *storeSafeTS, wait func(uint64)) {
		wait(0)
		assert.NotEqual(t, uint64(0), s.requests.Load(), "the stores were asked")

		s.safeTS.Store(150)
		wait(150)
	})
}

// TestPortClusterMinResolvedTSFromStores ports the cluster-wide (global
// txn scope) part of client-go's TestDCLabelClusterMinResolvedTS and
// TestGetStoresMinResolvedTS: with every store answering 150, MinSafeTS
// becomes 150 and came from GetStoreSafeTS requests. Not ported: the PD
// HTTP path (client-go reads 100 from PD and sends no store request),
// since txn.Client never asks PD for min resolved ts, and the per-DC scope
// (a store labelled zone=testDC), since MinSafeTS is global only.
func TestPortClusterMinResolvedTSFromStores(t *testing.T) {
	runSafeTS(t, func(t *testing.T, p *portCluster, s *storeSafeTS, wait func(uint64)) {
		s.safeTS.Store(150)

		wait(150)
		assert.GreaterOrEqual(t, s.requests.Load(), int64(3), "each of the 3 stores was asked")

		// A later, larger answer moves it forward; it is a refresh, not a
		// one-off.
		s.safeTS.Store(151)
		wait(151)
	})
}
