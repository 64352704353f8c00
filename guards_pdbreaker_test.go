package tikv_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/opt"
	"github.com/tikv/pd/client/pkg/circuitbreaker"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/raw"
)

// regionLoadCounter counts the region-metadata reads that reach PD.
type regionLoadCounter struct {
	pdclient.PD
	n atomic.Int64
}

func (p *regionLoadCounter) GetRegion(ctx context.Context, key []byte, opts ...opt.GetRegionOption) (*router.Region, error) {
	p.n.Add(1)
	return p.PD.GetRegion(ctx, key, opts...)
}

func (p *regionLoadCounter) GetPrevRegion(ctx context.Context, key []byte, opts ...opt.GetRegionOption) (*router.Region, error) {
	p.n.Add(1)
	return p.PD.GetPrevRegion(ctx, key, opts...)
}

func (p *regionLoadCounter) GetRegionByID(ctx context.Context, id uint64, opts ...opt.GetRegionOption) (*router.Region, error) {
	p.n.Add(1)
	return p.PD.GetRegionByID(ctx, id, opts...)
}

func (p *regionLoadCounter) BatchScanRegions(ctx context.Context, ranges []router.KeyRange, limit int, opts ...opt.GetRegionOption) ([]*router.Region, error) {
	p.n.Add(1)
	return p.PD.BatchScanRegions(ctx, ranges, limit, opts...)
}

// TestPDRegionMetaBreaker runs in virtual time (core row 28): region loads
// that find PD unavailable for a whole error-rate window open the breaker;
// during the cool-down region loads fail without reaching PD; after it a
// probe that succeeds closes the breaker and reads work again.
func TestPDRegionMetaBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mock := mocktikv.NewCluster(mocktikv.WithStores(1))
		defer mock.Close()
		pd := &regionLoadCounter{PD: mock.PD()}
		cluster, err := tikv.Connect(context.Background(), nil, tikv.WithPD(pd), tikv.WithTransport(mock.Sender()),
			tikv.WithPDRegionMetaBreaker(circuitbreaker.Settings{
				ErrorRateThresholdPct: 50,
				ErrorRateWindow:       time.Second,
				MinQPSForOpen:         1,
				CoolDownInterval:      5 * time.Second,
				HalfOpenSuccessCount:  1,
			}))
		if err != nil {
			t.Fatal(err)
		}
		defer cluster.Close()
		client := raw.NewClient(cluster)
		key := []byte("k")

		// mocktikv's PD serves the three single-region reads as QueryRegion,
		// as PD client's router does.
		for _, m := range []string{"QueryRegion", "BatchScanRegions", "ScanRegions"} {
			mock.FailPD(m, status.Error(codes.Unavailable, "PD overloaded"), 0)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		_, err = client.Get(ctx, key)
		cancel()
		if err == nil {
			t.Fatal("Get with PD failing every region load succeeded")
		}
		failed := pd.n.Load()
		if failed < 2 {
			t.Fatalf("%d region loads reached PD in 1.5s, want the cache to have retried (Get: %v)", failed, err)
		}

		// The window has been judged: the breaker is open, region loads
		// fail without reaching PD for the cool-down, even though PD would
		// answer now.
		mock.ClearPDFaults()
		ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
		_, err = client.Get(ctx, key)
		cancel()
		if err == nil {
			t.Fatal("Get succeeded while the region-meta breaker should be open")
		}
		if n := pd.n.Load(); n != failed {
			t.Fatalf("%d region loads reached PD while the breaker was open, want none", n-failed)
		}

		time.Sleep(5 * time.Second) // the cool-down is over
		if err := client.Put(context.Background(), key, []byte("v")); err != nil {
			t.Fatalf("Put after the cool-down = %v", err)
		}
		if pd.n.Load() == failed {
			t.Fatal("no region load reached PD after the cool-down")
		}
	})
}
