package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/opt"

	"github.com/tikvgo/tikv/pdclient"
)

// fakePD is PD for the pipeline tests that need the real region cache: it
// answers from a fakeCluster's true region layout, the same layout the fake
// TiKV checks epochs against. A pdclient.RegionCache over it starts from
// what PD knows, and only TiKV's feedback through the pipeline keeps it
// current after the test changes the layout. It counts calls by method and
// can be down for region lookups.
type fakePD struct {
	c *fakeCluster

	mu    sync.Mutex
	calls map[string]int
	// downUntil makes region lookups fail with errPDDown until then (on
	// the bubble's clock under synctest).
	downUntil time.Time
}

// errPDDown is what a failing fakePD answers.
var errPDDown = errors.New("fake PD: unavailable")

// cachedEnv returns an Env over the real region cache: its Locator is a
// pdclient.RegionCache over a fakePD serving c's true layout, its Sender
// c's fake TiKV. A store that c marks down fails the cache's health check.
// The cache is closed when the test ends (inside the bubble under
// synctest).
func (c *fakeCluster) cachedEnv(t testing.TB) (*Env, *fakePD, *pdclient.RegionCache) {
	t.Helper()
	pd := &fakePD{c: c, calls: map[string]int{}}
	cache := pdclient.NewRegionCache(pd, pdclient.WithProber(func(_ context.Context, addr string) pdclient.Liveness {
		var id uint64
		if _, err := fmt.Sscanf(addr, "store%d", &id); err != nil {
			return pdclient.LivenessUnknown
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.down[id] {
			return pdclient.Unreachable
		}
		return pdclient.Reachable
	}))
	t.Cleanup(cache.Close)
	return &Env{Locator: cache, Sender: c}, pd, cache
}

// count returns how often method was called since the last reset.
func (p *fakePD) count(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[method]
}

// regionCalls sums the region lookups of every kind.
func (p *fakePD) regionCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls["GetRegion"] + p.calls["GetPrevRegion"] + p.calls["GetRegionByID"] + p.calls["BatchScanRegions"]
}

func (p *fakePD) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.calls)
}

// call records a call to method and reports whether a region lookup is to
// fail.
func (p *fakePD) call(method string, lookup bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls[method]++
	if lookup && time.Now().Before(p.downUntil) {
		return errPDDown
	}
	return nil
}

// find returns PD's answer for the first true region pred accepts, or nil
// (PD knows no such region).
func (p *fakePD) find(pred func(r *pdclient.Region) bool) *router.Region {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	for _, r := range p.c.truth {
		if pred(r) {
			return &router.Region{Meta: r.Meta(), Leader: r.Leader()}
		}
	}
	return nil
}

func (p *fakePD) GetRegion(_ context.Context, key []byte, _ ...opt.GetRegionOption) (*router.Region, error) {
	if err := p.call("GetRegion", true); err != nil {
		return nil, err
	}
	return p.find(func(r *pdclient.Region) bool { return r.Contains(key) }), nil
}

func (p *fakePD) GetPrevRegion(_ context.Context, key []byte, _ ...opt.GetRegionOption) (*router.Region, error) {
	if err := p.call("GetPrevRegion", true); err != nil {
		return nil, err
	}
	return p.find(func(r *pdclient.Region) bool { return len(r.EndKey()) > 0 && bytes.Equal(r.EndKey(), key) }), nil
}

func (p *fakePD) GetRegionByID(_ context.Context, id uint64, _ ...opt.GetRegionOption) (*router.Region, error) {
	if err := p.call("GetRegionByID", true); err != nil {
		return nil, err
	}
	return p.find(func(r *pdclient.Region) bool { return r.ID() == id }), nil
}

func (p *fakePD) BatchScanRegions(_ context.Context, ranges []router.KeyRange, limit int, _ ...opt.GetRegionOption) ([]*router.Region, error) {
	if err := p.call("BatchScanRegions", true); err != nil {
		return nil, err
	}
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	var out []*router.Region
	for _, r := range p.c.truth {
		for _, kr := range ranges {
			if (len(kr.EndKey) == 0 || bytes.Compare(r.StartKey(), kr.EndKey) < 0) &&
				(len(r.EndKey()) == 0 || bytes.Compare(kr.StartKey, r.EndKey()) < 0) {
				out = append(out, &router.Region{Meta: r.Meta(), Leader: r.Leader()})
				break
			}
		}
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

func (p *fakePD) store(id uint64) *metapb.Store {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return &metapb.Store{Id: id, Address: fmt.Sprintf("store%d", id), State: metapb.StoreState_Up, Labels: p.c.labels[id]}
}

func (p *fakePD) GetStore(_ context.Context, id uint64, _ ...opt.GetStoreOption) (*metapb.Store, error) {
	_ = p.call("GetStore", false)
	if id == 0 || id > uint64(p.c.stores) {
		return nil, fmt.Errorf("fake PD: unknown store %d", id)
	}
	return p.store(id), nil
}

func (p *fakePD) GetAllStores(context.Context, ...opt.GetStoreOption) ([]*metapb.Store, error) {
	_ = p.call("GetAllStores", false)
	var out []*metapb.Store
	for id := uint64(1); id <= uint64(p.c.stores); id++ {
		out = append(out, p.store(id))
	}
	return out, nil
}

func (p *fakePD) GetTS(context.Context) (int64, int64, error) {
	_ = p.call("GetTS", false)
	return time.Now().UnixMilli(), 0, nil
}

func (p *fakePD) Close() {}

var _ pdclient.PD = (*fakePD)(nil)
