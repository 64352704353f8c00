package pipeline

import (
	"testing"

	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline/pipelinetest"
	"github.com/tikvgo/tikv/transport"
)

// fakeCluster wires the pipelinetest kit the way this package's tests use
// it: truth is the cluster (layout, stores, data), the embedded Locator is
// the client's possibly stale cache of it (so c.Locate and c itself serve
// as the Locator), tikv answers attempts (scripted, else by the truth) and
// rec records every attempt.
type fakeCluster struct {
	*pipelinetest.Locator
	truth *pipelinetest.Cluster
	tikv  *pipelinetest.Sender
	rec   *pipelinetest.Recorder
}

// newFakeCluster builds regions split at the given keys, each with peers
// on stores 1 and 2 and led from store 1.
func newFakeCluster(splits ...string) *fakeCluster { return newFakeClusterOf(2, splits...) }

// newFakeClusterOf builds regions split at the given keys, each with a peer
// on every one of stores 1..stores and led from store 1.
func newFakeClusterOf(stores int, splits ...string) *fakeCluster {
	truth := pipelinetest.NewCluster(pipelinetest.WithStores(stores), pipelinetest.WithSplits(splits...))
	return &fakeCluster{
		Locator: pipelinetest.NewLocator(truth),
		truth:   truth,
		tikv:    pipelinetest.NewSender(truth),
		rec:     pipelinetest.NewRecorder(),
	}
}

// sender is the recorded fake TiKV.
func (c *fakeCluster) sender() transport.Sender { return c.rec.Wrap(c.tikv) }

// env runs plans over the kit's Locator.
func (c *fakeCluster) env() *Env { return &Env{Locator: c.Locator, Sender: c.sender()} }

// cachedEnv runs plans over the real region cache instead, for tests whose
// outcome depends on what the cache makes of TiKV's feedback: a
// pdclient.RegionCache over the kit's PD serving the truth (a store the
// truth marks down fails the cache's health check). The cache is closed
// when the test ends (inside the bubble under synctest).
func (c *fakeCluster) cachedEnv(t testing.TB) (*Env, *pipelinetest.PD, *pdclient.RegionCache) {
	t.Helper()
	pd := pipelinetest.NewPD(c.truth)
	cache := pdclient.NewRegionCache(pd, pdclient.WithProber(c.truth.Prober()))
	t.Cleanup(cache.Close)
	return &Env{Locator: cache, Sender: c.sender()}, pd, cache
}
