package mocktikv

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/internal/codec"
)

// Option configures a Cluster built by NewCluster or Start.
type Option func(*config)

type config struct {
	stores    int
	splitKeys [][]byte
	keyspaces []string // pd_keyspace.go
	// keyspaceLevelGC names keyspaces with keyspace-level GC
	// (pd_gc_keyspace.go).
	keyspaceLevelGC map[string]bool

	raw rawConfig // raw_options.go

	tls *tls.Config // server_tls.go

	healthInterval time.Duration // health_feedback.go

	controlAPI bool // control_http.go
}

// WithStores sets the number of stores (default 1). Every region has a peer
// on every store. n < 1 is treated as 1.
func WithStores(n int) Option {
	return func(c *config) { c.stores = max(n, 1) }
}

// WithSplitKeys sets the initial region boundaries, as raw keys: k keys give
// k+1 regions. Empty and duplicate keys are ignored; order does not matter.
func WithSplitKeys(keys ...[]byte) Option {
	return func(c *config) {
		for _, k := range keys {
			c.splitKeys = append(c.splitKeys, bytes.Clone(k))
		}
	}
}

// WithTxnSplitKeys sets initial region boundaries at transactional user
// keys: each key is split at in its stored, memcomparable-encoded form, as
// TiKV stores transactional keys. It combines with WithSplitKeys.
func WithTxnSplitKeys(userKeys ...[]byte) Option {
	return func(c *config) {
		for _, k := range userKeys {
			c.splitKeys = append(c.splitKeys, codec.EncodeBytes(nil, k))
		}
	}
}

// Cluster is an in-memory TiKV cluster: a PD, stores and one shared raw
// engine. All its methods are safe for concurrent use.
type Cluster struct {
	clusterID uint64
	tls       *tls.Config // serve with TLS when set (server_tls.go)
	// controlAPI serves the control API on PD's address (control_http.go).
	controlAPI bool
	engine     *rawEngine
	tso        tsoAllocator
	observers  observerList

	// PD-only state, each with its own lock, never held with mu:
	// keyspace metadata (pd_keyspace.go), GC states (pd_gc.go), scripted
	// PD faults (pd_faults.go), scatter operators and min resolved ts
	// (pd_operators.go).
	keyspaces *keyspaceRegistry
	gc        *gcStates
	pdFaults  *pdFaultState
	pdMisc    *pdMiscState
	rm        *rmState // resource groups (pd_resource_manager.go)

	// mu guards the topology: ids, stores' metadata and up/down state, and
	// the region layout. Request handlers hold it for reading while they
	// check a request and execute it, so a Split or TransferLeader is ordered
	// before or after each request, as a raft log orders them.
	mu      sync.RWMutex
	lastID  uint64
	stores  map[uint64]*storeState
	order   []uint64       // store ids, ascending
	regions []*regionState // sorted by start key; they tile the key space
	byID    map[uint64]*regionState

	// txn is the transactional (MVCC) side: txn_handlers.go.
	txn *txnState
	// detached owns the in-process handlers an attempt's timeout stopped
	// waiting for (tikv_server.go).
	detached *detachedHandlers
	// faults holds scripted faults: faults.go.
	faults *faultState
	// health is the stores' health feedback: health_feedback.go.
	health *healthState
	// externalTS is PD's external timestamp: pd_external_ts.go.
	externalTS externalTSState

	// srv is the network side (Serve, StopStore, StartStore, Close). Its
	// mutex is never held while mu is wanted by a handler that the server
	// might be waiting for.
	srv servers
}

// storeState is one store. meta is owned by the Cluster and copied out.
type storeState struct {
	meta    *metapb.Store
	stopped bool
	// life ends when the store stops (kill), as the process dies: requests
	// the in-process Sender has in flight on it are cut off then
	// (tikv_server.go). StartStore gives the store a new life.
	life context.Context
	kill context.CancelFunc
	// cut is set while the client cannot reach the store (PartitionClient)
	// though the other stores can; cutLife ends when the cut begins, so
	// that requests in flight from the client are cut off as the closed
	// connections cut them over gRPC (forwarding.go).
	cut     bool
	cutLife context.Context
	cutKill context.CancelFunc
}

// newStoreState returns a running store with metadata meta.
func newStoreState(meta *metapb.Store) *storeState {
	life, kill := context.WithCancel(context.Background())
	cutLife, cutKill := context.WithCancel(context.Background())
	return &storeState{meta: meta, life: life, kill: kill, cutLife: cutLife, cutKill: cutKill}
}

// regionState is one region. It and everything it points to are owned by
// the Cluster and copy-on-write: a change builds a new regionState (see
// with) and replaces the old one, so a pointer read under mu may be used
// after the lock is released.
type regionState struct {
	meta        *metapb.Region
	leaderStore uint64 // 0: no leader

	// downPeers maps the ids of peers the leader reports down to the time
	// they went down; pendingPeers lists peers lagging behind the log. PD
	// learns both from region heartbeats and reports them with the region.
	downPeers    map[uint64]time.Time
	pendingPeers []uint64
	// buckets are the region's buckets as TiKV reports them to PD (keys
	// from the region's start to its end), or nil.
	buckets *metapb.Buckets
}

// with returns a copy of r changed by f; r itself is left untouched.
func (r *regionState) with(f func(*regionState)) *regionState {
	cp := *r
	f(&cp)
	return &cp
}

// leader returns the leader peer, or nil when the region has none.
func (r *regionState) leader() *metapb.Peer {
	return peerOnStore(r.meta, r.leaderStore)
}

// storeVersion is what the mock stores report as their TiKV version; clients
// gate features on it.
const storeVersion = "9.0.0"

// NewCluster builds an in-memory cluster. Nothing listens until Serve; PD()
// and Sender() work without it.
func NewCluster(opts ...Option) *Cluster {
	cfg := config{stores: 1, healthInterval: DefaultHealthFeedbackInterval}
	for _, o := range opts {
		o(&cfg)
	}
	c := &Cluster{
		// PD derives its cluster id from the bootstrap time; so do we, so
		// that two clusters in one test process are told apart.
		clusterID:  uint64(time.Now().UnixNano())>>1 | 1,
		engine:     newRawEngine(cfg.raw),
		tls:        cfg.tls,
		controlAPI: cfg.controlAPI,
		txn:        newTxnState(),
		detached:   newDetachedHandlers(),
		faults:     newFaultState(),
		health:     newHealthState(cfg.healthInterval),
		stores:     make(map[uint64]*storeState),
		byID:       make(map[uint64]*regionState),
		gc:         newGCStates(),
		pdFaults:   newPDFaultState(),
		pdMisc:     newPDMiscState(),
		rm:         newRMState(),
	}
	// PD creates the DEFAULT keyspace at bootstrap; WithKeyspace ones get
	// ids from 1 and region boundaries of their own.
	c.keyspaces = newKeyspaceRegistry(cfg.keyspaces, time.Now())
	c.setUpKeyspaceLevelGC(cfg.keyspaceLevelGC)
	cfg.splitKeys = append(cfg.splitKeys, c.keyspaces.splitKeys()...)
	startTS := time.Now().Unix()
	for range cfg.stores {
		id := c.allocIDLocked()
		c.stores[id] = newStoreState(&metapb.Store{
			Id:             id,
			Address:        fmt.Sprintf("store%d", id), // replaced by Serve
			State:          metapb.StoreState_Up,
			NodeState:      metapb.NodeState_Serving,
			Version:        storeVersion,
			StartTimestamp: startTS,
		})
		c.order = append(c.order, id)
	}

	keys := slices.Clone(cfg.splitKeys)
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	keys = slices.DeleteFunc(keys, func(k []byte) bool { return len(k) == 0 })
	bounds := append(append([][]byte{{}}, keys...), []byte{})
	for i := 0; i+1 < len(bounds); i++ {
		meta := &metapb.Region{
			Id:       c.allocIDLocked(),
			StartKey: bounds[i],
			EndKey:   bounds[i+1],
			// A bootstrapped region starts at {conf_ver 1, version 1}; each
			// added peer bumps conf_ver.
			RegionEpoch: &metapb.RegionEpoch{ConfVer: uint64(len(c.order)), Version: 1},
			Peers:       c.newPeersLocked(),
		}
		r := &regionState{meta: meta, leaderStore: c.order[i%len(c.order)]}
		c.regions = append(c.regions, r)
		c.byID[meta.Id] = r
	}
	return c
}

// Start builds a cluster with NewCluster, serves it (Serve) and registers
// Close with t.Cleanup. It fails the test if the cluster cannot listen.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	c := NewCluster(opts...)
	if err := c.Serve(); err != nil {
		c.Close()
		t.Fatalf("mocktikv: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// ClusterID returns the id PD reports in every response header.
func (c *Cluster) ClusterID() uint64 { return c.clusterID }

func (c *Cluster) allocIDLocked() uint64 {
	c.lastID++
	return c.lastID
}

// newPeersLocked allocates one voter peer per store.
func (c *Cluster) newPeersLocked() []*metapb.Peer {
	peers := make([]*metapb.Peer, 0, len(c.order))
	for _, sid := range c.order {
		peers = append(peers, &metapb.Peer{Id: c.allocIDLocked(), StoreId: sid, Role: metapb.PeerRole_Voter})
	}
	return peers
}

// StoreIDs returns the ids of every store, ascending.
func (c *Cluster) StoreIDs() []uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.order)
}

// StoreAddr returns a store's gRPC address ("127.0.0.1:port" once Serve has
// run, a placeholder "store<id>" before), or "" for an unknown store.
func (c *Cluster) StoreAddr(id uint64) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if s, ok := c.stores[id]; ok {
		return s.meta.Address
	}
	return ""
}

// Regions returns copies of every region, in key order.
func (c *Cluster) Regions() []*metapb.Region {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*metapb.Region, len(c.regions))
	for i, r := range c.regions {
		out[i] = cloneRegion(r.meta)
	}
	return out
}

// RegionByKey returns a copy of the region containing key and of its leader
// peer (nil when the region has no leader).
func (c *Cluster) RegionByKey(key []byte) (*metapb.Region, *metapb.Peer) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r := c.regionByKeyLocked(key)
	if r == nil {
		return nil, nil
	}
	return cloneRegion(r.meta), clonePeer(r.leader())
}

// RegionByID returns a copy of the region with the id and of its leader
// peer (nil when the region has no leader), or nil, nil for an unknown id.
func (c *Cluster) RegionByID(id uint64) (*metapb.Region, *metapb.Peer) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r := c.byID[id]
	if r == nil {
		return nil, nil
	}
	return cloneRegion(r.meta), clonePeer(r.leader())
}

// Split splits the region containing key at key and returns the new region's
// id. As TiKV does by default (right_derive_when_split), the original region
// keeps its id and the right part [key, end); the new region takes the left
// part [start, key) with fresh peer ids on the same stores. Both get
// version+1 and the new region's leader is on the original leader's store.
// Splitting at an existing boundary (including the empty key) is an error.
func (c *Cluster) Split(key []byte) (newRegionID uint64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.regionIndexLocked(key)
	if i < 0 {
		return 0, fmt.Errorf("mocktikv: no region contains key %q", key)
	}
	old := c.regions[i]
	if bytes.Equal(old.meta.StartKey, key) {
		return 0, fmt.Errorf("mocktikv: key %q is already the start of region %d", key, old.meta.Id)
	}
	created := c.splitLocked(i, [][]byte{key})
	return created[0].meta.Id, nil
}

// splitLocked splits c.regions[i] at keys, which must be sorted, distinct
// and strictly inside the region, and returns the resulting regions in key
// order. It follows raftstore's exec_batch_split with
// right_derive_when_split: the original region keeps its id, its peers and
// the rightmost range; each new region takes a range to its left, with
// fresh peer ids on the same stores and in the same roles; every resulting
// region gets version = old version + len(keys), conf_ver unchanged, and is
// led from the original leader's store. Buckets are dropped (TiKV
// recomputes them after a split); pending and down peers carry over to the
// original region only.
func (c *Cluster) splitLocked(i int, keys [][]byte) []*regionState {
	old := c.regions[i]
	version := old.meta.RegionEpoch.Version + uint64(len(keys))
	bounds := append(append([][]byte{old.meta.StartKey}, keys...), old.meta.EndKey)
	out := make([]*regionState, 0, len(keys)+1)
	for j := 0; j < len(keys); j++ {
		meta := &metapb.Region{
			Id:          c.allocIDLocked(),
			StartKey:    bytes.Clone(bounds[j]),
			EndKey:      bytes.Clone(bounds[j+1]),
			RegionEpoch: &metapb.RegionEpoch{ConfVer: old.meta.RegionEpoch.ConfVer, Version: version},
			Peers:       c.clonePeersLocked(old.meta.Peers),
		}
		out = append(out, &regionState{meta: meta, leaderStore: old.leaderStore})
	}
	right := cloneRegion(old.meta)
	right.StartKey = bytes.Clone(keys[len(keys)-1])
	right.RegionEpoch.Version = version
	out = append(out, old.with(func(r *regionState) {
		r.meta = right
		r.buckets = nil
	}))

	c.regions = slices.Replace(c.regions, i, i+1, out...)
	for _, r := range out {
		c.byID[r.meta.Id] = r
	}
	return out
}

// clonePeersLocked allocates a peer with a fresh id for each of peers, on
// the same store and in the same role.
func (c *Cluster) clonePeersLocked(peers []*metapb.Peer) []*metapb.Peer {
	out := make([]*metapb.Peer, 0, len(peers))
	for _, p := range peers {
		out = append(out, &metapb.Peer{Id: c.allocIDLocked(), StoreId: p.StoreId, Role: p.Role})
	}
	return out
}

// replaceRegionLocked installs r in place of the region with the same id
// (which must exist and keep its start key).
func (c *Cluster) replaceRegionLocked(r *regionState) {
	c.byID[r.meta.Id] = r
	c.regions[c.regionIndexLocked(r.meta.StartKey)] = r
}

// TransferLeader makes the region's peer on storeID its leader. The store
// must hold a voter of the region: raft never hands leadership to a learner.
// The epoch is unchanged: leadership is not part of it.
func (c *Cluster) TransferLeader(regionID, storeID uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.byID[regionID]
	if !ok {
		return fmt.Errorf("mocktikv: region %d not found", regionID)
	}
	p := peerOnStore(r.meta, storeID)
	if p == nil {
		return fmt.Errorf("mocktikv: region %d has no peer on store %d", regionID, storeID)
	}
	if p.Role == metapb.PeerRole_Learner {
		return fmt.Errorf("mocktikv: region %d: the peer on store %d is a learner", regionID, storeID)
	}
	c.replaceRegionLocked(r.with(func(r *regionState) { r.leaderStore = storeID }))
	return nil
}

// regionIndexLocked returns the index in c.regions of the region containing
// key, or -1.
func (c *Cluster) regionIndexLocked(key []byte) int {
	// The first region whose start is > key, minus one.
	i := sort.Search(len(c.regions), func(i int) bool {
		return bytes.Compare(c.regions[i].meta.StartKey, key) > 0
	}) - 1
	if i < 0 || !keyInRegion(key, c.regions[i].meta) {
		return -1
	}
	return i
}

func (c *Cluster) regionByKeyLocked(key []byte) *regionState {
	if i := c.regionIndexLocked(key); i >= 0 {
		return c.regions[i]
	}
	return nil
}

// keyInRegion reports whether key is in [start, end) of r.
func keyInRegion(key []byte, r *metapb.Region) bool {
	return bytes.Compare(key, r.StartKey) >= 0 && (len(r.EndKey) == 0 || bytes.Compare(key, r.EndKey) < 0)
}

func peerOnStore(r *metapb.Region, storeID uint64) *metapb.Peer {
	if storeID == 0 {
		return nil
	}
	for _, p := range r.GetPeers() {
		if p.StoreId == storeID {
			return p
		}
	}
	return nil
}

func cloneRegion(r *metapb.Region) *metapb.Region {
	if r == nil {
		return nil
	}
	return proto.Clone(r).(*metapb.Region)
}

func clonePeer(p *metapb.Peer) *metapb.Peer {
	if p == nil {
		return nil
	}
	return proto.Clone(p).(*metapb.Peer)
}

func cloneStore(s *metapb.Store) *metapb.Store {
	return proto.Clone(s).(*metapb.Store)
}

// errStoreNotFound is returned by the store controls for an unknown id.
var errStoreNotFound = errors.New("mocktikv: store not found")
