package pdclient

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/opt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakePD scripts the PD calls the cache and oracle make: a sorted region
// table, a store table and a TSO on the (possibly virtual) clock. It counts
// calls by method and lets a test hold GetRegion or make it answer nil.
type fakePD struct {
	mu      sync.Mutex
	regions []*router.Region // sorted by start key, may have gaps
	stores  map[uint64]*metapb.Store
	calls   map[string]int
	scans   []router.KeyRange // BatchScanRegions ranges, in call order

	nilRegions int           // GetRegion answers nil this many more times
	hold       chan struct{} // when set, GetRegion waits for it to close
	storeErr   error         // GetStore fails with it when set
	tsErr      error
	// oldPD makes BatchScanRegions answer Unimplemented, as PDs older than
	// it do; ScanRegions serves instead.
	oldPD   bool
	buckets map[uint64]*metapb.Buckets // sent with regions, by region id

	lastPhysical, logical int64
}

func newFakePD(regions ...*metapb.Region) *fakePD {
	f := &fakePD{stores: make(map[uint64]*metapb.Store), calls: make(map[string]int)}
	f.setRegions(regions...)
	return f
}

// region builds region metadata with one peer (id = id*100+store) on each
// store.
func region(id uint64, start, end string, ver, confVer uint64, stores ...uint64) *metapb.Region {
	m := &metapb.Region{
		Id:          id,
		StartKey:    []byte(start),
		EndKey:      []byte(end),
		RegionEpoch: &metapb.RegionEpoch{Version: ver, ConfVer: confVer},
	}
	for _, s := range stores {
		m.Peers = append(m.Peers, &metapb.Peer{Id: id*100 + s, StoreId: s})
	}
	return m
}

// setRegions replaces PD's region table; each region is led by its first
// peer.
func (f *fakePD) setRegions(regions ...*metapb.Region) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.regions = f.regions[:0]
	for _, m := range regions {
		var leader *metapb.Peer
		if len(m.Peers) > 0 {
			leader = m.Peers[0]
		}
		f.regions = append(f.regions, &router.Region{Meta: m, Leader: leader, Buckets: f.buckets[m.GetId()]})
	}
	slices.SortFunc(f.regions, func(a, b *router.Region) int { return bytes.Compare(a.Meta.StartKey, b.Meta.StartKey) })
}

func (f *fakePD) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *fakePD) resetCounts() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.calls)
	f.scans = nil
}

func (f *fakePD) called(method string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
}

// indexOf returns the index of the region containing key, or -1.
func (f *fakePD) indexOfLocked(key []byte) int {
	for i, r := range f.regions {
		if NewRegion(r.Meta, nil).Contains(key) {
			return i
		}
	}
	return -1
}

func (f *fakePD) GetRegion(ctx context.Context, key []byte, _ ...opt.GetRegionOption) (*router.Region, error) {
	f.called("GetRegion")
	f.mu.Lock()
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nilRegions > 0 {
		f.nilRegions--
		return nil, nil
	}
	if i := f.indexOfLocked(key); i >= 0 {
		return f.regions[i], nil
	}
	return nil, nil
}

func (f *fakePD) GetPrevRegion(_ context.Context, key []byte, _ ...opt.GetRegionOption) (*router.Region, error) {
	f.called("GetPrevRegion")
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := f.indexOfLocked(key); i > 0 {
		return f.regions[i-1], nil
	}
	return nil, nil
}

func (f *fakePD) GetRegionByID(_ context.Context, id uint64, _ ...opt.GetRegionOption) (*router.Region, error) {
	f.called("GetRegionByID")
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.regions {
		if r.Meta.Id == id {
			return r, nil
		}
	}
	return nil, nil
}

func (f *fakePD) ScanRegions(ctx context.Context, key, end []byte, limit int, opts ...opt.GetRegionOption) ([]*router.Region, error) {
	f.called("ScanRegions")
	return f.scanLocked(ctx, []router.KeyRange{{StartKey: key, EndKey: end}}, limit)
}

func (f *fakePD) BatchScanRegions(ctx context.Context, ranges []router.KeyRange, limit int, _ ...opt.GetRegionOption) ([]*router.Region, error) {
	f.called("BatchScanRegions")
	f.mu.Lock()
	old := f.oldPD
	f.mu.Unlock()
	if old {
		return nil, status.Error(codes.Unimplemented, "unknown method BatchScanRegions")
	}
	return f.scanLocked(ctx, ranges, limit)
}

func (f *fakePD) scanLocked(_ context.Context, ranges []router.KeyRange, limit int) ([]*router.Region, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scans = append(f.scans, ranges...)
	var out []*router.Region
	for _, r := range f.regions {
		for _, kr := range ranges {
			m := r.Meta
			if (len(kr.EndKey) == 0 || bytes.Compare(m.StartKey, kr.EndKey) < 0) &&
				(len(m.EndKey) == 0 || bytes.Compare(kr.StartKey, m.EndKey) < 0) {
				out = append(out, r)
				break
			}
		}
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

func (f *fakePD) setStore(s *metapb.Store) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stores[s.Id] = s
}

func (f *fakePD) GetStore(_ context.Context, id uint64, _ ...opt.GetStoreOption) (*metapb.Store, error) {
	f.called("GetStore")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.storeErr != nil {
		return nil, f.storeErr
	}
	s, ok := f.stores[id]
	if !ok {
		return nil, errors.New("invalid store ID, not found")
	}
	return s, nil
}

func (f *fakePD) GetAllStores(context.Context, ...opt.GetStoreOption) ([]*metapb.Store, error) {
	f.called("GetAllStores")
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*metapb.Store
	for _, s := range f.stores {
		out = append(out, s)
	}
	return out, nil
}

func (f *fakePD) GetTS(context.Context) (int64, int64, error) {
	f.called("GetTS")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tsErr != nil {
		return 0, 0, f.tsErr
	}
	p := time.Now().UnixMilli()
	if p <= f.lastPhysical {
		f.logical++
		return f.lastPhysical, f.logical, nil
	}
	f.lastPhysical, f.logical = p, 0
	return p, 0, nil
}

func (f *fakePD) Close() {}

var _ PD = (*fakePD)(nil)
