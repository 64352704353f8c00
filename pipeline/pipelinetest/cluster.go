package pipelinetest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/pdclient"
)

// Cluster is the truth of a test: the region layout PD and TiKV know, the
// stores and their state, and the data (a RawKV). A Locator serves a
// possibly stale copy of the layout to the pipeline, a Sender checks each
// attempt against it, and a PD answers region-cache loads from it.
//
// Regions are split at the keys given to NewCluster: with splits "d" and "m"
// there are regions 1 [, d), 2 [d, m) and 3 [m, ). Every region starts at
// epoch conf_ver 1, version 1, with peers on stores 1..WithReplicas, led
// from store 1. Keys are Go strings holding any bytes.
//
// A test changes the truth while plans run (Split, MoveLeader, SetStoreDown,
// ...); routing that was right becomes stale the way it does against a real
// cluster, and TiKV's answers (EpochNotMatch, NotLeader, a failed send) tell
// the pipeline so. A Cluster is safe for concurrent use.
type Cluster struct {
	mu       sync.Mutex
	stores   int
	replicas int
	regions  []*pdclient.Region // in key order, covering the key space
	down     map[uint64]bool
	labels   map[uint64][]*metapb.StoreLabel
	nextPeer uint64
	kv       *RawKV
}

// Option configures NewCluster.
type Option func(*clusterConfig)

type clusterConfig struct {
	stores, replicas int
	splits           []string
}

// WithStores sets the number of stores, ids 1..n (default 1).
func WithStores(n int) Option {
	return func(c *clusterConfig) { c.stores = n }
}

// WithReplicas sets how many peers each region has (default: one on every
// store). The peers are on stores 1..n, and the one on store 1 leads;
// MoveLeader moves leaders.
func WithReplicas(n int) Option {
	return func(c *clusterConfig) { c.replicas = n }
}

// WithSplits splits the key space at the given keys, in any order.
func WithSplits(keys ...string) Option {
	return func(c *clusterConfig) { c.splits = append(c.splits, keys...) }
}

// NewCluster builds a cluster from the options. It panics on a
// configuration no cluster could have (no stores, more replicas than
// stores, an empty or repeated split key): a test's setup is wrong.
func NewCluster(opts ...Option) *Cluster {
	cfg := clusterConfig{stores: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.replicas == 0 {
		cfg.replicas = cfg.stores
	}
	if cfg.stores < 1 || cfg.replicas < 1 || cfg.replicas > cfg.stores {
		panic(fmt.Sprintf("pipelinetest: %d replicas on %d stores", cfg.replicas, cfg.stores))
	}
	splits := slices.Clone(cfg.splits)
	slices.Sort(splits)
	for i, k := range splits {
		if k == "" || (i > 0 && splits[i-1] == k) {
			panic(fmt.Sprintf("pipelinetest: bad split keys %q", cfg.splits))
		}
	}
	c := &Cluster{
		stores:   cfg.stores,
		replicas: cfg.replicas,
		down:     map[uint64]bool{},
		labels:   map[uint64][]*metapb.StoreLabel{},
		kv:       NewRawKV(),
	}
	bounds := append([]string{""}, splits...)
	for i, start := range bounds {
		end := ""
		if i+1 < len(bounds) {
			end = bounds[i+1]
		}
		c.regions = append(c.regions, c.newRegionLocked(uint64(i+1), 1, start, end))
	}
	return c
}

// newRegionLocked makes region id at the given version with fresh peers,
// led by the first.
func (c *Cluster) newRegionLocked(id, version uint64, start, end string) *pdclient.Region {
	peers := make([]*metapb.Peer, c.replicas)
	for i := range peers {
		c.nextPeer++
		peers[i] = &metapb.Peer{Id: c.nextPeer, StoreId: uint64(i + 1)}
	}
	meta := &metapb.Region{
		Id: id, StartKey: []byte(start), EndKey: []byte(end),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: version},
		Peers:       peers,
	}
	return pdclient.NewRegion(meta, peers[0])
}

// KV returns the cluster's data, which the default Sender handler serves.
func (c *Cluster) KV() *RawKV { return c.kv }

// StoreCount returns the number of stores.
func (c *Cluster) StoreCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stores
}

// Regions returns the true layout, in key order.
func (c *Cluster) Regions() []*pdclient.Region {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.regions)
}

// RegionByKey returns the true region holding key.
func (c *Cluster) RegionByKey(key []byte) *pdclient.Region {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.findLocked(func(r *pdclient.Region) bool { return r.Contains(key) })
}

// RegionByID returns the true region with the given id, or nil.
func (c *Cluster) RegionByID(id uint64) *pdclient.Region {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.findLocked(func(r *pdclient.Region) bool { return r.ID() == id })
}

func (c *Cluster) findLocked(pred func(*pdclient.Region) bool) *pdclient.Region {
	for _, r := range c.regions {
		if pred(r) {
			return r
		}
	}
	return nil
}

// indexLocked returns the index of the region holding key.
func (c *Cluster) indexLocked(key string) int {
	for i, r := range c.regions {
		if r.Contains([]byte(key)) {
			return i
		}
	}
	panic("pipelinetest: the regions do not cover the key space")
}

// Split splits the region holding key at key, as TiKV does with
// right_derive_when_split off (its default is on, which derives the other
// way round; keeping the left part lets a test name the new region): the
// left part [start, key) keeps the region's id and peers, the right part
// [key, end) becomes region newID with new peers on the same stores and the
// same leader store; both get version+1.
// A newID of 0 picks the next unused id. Caches that held the old region
// are now stale. It returns the right part's id, and panics when key is
// already a region boundary or newID is taken.
func (c *Cluster) Split(key string, newID uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.indexLocked(key)
	r := c.regions[i]
	if string(r.StartKey()) == key {
		panic(fmt.Sprintf("pipelinetest: %q is already a region boundary", key))
	}
	if newID == 0 {
		for _, o := range c.regions {
			newID = max(newID, o.ID())
		}
		newID++
	} else if c.findLocked(func(o *pdclient.Region) bool { return o.ID() == newID }) != nil {
		panic(fmt.Sprintf("pipelinetest: region id %d is taken", newID))
	}
	ep := r.Epoch()
	epoch := &metapb.RegionEpoch{ConfVer: ep.GetConfVer(), Version: ep.GetVersion() + 1}
	leftMeta := &metapb.Region{Id: r.ID(), StartKey: r.StartKey(), EndKey: []byte(key), RegionEpoch: epoch, Peers: r.Peers()}
	left := pdclient.NewRegion(leftMeta, r.Leader())

	rightPeers := make([]*metapb.Peer, len(r.Peers()))
	var rightLeader *metapb.Peer
	for j, p := range r.Peers() {
		c.nextPeer++
		rightPeers[j] = &metapb.Peer{Id: c.nextPeer, StoreId: p.GetStoreId(), Role: p.GetRole()}
		if p.GetId() == r.Leader().GetId() {
			rightLeader = rightPeers[j]
		}
	}
	rightMeta := &metapb.Region{
		Id: newID, StartKey: []byte(key), EndKey: r.EndKey(),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: epoch.ConfVer, Version: epoch.Version},
		Peers:       rightPeers,
	}
	right := pdclient.NewRegion(rightMeta, rightLeader)
	c.regions = slices.Replace(c.regions, i, i+1, left, right)
	return newID
}

// MoveLeader makes the region holding key led by its peer on store (a
// leader transfer: the epoch does not change). It panics when the region
// has no peer there.
func (c *Cluster) MoveLeader(key string, store uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.indexLocked(key)
	p := c.regions[i].PeerOnStore(store)
	if p == nil {
		panic(fmt.Sprintf("pipelinetest: region %d has no peer on store %d", c.regions[i].ID(), store))
	}
	c.regions[i] = c.regions[i].WithLeader(p)
}

// SetPeerRole changes the role of the peer on store of the region holding
// key (a voter becoming a learner, say). Like TiKV's conf change it bumps
// the region's conf_ver. It panics when the region has no peer there or
// the peer leads the region.
func (c *Cluster) SetPeerRole(key string, store uint64, role metapb.PeerRole) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.indexLocked(key)
	r := c.regions[i]
	if p := r.PeerOnStore(store); p == nil || p.GetId() == r.Leader().GetId() {
		panic(fmt.Sprintf("pipelinetest: region %d: no follower on store %d", r.ID(), store))
	}
	meta := *r.Meta()
	meta.Peers = make([]*metapb.Peer, len(r.Peers()))
	for j, p := range r.Peers() {
		cp := *p
		if cp.StoreId == store {
			cp.Role = role
		}
		meta.Peers[j] = &cp
	}
	ep := r.Epoch()
	meta.RegionEpoch = &metapb.RegionEpoch{ConfVer: ep.GetConfVer() + 1, Version: ep.GetVersion()}
	nr := pdclient.NewRegion(&meta, nil)
	c.regions[i] = nr.WithLeader(nr.PeerOnStore(r.Leader().GetStoreId()))
}

// SetStoreDown marks a store down (or back up). Sends to a down store fail
// with an error wrapping transport.ErrNotSent, as a dial to a dead TiKV
// does, and health checks of it (Locator.ReportSendFailure, Prober) find it
// unreachable.
func (c *Cluster) SetStoreDown(store uint64, down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down[store] = down
}

// StoreDown reports whether the store is marked down.
func (c *Cluster) StoreDown(store uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.down[store]
}

// SetStoreLabels sets a store's labels, which PD reports and replica
// selection matches against.
func (c *Cluster) SetStoreLabels(store uint64, labels ...*metapb.StoreLabel) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.labels[store] = labels
}

// Store returns the store's metadata as PD reports it, or nil for an id
// outside 1..StoreCount. Its address is "store<id>".
func (c *Cluster) Store(id uint64) *pdclient.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == 0 || id > uint64(c.stores) {
		return nil
	}
	return &pdclient.Store{ID: id, Addr: StoreAddr(id), State: metapb.StoreState_Up, Labels: c.labels[id]}
}

// StoreAddr is the address the kit gives store id: "store<id>".
func StoreAddr(id uint64) string { return fmt.Sprintf("store%d", id) }

// storeByAddr parses an address made by StoreAddr.
func storeByAddr(addr string) (uint64, bool) {
	var id uint64
	if _, err := fmt.Sscanf(addr, "store%d", &id); err != nil {
		return 0, false
	}
	return id, true
}

// overlaps reports whether two regions' ranges intersect.
func overlaps(a, b *pdclient.Region) bool {
	return (len(a.EndKey()) == 0 || bytes.Compare(b.StartKey(), a.EndKey()) < 0) &&
		(len(b.EndKey()) == 0 || bytes.Compare(a.StartKey(), b.EndKey()) < 0)
}
