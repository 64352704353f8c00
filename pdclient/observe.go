package pdclient

import (
	"context"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/opt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/observe"
)

// observedPD reports each PD RPC the region cache makes to the Observer of
// the logical call it is made for (observe.PDCall), when one watches. Calls
// nobody watches pay two context lookups.
type observedPD struct{ PD }

// A call whose context carries an observe.CallStats records the RPC's time
// there too (client-go's WaitPDRespDuration), observer or not.
func pdCall[T any](ctx context.Context, method string, call func() (T, error)) (T, error) {
	_, observed := observe.Observed(ctx)
	stats := observe.CallStatsFrom(ctx)
	if !observed && stats == nil {
		return call()
	}
	start := time.Now()
	v, err := call()
	d := time.Since(start)
	if stats != nil {
		stats.RecordPD(method, d)
	}
	if observed {
		observe.Emit(ctx, observe.Event{Kind: observe.PDCall, Method: method, Duration: d, Err: err})
	}
	return v, err
}

func (p observedPD) GetRegion(ctx context.Context, key []byte, opts ...opt.GetRegionOption) (*router.Region, error) {
	return pdCall(ctx, "GetRegion", func() (*router.Region, error) { return p.PD.GetRegion(ctx, key, opts...) })
}

func (p observedPD) GetPrevRegion(ctx context.Context, key []byte, opts ...opt.GetRegionOption) (*router.Region, error) {
	return pdCall(ctx, "GetPrevRegion", func() (*router.Region, error) { return p.PD.GetPrevRegion(ctx, key, opts...) })
}

func (p observedPD) GetRegionByID(ctx context.Context, id uint64, opts ...opt.GetRegionOption) (*router.Region, error) {
	return pdCall(ctx, "GetRegionByID", func() (*router.Region, error) { return p.PD.GetRegionByID(ctx, id, opts...) })
}

func (p observedPD) BatchScanRegions(ctx context.Context, ranges []router.KeyRange, limit int, opts ...opt.GetRegionOption) ([]*router.Region, error) {
	return pdCall(ctx, "BatchScanRegions", func() ([]*router.Region, error) {
		return p.PD.BatchScanRegions(ctx, ranges, limit, opts...)
	})
}

// ScanRegions passes the deprecated scan through when the PD client has it
// (see regionScanner), and answers Unimplemented otherwise, as the caller
// would have concluded on its own.
func (p observedPD) ScanRegions(ctx context.Context, key, end []byte, limit int, opts ...opt.GetRegionOption) ([]*router.Region, error) {
	old, ok := p.PD.(regionScanner)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "pdclient: the PD client has no ScanRegions")
	}
	return pdCall(ctx, "ScanRegions", func() ([]*router.Region, error) { return old.ScanRegions(ctx, key, end, limit, opts...) })
}

func (p observedPD) GetStore(ctx context.Context, id uint64, opts ...opt.GetStoreOption) (*metapb.Store, error) {
	return pdCall(ctx, "GetStore", func() (*metapb.Store, error) { return p.PD.GetStore(ctx, id, opts...) })
}

func (p observedPD) GetAllStores(ctx context.Context, opts ...opt.GetStoreOption) ([]*metapb.Store, error) {
	return pdCall(ctx, "GetAllStores", func() ([]*metapb.Store, error) { return p.PD.GetAllStores(ctx, opts...) })
}

// missed reports a region-cache miss for key (or, with key nil, for the
// store storeID) to the call's Observer and returns the time the lookup
// started, for loaded; ok is false when nobody watches.
func missed(ctx context.Context, key []byte, storeID uint64) (start time.Time, ok bool) {
	if _, ok := observe.Observed(ctx); !ok {
		return time.Time{}, false
	}
	observe.Emit(ctx, observe.Event{Kind: observe.CacheMiss, Key: key, StoreID: storeID})
	return time.Now(), true
}

// loaded reports the end of a lookup that missed the cache.
func loaded(ctx context.Context, start time.Time, key []byte, r *Region, err error) {
	ev := observe.Event{Kind: observe.CacheLoad, Key: key, Duration: time.Since(start), Err: err}
	if r != nil {
		ev.RegionID = r.ID()
	}
	observe.Emit(ctx, ev)
}
