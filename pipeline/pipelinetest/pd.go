package pipelinetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/opt"

	"github.com/tikvgo/tikv/pdclient"
)

// ErrPDUnavailable is what a PD failing region lookups answers (see
// PD.FailRegionLookupsUntil).
var ErrPDUnavailable = errors.New("pipelinetest: PD unavailable")

// PD is a pdclient.PD answering from a Cluster's true layout, for tests
// that run plans over the real pdclient.RegionCache rather than a Locator:
//
//	cache := pdclient.NewRegionCache(pipelinetest.NewPD(c), pdclient.WithProber(c.Prober()))
//	defer cache.Close()
//
// The cache starts from what PD knows, and only TiKV's feedback through
// the pipeline keeps it current once the test changes the layout. PD
// counts its calls by method name (Count) and can fail region lookups for
// a while. It is safe for concurrent use.
type PD struct {
	c *Cluster

	mu        sync.Mutex
	calls     map[string]int
	downUntil time.Time
}

// NewPD returns a PD serving c.
func NewPD(c *Cluster) *PD { return &PD{c: c, calls: map[string]int{}} }

var _ pdclient.PD = (*PD)(nil)

// Prober returns a pdclient.Prober for the cluster's store addresses (see
// StoreAddr): a store marked down is Unreachable, others Reachable.
func (c *Cluster) Prober() pdclient.Prober {
	return func(_ context.Context, addr string) pdclient.Liveness {
		id, ok := storeByAddr(addr)
		switch {
		case !ok:
			return pdclient.LivenessUnknown
		case c.StoreDown(id):
			return pdclient.Unreachable
		}
		return pdclient.Reachable
	}
}

// Count returns how often method (a pdclient.PD method name, such as
// "GetRegion") was called since the last ResetCounts.
func (p *PD) Count(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[method]
}

// RegionLookups sums the region lookups of every kind (GetRegion,
// GetPrevRegion, GetRegionByID, BatchScanRegions): the region cache's
// misses.
func (p *PD) RegionLookups() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls["GetRegion"] + p.calls["GetPrevRegion"] + p.calls["GetRegionByID"] + p.calls["BatchScanRegions"]
}

// ResetCounts zeroes the call counts.
func (p *PD) ResetCounts() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.calls)
}

// FailRegionLookupsUntil makes region lookups fail with ErrPDUnavailable
// until t (on the bubble's clock under testing/synctest).
func (p *PD) FailRegionLookupsUntil(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.downUntil = t
}

// call records a call to method and reports whether a region lookup is to
// fail.
func (p *PD) call(method string, lookup bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls[method]++
	if lookup && time.Now().Before(p.downUntil) {
		return ErrPDUnavailable
	}
	return nil
}

// find returns PD's answer for the first true region pred accepts, or nil
// (PD knows no such region).
func (p *PD) find(pred func(r *pdclient.Region) bool) *router.Region {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	if r := p.c.findLocked(pred); r != nil {
		return &router.Region{Meta: r.Meta(), Leader: r.Leader()}
	}
	return nil
}

// GetRegion returns the region holding key.
func (p *PD) GetRegion(_ context.Context, key []byte, _ ...opt.GetRegionOption) (*router.Region, error) {
	if err := p.call("GetRegion", true); err != nil {
		return nil, err
	}
	return p.find(func(r *pdclient.Region) bool { return r.Contains(key) }), nil
}

// GetPrevRegion returns the region that ends at key.
func (p *PD) GetPrevRegion(_ context.Context, key []byte, _ ...opt.GetRegionOption) (*router.Region, error) {
	if err := p.call("GetPrevRegion", true); err != nil {
		return nil, err
	}
	return p.find(func(r *pdclient.Region) bool { return len(r.EndKey()) > 0 && bytes.Equal(r.EndKey(), key) }), nil
}

// GetRegionByID returns the region with the given id.
func (p *PD) GetRegionByID(_ context.Context, id uint64, _ ...opt.GetRegionOption) (*router.Region, error) {
	if err := p.call("GetRegionByID", true); err != nil {
		return nil, err
	}
	return p.find(func(r *pdclient.Region) bool { return r.ID() == id }), nil
}

// BatchScanRegions returns the regions overlapping the ranges, in key
// order, at most limit when limit > 0.
func (p *PD) BatchScanRegions(_ context.Context, ranges []router.KeyRange, limit int, _ ...opt.GetRegionOption) ([]*router.Region, error) {
	if err := p.call("BatchScanRegions", true); err != nil {
		return nil, err
	}
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	var out []*router.Region
	for _, r := range p.c.regions {
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

func metaStore(s *pdclient.Store) *metapb.Store {
	return &metapb.Store{Id: s.ID, Address: s.Addr, State: s.State, Labels: s.Labels}
}

// GetStore returns the store's metadata.
func (p *PD) GetStore(_ context.Context, id uint64, _ ...opt.GetStoreOption) (*metapb.Store, error) {
	_ = p.call("GetStore", false)
	s := p.c.Store(id)
	if s == nil {
		return nil, fmt.Errorf("pipelinetest: PD knows no store %d", id)
	}
	return metaStore(s), nil
}

// GetAllStores returns every store's metadata.
func (p *PD) GetAllStores(context.Context, ...opt.GetStoreOption) ([]*metapb.Store, error) {
	_ = p.call("GetAllStores", false)
	var out []*metapb.Store
	for id := uint64(1); id <= uint64(p.c.StoreCount()); id++ {
		out = append(out, metaStore(p.c.Store(id)))
	}
	return out, nil
}

// GetTS returns the current time as a timestamp.
func (p *PD) GetTS(context.Context) (int64, int64, error) {
	_ = p.call("GetTS", false)
	return time.Now().UnixMilli(), 0, nil
}

// Close does nothing: PD owns no resources.
func (p *PD) Close() {}
