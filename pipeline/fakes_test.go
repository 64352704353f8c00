package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/transport"
)

// fakeCluster is a scripted cluster for pipeline tests: truth is the real
// region layout (what "PD" and "TiKV" know), cache is the client's possibly
// stale copy. It serves raw commands (Get, BatchGet, Put, BatchPut, Scan)
// with TiKV's epoch check, as the Sender of every pipeline test.
//
// It also implements pdclient.Locator over its own toy cache, for tests
// about the pipeline alone. Tests whose outcome depends on what the region
// cache does with TiKV's feedback (leader hints, invalidation, current
// regions from EpochNotMatch, store health) use cachedEnv instead: the real
// pdclient.RegionCache over a fake PD serving truth.
type fakeCluster struct {
	mu sync.Mutex
	// stores is the number of stores, and of peers per region.
	stores      int
	truth       []*pdclient.Region
	health      map[uint64]pdclient.Health
	labels      map[uint64][]*metapb.StoreLabel
	down        map[uint64]bool // stores whose sends fail and probes say unreachable
	busyReports []uint64
	probes      int
	cache       []*pdclient.Region
	data        map[string]string
	invalidated []uint64
	storeFails  []uint64
	sends       []*transport.Request
	// hook, when set, may answer a request before the fake TiKV does.
	hook func(req *transport.Request) (*transport.Response, error, bool)
}

// newFakeCluster builds regions split at the given keys, each with peers on
// stores 1 and 2 and led from store 1.
func newFakeCluster(splits ...string) *fakeCluster { return newFakeClusterOf(2, splits...) }

// newFakeClusterOf builds regions split at the given keys, each with a peer
// on every one of stores 1..stores and led from store 1.
func newFakeClusterOf(stores int, splits ...string) *fakeCluster {
	c := &fakeCluster{
		stores: stores,
		data:   map[string]string{},
		health: map[uint64]pdclient.Health{},
		labels: map[uint64][]*metapb.StoreLabel{},
		down:   map[uint64]bool{},
	}
	bounds := append([]string{""}, splits...)
	for i, start := range bounds {
		end := ""
		if i+1 < len(bounds) {
			end = bounds[i+1]
		}
		c.truth = append(c.truth, c.makeRegion(uint64(i+1), 1, start, end))
	}
	return c
}

func (c *fakeCluster) makeRegion(id, version uint64, start, end string) *pdclient.Region {
	var peers []*metapb.Peer
	for s := uint64(1); s <= uint64(c.stores); s++ {
		peers = append(peers, &metapb.Peer{Id: id*10 + s, StoreId: s})
	}
	meta := &metapb.Region{
		Id: id, StartKey: []byte(start), EndKey: []byte(end),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: version},
		Peers:       peers,
	}
	return pdclient.NewRegion(meta, peers[0])
}

// split splits the true region containing key; the cache is left stale.
func (c *fakeCluster) split(key string, newID uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range c.truth {
		if r.Contains([]byte(key)) {
			v := r.Ver().Version + 1
			left := c.makeRegion(r.ID(), v, string(r.StartKey()), key)
			right := c.makeRegion(newID, v, key, string(r.EndKey()))
			c.truth = append(c.truth[:i], append([]*pdclient.Region{left, right}, c.truth[i+1:]...)...)
			return
		}
	}
}

func (c *fakeCluster) sent() []*transport.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*transport.Request(nil), c.sends...)
}

// locate finds a region in the cache, or loads it from the truth into the
// cache (dropping overlapped cache entries), like a region cache would.
func (c *fakeCluster) locate(pred func(*pdclient.Region) bool) (*pdclient.Region, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.cache {
		if pred(r) {
			return r, nil
		}
	}
	for _, r := range c.truth {
		if pred(r) {
			kept := c.cache[:0]
			for _, old := range c.cache {
				if !overlaps(old, r) {
					kept = append(kept, old)
				}
			}
			c.cache = append(kept, r)
			sort.Slice(c.cache, func(i, j int) bool { return bytes.Compare(c.cache[i].StartKey(), c.cache[j].StartKey()) < 0 })
			return r, nil
		}
	}
	return nil, fmt.Errorf("no region")
}

func overlaps(a, b *pdclient.Region) bool {
	return (len(a.EndKey()) == 0 || bytes.Compare(b.StartKey(), a.EndKey()) < 0) &&
		(len(b.EndKey()) == 0 || bytes.Compare(a.StartKey(), b.EndKey()) < 0)
}

func (c *fakeCluster) Locate(_ context.Context, key []byte) (*pdclient.Region, error) {
	return c.locate(func(r *pdclient.Region) bool { return r.Contains(key) })
}

func (c *fakeCluster) LocateEndKey(_ context.Context, key []byte) (*pdclient.Region, error) {
	return c.locate(func(r *pdclient.Region) bool { return r.ContainsByEnd(key) })
}

func (c *fakeCluster) LocateByID(_ context.Context, id uint64) (*pdclient.Region, error) {
	return c.locate(func(r *pdclient.Region) bool { return r.ID() == id })
}

func (c *fakeCluster) LoadRange(ctx context.Context, start, end []byte, limit int) ([]*pdclient.Region, error) {
	var out []*pdclient.Region
	for {
		r, err := c.Locate(ctx, start)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
		if len(r.EndKey()) == 0 || (len(end) > 0 && bytes.Compare(r.EndKey(), end) >= 0) || (limit > 0 && len(out) >= limit) {
			return out, nil
		}
		start = r.EndKey()
	}
}

func (c *fakeCluster) Store(_ context.Context, id uint64) (*pdclient.Store, error) {
	return &pdclient.Store{ID: id, Addr: fmt.Sprintf("store%d", id)}, nil
}

func (c *fakeCluster) Stores(context.Context) ([]*pdclient.Store, error) {
	c.mu.Lock()
	n := c.stores
	c.mu.Unlock()
	out := make([]*pdclient.Store, n)
	for i := range out {
		out[i] = &pdclient.Store{ID: uint64(i + 1), Addr: fmt.Sprintf("store%d", i+1)}
	}
	return out, nil
}

func (c *fakeCluster) UpdateLeader(r *pdclient.Region, leader *metapb.Peer) *pdclient.Region {
	if r.PeerOnStore(leader.GetStoreId()) == nil {
		c.Invalidate(r)
		return nil
	}
	return r.WithLeader(leader)
}

func (c *fakeCluster) OnEpochNotMatch(r *pdclient.Region, _ uint64, _ []*metapb.Region) bool {
	c.Invalidate(r)
	return false
}

func (c *fakeCluster) Invalidate(r *pdclient.Region) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invalidated = append(c.invalidated, r.ID())
	kept := c.cache[:0]
	for _, old := range c.cache {
		if old.Ver() != r.Ver() {
			kept = append(kept, old)
		}
	}
	c.cache = kept
}

func (c *fakeCluster) OnStoreFailure(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.storeFails = append(c.storeFails, id)
}

func (c *fakeCluster) StoreLabels(id uint64) []*metapb.StoreLabel {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.labels[id]
}

func (c *fakeCluster) StoreHealth(id uint64) pdclient.Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health[id]
}

func (c *fakeCluster) ReportSendFailure(_ context.Context, id uint64, _ error) pdclient.Liveness {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.probes++
	if c.down[id] {
		h := c.health[id]
		h.Liveness = pdclient.Unreachable
		c.health[id] = h
		return pdclient.Unreachable
	}
	return pdclient.Reachable
}

func (c *fakeCluster) ReportLatency(uint64, time.Duration) {}

func (c *fakeCluster) UpdateBuckets(*pdclient.Region, *metapb.Buckets) {}

func (c *fakeCluster) ReportBusy(id uint64, wait time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busyReports = append(c.busyReports, id)
	h := c.health[id]
	if wait > 0 {
		h.EstimatedWait = wait
	} else {
		h.SlowScore = 100
	}
	c.health[id] = h
}

// setLeader moves the true leader of the region holding key to store.
func (c *fakeCluster) setLeader(key string, store uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range c.truth {
		if r.Contains([]byte(key)) {
			c.truth[i] = r.WithLeader(r.PeerOnStore(store))
		}
	}
}

// Send is the fake TiKV: the hook first, then TiKV's epoch check, then the
// raw command.
func (c *fakeCluster) Send(_ context.Context, req *transport.Request) (*transport.Response, error) {
	c.mu.Lock()
	c.sends = append(c.sends, req)
	hook := c.hook
	c.mu.Unlock()
	if hook != nil {
		if resp, err, ok := hook(req); ok {
			return resp, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rctx := req.Cmd.Context(req.Msg)
	var region *pdclient.Region
	for _, r := range c.truth {
		if r.ID() == rctx.GetRegionId() {
			region = r
		}
	}
	if c.down[req.Target.StoreID] {
		return nil, fmt.Errorf("%w: store %d is down", transport.ErrNotSent, req.Target.StoreID)
	}
	if region == nil {
		return regionErr(req.Cmd, &errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{RegionId: rctx.GetRegionId()}}), nil
	}
	if leader := region.Leader(); leader.GetStoreId() != req.Target.StoreID && !rctx.GetReplicaRead() && !rctx.GetStaleRead() {
		return regionErr(req.Cmd, &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: region.ID(), Leader: leader}}), nil
	}
	if rctx.GetRegionEpoch().GetVersion() != region.Epoch().GetVersion() {
		// TiKV's raftstore (fsm/peer.rs, find_sibling_region) answers with
		// the region as it is now plus one neighbour: the region right
		// after it when right_derive_when_split is off, the other half of
		// a split that kept the left part's id, as split does here.
		current := []*metapb.Region{region.Meta()}
		for _, r := range c.truth {
			if len(region.EndKey()) > 0 && bytes.Equal(r.StartKey(), region.EndKey()) {
				current = append(current, r.Meta())
			}
		}
		return regionErr(req.Cmd, &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: current}}), nil
	}
	switch m := req.Msg.(type) {
	case *kvrpcpb.RawGetRequest:
		v, ok := c.data[string(m.Key)]
		return &transport.Response{Msg: &kvrpcpb.RawGetResponse{Value: []byte(v), NotFound: !ok}}, nil
	case *kvrpcpb.RawPutRequest:
		c.data[string(m.Key)] = string(m.Value)
		return &transport.Response{Msg: &kvrpcpb.RawPutResponse{}}, nil
	case *kvrpcpb.RawBatchGetRequest:
		resp := &kvrpcpb.RawBatchGetResponse{}
		for _, k := range m.Keys {
			if !region.Contains(k) {
				return regionErr(req.Cmd, &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{Key: k}}), nil
			}
			if v, ok := c.data[string(k)]; ok {
				resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Key: k, Value: []byte(v)})
			}
		}
		return &transport.Response{Msg: resp}, nil
	case *kvrpcpb.RawBatchPutRequest:
		for _, p := range m.Pairs {
			if !region.Contains(p.Key) {
				return regionErr(req.Cmd, &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{Key: p.Key}}), nil
			}
		}
		for _, p := range m.Pairs {
			c.data[string(p.Key)] = string(p.Value)
		}
		return &transport.Response{Msg: &kvrpcpb.RawBatchPutResponse{}}, nil
	case *kvrpcpb.RawScanRequest:
		return &transport.Response{Msg: c.scanLocked(region, m)}, nil
	}
	return nil, fmt.Errorf("fake TiKV: unsupported %s", req.Cmd)
}

// scanLocked serves a raw scan bounded by the region, as TiKV does.
func (c *fakeCluster) scanLocked(region *pdclient.Region, m *kvrpcpb.RawScanRequest) *kvrpcpb.RawScanResponse {
	keys := make([]string, 0, len(c.data))
	for k := range c.data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lower, upper := m.StartKey, m.EndKey
	if m.Reverse {
		lower, upper = m.EndKey, m.StartKey
		sort.Sort(sort.Reverse(sort.StringSlice(keys)))
	}
	resp := &kvrpcpb.RawScanResponse{}
	for _, k := range keys {
		kb := []byte(k)
		if !region.Contains(kb) || bytes.Compare(kb, lower) < 0 || (len(upper) > 0 && bytes.Compare(kb, upper) >= 0) {
			continue
		}
		if m.Limit > 0 && len(resp.Kvs) >= int(m.Limit) {
			break
		}
		resp.Kvs = append(resp.Kvs, &kvrpcpb.KvPair{Key: kb, Value: []byte(c.data[k])})
	}
	return resp
}

func regionErr(cmd transport.Cmd, e *errorpb.Error) *transport.Response {
	msg := cmd.NewResponse()
	switch r := msg.(type) {
	case *kvrpcpb.RawGetResponse:
		r.RegionError = e
	case *kvrpcpb.RawPutResponse:
		r.RegionError = e
	case *kvrpcpb.RawBatchGetResponse:
		r.RegionError = e
	case *kvrpcpb.RawScanResponse:
		r.RegionError = e
	case *kvrpcpb.RawBatchPutResponse:
		r.RegionError = e
	default:
		panic(fmt.Sprintf("regionErr: %T", msg))
	}
	return &transport.Response{Msg: msg}
}

func (c *fakeCluster) env() *Env { return &Env{Locator: c, Sender: c} }

var _ pdclient.Locator = (*fakeCluster)(nil)
