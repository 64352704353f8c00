package mocktikv

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"slices"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/internal/codec"
)

// The cluster control API: topology changes a test makes happen, each with
// the epoch effects TiKV's raftstore gives it, and store state changes PD
// would learn from heartbeats. Every method is atomic with respect to the
// requests the stores serve (it takes c.mu for writing).

// AddStore adds an Up store with no peers and returns its id. If the
// cluster is serving it starts listening at once, on its own loopback
// port; otherwise it gets one at Serve, like the others.
func (c *Cluster) AddStore() (uint64, error) {
	// srv.mu before mu, as Serve and StartStore take them.
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	if c.srv.closed {
		return 0, fmt.Errorf("mocktikv: cluster is closed")
	}
	var lis net.Listener
	if c.srv.serving {
		var err error
		if lis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return 0, fmt.Errorf("mocktikv: listen for a new store: %w", err)
		}
	}
	c.mu.Lock()
	id := c.allocIDLocked()
	meta := &metapb.Store{
		Id:             id,
		Address:        fmt.Sprintf("store%d", id),
		State:          metapb.StoreState_Up,
		NodeState:      metapb.NodeState_Serving,
		Version:        storeVersion,
		StartTimestamp: time.Now().Unix(),
	}
	if lis != nil {
		meta.Address = lis.Addr().String()
		meta.PeerAddress = meta.Address
		meta.StatusAddress = meta.Address // store_status.go
	}
	c.stores[id] = newStoreState(meta)
	c.order = append(c.order, id)
	c.mu.Unlock()
	if lis != nil {
		c.srv.stores[id] = c.startStoreServerLocked(id, lis)
	}
	return id, nil
}

// updateStore applies f to a copy of store id's metadata and installs it.
func (c *Cluster) updateStore(id uint64, f func(*metapb.Store) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.stores[id]
	if !ok {
		return fmt.Errorf("%w: %d", errStoreNotFound, id)
	}
	meta := cloneStore(st.meta)
	if err := f(meta); err != nil {
		return err
	}
	st.meta = meta
	return nil
}

// OfflineStore marks a store Offline (node state Removing), as PD does when
// the store is being decommissioned: PD still lists it and it keeps serving
// until its peers are moved away.
func (c *Cluster) OfflineStore(id uint64) error {
	return c.updateStore(id, func(s *metapb.Store) error {
		if s.State == metapb.StoreState_Tombstone {
			return fmt.Errorf("mocktikv: store %d is a tombstone", id)
		}
		s.State, s.NodeState = metapb.StoreState_Offline, metapb.NodeState_Removing
		return nil
	})
}

// TombstoneStore marks a store Tombstone (node state Removed) and stops it,
// as a decommissioned store ends. PD keeps reporting tombstones (GetStore
// returns it; GetAllStores unless exclude_tombstone_stores), and the PD
// client turns a Removed store into "no store". Regions keep any peers the
// test left on it, which lets tests reproduce a client routing to a store
// PD has already buried; remove them first with RemovePeer for a clean
// decommission. A tombstone cannot come back.
func (c *Cluster) TombstoneStore(id uint64) error {
	if err := c.updateStore(id, func(s *metapb.Store) error {
		s.State, s.NodeState = metapb.StoreState_Tombstone, metapb.NodeState_Removed
		return nil
	}); err != nil {
		return err
	}
	return c.StopStore(id)
}

// SetStoreLabels replaces a store's labels (PD learns labels from the
// store's configuration; clients use them for replica selection).
func (c *Cluster) SetStoreLabels(id uint64, labels map[string]string) error {
	return c.updateStore(id, func(s *metapb.Store) error {
		s.Labels = nil
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			s.Labels = append(s.Labels, &metapb.StoreLabel{Key: k, Value: labels[k]})
		}
		return nil
	})
}

// SetStoreAddress changes the address PD reports for a store, as when a
// store restarts with another address. Only PD's view changes: the store
// keeps serving where it listens (StoreAddr reports the new address), so a
// client following PD reaches whatever listens at addr, which lets tests
// point a store at a dead or a different endpoint.
func (c *Cluster) SetStoreAddress(id uint64, addr string) error {
	return c.updateStore(id, func(s *metapb.Store) error {
		s.Address, s.PeerAddress = addr, addr
		return nil
	})
}

// SplitTxn splits at a transactional user key: at its stored form,
// codec.EncodeBytes(userKey), as TiKV stores transactional keys. Otherwise
// as Split.
func (c *Cluster) SplitTxn(userKey []byte) (newRegionID uint64, err error) {
	return c.Split(codec.EncodeBytes(nil, userKey))
}

// Merge merges region sourceID into its neighbour targetID, as raftstore's
// PrepareMerge + CommitMerge do: the target survives with its id, peers
// and leader, and extends over the source's range; its version becomes
// max(source version + 1, target version) + 1 (PrepareMerge bumps the
// source's version and conf_ver; CommitMerge takes the larger version
// plus one) and its conf_ver is unchanged. The source disappears, so
// requests to it get RegionNotFound, and requests to the target with the
// old version EpochNotMatch. The regions must be adjacent and have peers on
// the same stores (PD aligns them before merging).
func (c *Cluster) Merge(sourceID, targetID uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	src, tgt := c.byID[sourceID], c.byID[targetID]
	switch {
	case src == nil:
		return fmt.Errorf("mocktikv: region %d not found", sourceID)
	case tgt == nil:
		return fmt.Errorf("mocktikv: region %d not found", targetID)
	case sourceID == targetID:
		return fmt.Errorf("mocktikv: cannot merge region %d into itself", sourceID)
	}
	if !slices.Equal(storesOf(src.meta), storesOf(tgt.meta)) {
		return fmt.Errorf("mocktikv: regions %d and %d have peers on different stores", sourceID, targetID)
	}
	meta := cloneRegion(tgt.meta)
	switch {
	case len(tgt.meta.EndKey) > 0 && bytes.Equal(tgt.meta.EndKey, src.meta.StartKey):
		meta.EndKey = bytes.Clone(src.meta.EndKey)
	case len(src.meta.EndKey) > 0 && bytes.Equal(src.meta.EndKey, tgt.meta.StartKey):
		meta.StartKey = bytes.Clone(src.meta.StartKey)
	default:
		return fmt.Errorf("mocktikv: regions %d and %d are not adjacent", sourceID, targetID)
	}
	meta.RegionEpoch.Version = max(src.meta.RegionEpoch.Version+1, tgt.meta.RegionEpoch.Version) + 1
	merged := tgt.with(func(r *regionState) {
		r.meta = meta
		r.buckets = nil // TiKV recomputes buckets over the new range
	})

	si, ti := c.regionIndexLocked(src.meta.StartKey), c.regionIndexLocked(tgt.meta.StartKey)
	c.regions[ti] = merged
	c.regions = slices.Delete(c.regions, si, si+1)
	delete(c.byID, sourceID)
	c.byID[targetID] = merged
	return nil
}

// storesOf returns the ids of the stores holding r's peers, sorted.
func storesOf(r *metapb.Region) []uint64 {
	out := make([]uint64, 0, len(r.Peers))
	for _, p := range r.Peers {
		out = append(out, p.StoreId)
	}
	slices.Sort(out)
	return out
}

// changePeers applies a membership change to a region: f edits a copy of
// its peers; conf_ver is bumped by one, version is unchanged (raftstore's
// exec_change_peer).
func (c *Cluster) changePeers(regionID uint64, f func(r *regionState, peers []*metapb.Peer) ([]*metapb.Peer, error)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.byID[regionID]
	if !ok {
		return fmt.Errorf("mocktikv: region %d not found", regionID)
	}
	meta := cloneRegion(r.meta)
	peers, err := f(r, meta.Peers)
	if err != nil {
		return err
	}
	meta.Peers = peers
	meta.RegionEpoch.ConfVer++
	c.replaceRegionLocked(r.with(func(r *regionState) { r.meta = meta }))
	return nil
}

func (c *Cluster) checkStoreLocked(storeID uint64) error {
	st, ok := c.stores[storeID]
	if !ok {
		return fmt.Errorf("%w: %d", errStoreNotFound, storeID)
	}
	if st.meta.State == metapb.StoreState_Tombstone {
		return fmt.Errorf("mocktikv: store %d is a tombstone", storeID)
	}
	return nil
}

// AddPeer adds a voter on storeID to the region (ConfChange AddNode). A
// learner already there is promoted, keeping its peer id, as raftstore
// does; a voter already there is an error. conf_ver is bumped.
func (c *Cluster) AddPeer(regionID, storeID uint64) error {
	return c.changePeers(regionID, func(_ *regionState, peers []*metapb.Peer) ([]*metapb.Peer, error) {
		if err := c.checkStoreLocked(storeID); err != nil {
			return nil, err
		}
		for _, p := range peers {
			if p.StoreId != storeID {
				continue
			}
			if p.Role != metapb.PeerRole_Learner {
				return nil, fmt.Errorf("mocktikv: region %d already has a voter on store %d", regionID, storeID)
			}
			p.Role = metapb.PeerRole_Voter
			return peers, nil
		}
		return append(peers, &metapb.Peer{Id: c.allocIDLocked(), StoreId: storeID, Role: metapb.PeerRole_Voter}), nil
	})
}

// AddLearner adds a learner on storeID to the region (ConfChange
// AddLearnerNode); the store must hold no peer of it. conf_ver is bumped.
// Learners serve replica and stale reads but never lead.
func (c *Cluster) AddLearner(regionID, storeID uint64) error {
	return c.changePeers(regionID, func(_ *regionState, peers []*metapb.Peer) ([]*metapb.Peer, error) {
		if err := c.checkStoreLocked(storeID); err != nil {
			return nil, err
		}
		for _, p := range peers {
			if p.StoreId == storeID {
				return nil, fmt.Errorf("mocktikv: region %d already has a peer on store %d", regionID, storeID)
			}
		}
		return append(peers, &metapb.Peer{Id: c.allocIDLocked(), StoreId: storeID, Role: metapb.PeerRole_Learner}), nil
	})
}

// RemovePeer removes the region's peer on storeID (ConfChange RemoveNode)
// and bumps conf_ver. Like raftstore, it refuses to remove the leader
// (transfer leadership first); the store then holds no peer of the region,
// so requests sent there get RegionNotFound.
func (c *Cluster) RemovePeer(regionID, storeID uint64) error {
	return c.changePeers(regionID, func(r *regionState, peers []*metapb.Peer) ([]*metapb.Peer, error) {
		if r.leaderStore == storeID {
			return nil, fmt.Errorf("mocktikv: region %d: ignore remove leader (store %d)", regionID, storeID)
		}
		i := slices.IndexFunc(peers, func(p *metapb.Peer) bool { return p.StoreId == storeID })
		if i < 0 {
			return nil, fmt.Errorf("mocktikv: region %d has no peer on store %d", regionID, storeID)
		}
		return slices.Delete(peers, i, i+1), nil
	})
}

// updateRegion replaces a region's state with f applied to a copy; the
// epoch is untouched (f must not change meta).
func (c *Cluster) updateRegion(regionID uint64, f func(*regionState) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.byID[regionID]
	if !ok {
		return fmt.Errorf("mocktikv: region %d not found", regionID)
	}
	var ferr error
	nr := r.with(func(r *regionState) { ferr = f(r) })
	if ferr != nil {
		return ferr
	}
	c.replaceRegionLocked(nr)
	return nil
}

// RemoveLeader leaves the region without a leader, as during an election:
// PD reports no leader and every store answers NotLeader without a hint.
// TransferLeader gives it one again.
func (c *Cluster) RemoveLeader(regionID uint64) error {
	return c.updateRegion(regionID, func(r *regionState) error {
		r.leaderStore = 0
		return nil
	})
}

// SetPeerDown marks the region's peer on storeID down (since now) or up
// again. PD reports down peers, with how long they have been down, in its
// region answers; the leader cannot be down.
func (c *Cluster) SetPeerDown(regionID, storeID uint64, down bool) error {
	return c.updateRegion(regionID, func(r *regionState) error {
		p := peerOnStore(r.meta, storeID)
		if p == nil {
			return fmt.Errorf("mocktikv: region %d has no peer on store %d", regionID, storeID)
		}
		if down && r.leaderStore == storeID {
			return fmt.Errorf("mocktikv: region %d: the leader cannot be down", regionID)
		}
		m := maps.Clone(r.downPeers)
		if m == nil {
			m = map[uint64]time.Time{}
		}
		if down {
			if _, ok := m[p.Id]; !ok {
				m[p.Id] = time.Now()
			}
		} else {
			delete(m, p.Id)
		}
		r.downPeers = m
		return nil
	})
}

// SetPeerPending marks the region's peer on storeID pending (lagging
// behind the raft log) or caught up. PD reports pending peers in its
// region answers.
func (c *Cluster) SetPeerPending(regionID, storeID uint64, pending bool) error {
	return c.updateRegion(regionID, func(r *regionState) error {
		p := peerOnStore(r.meta, storeID)
		if p == nil {
			return fmt.Errorf("mocktikv: region %d has no peer on store %d", regionID, storeID)
		}
		ids := slices.DeleteFunc(slices.Clone(r.pendingPeers), func(id uint64) bool { return id == p.Id })
		if pending {
			ids = append(ids, p.Id)
		}
		r.pendingPeers = ids
		return nil
	})
}

// SetBuckets sets the region's buckets as TiKV reports them to PD: keys are
// the boundaries strictly inside the region (stored form, ascending), and
// the buckets PD returns span from the region's start key to its end key.
// version is the buckets' version, which TiKV increases on each change. The
// epoch is untouched. A split or merge drops the buckets.
func (c *Cluster) SetBuckets(regionID uint64, keys [][]byte, version uint64) error {
	return c.updateRegion(regionID, func(r *regionState) error {
		all := [][]byte{bytes.Clone(r.meta.StartKey)}
		for _, k := range keys {
			if !keyInRegion(k, r.meta) || bytes.Compare(k, all[len(all)-1]) <= 0 {
				return fmt.Errorf("mocktikv: bucket key %q is not ascending inside region %d", k, regionID)
			}
			all = append(all, bytes.Clone(k))
		}
		all = append(all, bytes.Clone(r.meta.EndKey))
		r.buckets = &metapb.Buckets{RegionId: regionID, Version: version, Keys: all}
		return nil
	})
}

// Buckets returns a copy of the region's buckets, or nil.
func (c *Cluster) Buckets(regionID uint64) *metapb.Buckets {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if r := c.byID[regionID]; r != nil && r.buckets != nil {
		return proto.Clone(r.buckets).(*metapb.Buckets)
	}
	return nil
}
