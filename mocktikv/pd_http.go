package mocktikv

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
)

// PD's HTTP API (server/api, server/apiv2), served on PD's address as real
// PD serves it: the read-only endpoints clients call through
// github.com/tikv/pd/client/http — client-go's stale-read safe ts
// (min-resolved-ts), keyspace metadata, stores, regions, members, health,
// version and the GC safe point list. Bodies are JSON in the field names PD
// uses (and pd/client/http decodes); errors are a JSON string with PD's
// status codes. Anything else is 404.

// pdVersion is the PD version the mock reports.
const pdVersion = "9.0.0"

// minResolvedTSPersistInterval is PD's default
// min-resolved-ts-persistence-interval; a non-zero interval is what makes
// PD report is_real_time, which pd/client/http requires.
const minResolvedTSPersistInterval = time.Second

// pdHTTPHandler serves PD's HTTP API; url is the member's client URL.
func (c *Cluster) pdHTTPHandler(url string) http.Handler {
	member := (&pdService{c: c, url: url}).member()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pd/api/v1/min-resolved-ts", c.httpMinResolvedTS)
	mux.HandleFunc("GET /pd/api/v1/min-resolved-ts/{store_id}", c.httpStoreMinResolvedTS)
	mux.HandleFunc("GET /pd/api/v2/keyspaces/{name}", c.httpKeyspaceByName)
	mux.HandleFunc("GET /pd/api/v2/keyspaces/id/{id}", c.httpKeyspaceByID)
	mux.HandleFunc("GET /pd/api/v1/stores", c.httpStores)
	mux.HandleFunc("GET /pd/api/v1/store/{id}", c.httpStore)
	mux.HandleFunc("GET /pd/api/v1/regions", c.httpRegions)
	mux.HandleFunc("GET /pd/api/v1/region/id/{id}", c.httpRegionByID)
	mux.HandleFunc("GET /pd/api/v1/region/key/{key}", c.httpRegionByKey)
	mux.HandleFunc("GET /pd/api/v1/gc/safepoint", c.httpGCSafePoints)
	mux.HandleFunc("GET /pd/api/v1/members", func(w http.ResponseWriter, _ *http.Request) {
		// PD's GetMembers in JSON: the one member leads PD and etcd.
		writeJSON(w, http.StatusOK, &pdpb.GetMembersResponse{
			Header: &pdpb.ResponseHeader{ClusterId: c.clusterID}, Members: []*pdpb.Member{member}, Leader: member, EtcdLeader: member,
		})
	})
	mux.HandleFunc("GET /pd/api/v1/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, []map[string]any{{
			"name": member.Name, "member_id": member.MemberId, "client_urls": member.ClientUrls, "health": true,
		}})
	})
	mux.HandleFunc("GET /pd/api/v1/version", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": pdVersion})
	})
	mux.HandleFunc("GET /pd/api/v1/cluster", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, &metapb.Cluster{Id: c.clusterID, MaxPeerCount: 3})
	})
	if c.controlAPI {
		c.mountControl(mux) // control_http.go
	}
	return mux
}

// writeJSON writes v with status code; an error body is a JSON string, as
// PD's render.JSON writes err.Error().
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// minResolvedTSBody is PD's MinResolvedTS (server/api/min_resolved_ts.go).
type minResolvedTSBody struct {
	IsRealTime          bool              `json:"is_real_time,omitempty"`
	MinResolvedTS       uint64            `json:"min_resolved_ts"`
	PersistInterval     string            `json:"persist_interval,omitempty"`
	StoresMinResolvedTS map[uint64]uint64 `json:"stores_min_resolved_ts"`
}

// httpMinResolvedTS is PD's GetMinResolvedTS: the cluster's min resolved ts;
// with scope=cluster also every store's, with scope=id,id,... the listed
// stores' and their minimum instead.
func (c *Cluster) httpMinResolvedTS(w http.ResponseWriter, r *http.Request) {
	body := minResolvedTSBody{IsRealTime: true, PersistInterval: minResolvedTSPersistInterval.String()}
	switch scope := r.URL.Query().Get("scope"); scope {
	case "":
		body.MinResolvedTS, _ = c.MinResolvedTS()
	case "cluster":
		body.MinResolvedTS, body.StoresMinResolvedTS = c.MinResolvedTS()
	default:
		var ids []uint64
		for s := range strings.SplitSeq(scope, ",") {
			id, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, err.Error())
				return
			}
			ids = append(ids, id)
		}
		body.MinResolvedTS, body.StoresMinResolvedTS = c.MinResolvedTS(ids...)
	}
	writeJSON(w, http.StatusOK, body)
}

// httpStoreMinResolvedTS is PD's GetStoreMinResolvedTS.
func (c *Cluster) httpStoreMinResolvedTS(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("store_id"), 10, 64)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, err.Error())
		return
	}
	_, per := c.MinResolvedTS(id)
	writeJSON(w, http.StatusOK, minResolvedTSBody{IsRealTime: true, PersistInterval: minResolvedTSPersistInterval.String(), MinResolvedTS: per[id]})
}

// keyspaceBody is apiv2's KeyspaceMeta JSON: the state by name.
type keyspaceBody struct {
	ID             uint32            `json:"id"`
	Name           string            `json:"name,omitempty"`
	State          string            `json:"state,omitempty"`
	CreatedAt      int64             `json:"created_at,omitempty"`
	StateChangedAt int64             `json:"state_changed_at,omitempty"`
	Config         map[string]string `json:"config,omitempty"`
}

func writeKeyspace(w http.ResponseWriter, m *keyspacepb.KeyspaceMeta) {
	if m == nil {
		// apiv2's LoadKeyspace answers a manager error with 500.
		writeJSON(w, http.StatusInternalServerError, errKeyspaceNotFound)
		return
	}
	writeJSON(w, http.StatusOK, keyspaceBody{
		ID: m.GetId(), Name: m.Name, State: m.State.String(),
		CreatedAt: m.CreatedAt, StateChangedAt: m.StateChangedAt, Config: m.Config,
	})
}

func (c *Cluster) httpKeyspaceByName(w http.ResponseWriter, r *http.Request) {
	writeKeyspace(w, c.keyspaces.byName(r.PathValue("name")))
}

func (c *Cluster) httpKeyspaceByID(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 32)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, err.Error())
		return
	}
	writeKeyspace(w, c.keyspaces.byID(uint32(id)))
}

// storeBody and its parts are PD's StoreInfo (server/api/store.go).
type storeBody struct {
	Store  storeMetaBody   `json:"store"`
	Status storeStatusBody `json:"status"`
}

type storeMetaBody struct {
	ID             uint64               `json:"id"`
	Address        string               `json:"address"`
	State          int32                `json:"state"`
	StateName      string               `json:"state_name"`
	Version        string               `json:"version"`
	Labels         []*metapb.StoreLabel `json:"labels"`
	StatusAddress  string               `json:"status_address"`
	StartTimestamp int64                `json:"start_timestamp"`
	NodeState      int32                `json:"node_state"`
}

type storeStatusBody struct {
	LeaderCount int64     `json:"leader_count"`
	RegionCount int64     `json:"region_count"`
	StartTS     time.Time `json:"start_ts"`
}

// storeBodiesLocked renders stores with their leader and region counts.
func (c *Cluster) storeBodiesLocked(stores []*metapb.Store) []storeBody {
	out := make([]storeBody, 0, len(stores))
	for _, s := range stores {
		b := storeBody{Store: storeMetaBody{
			ID: s.Id, Address: s.Address, State: int32(s.State), StateName: s.State.String(),
			Version: s.Version, Labels: s.Labels, StatusAddress: s.StatusAddress,
			StartTimestamp: s.StartTimestamp, NodeState: int32(s.NodeState),
		}}
		b.Status.StartTS = time.Unix(s.StartTimestamp, 0)
		for _, r := range c.regions {
			if peerOnStore(r.meta, s.Id) != nil {
				b.Status.RegionCount++
			}
			if r.leaderStore == s.Id {
				b.Status.LeaderCount++
			}
		}
		out = append(out, b)
	}
	return out
}

// httpStores lists the stores that are not tombstones (PD's default state
// filter: Up and Offline).
func (c *Cluster) httpStores(w http.ResponseWriter, _ *http.Request) {
	c.mu.RLock()
	stores := c.storeBodiesLocked(c.allStoresLocked(true))
	c.mu.RUnlock()
	writeJSON(w, http.StatusOK, struct {
		Count  int         `json:"count"`
		Stores []storeBody `json:"stores"`
	}{len(stores), stores})
}

func (c *Cluster) httpStore(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, err.Error())
		return
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, err := c.storeLocked(id)
	if err != nil {
		writeJSON(w, http.StatusNotFound, fmt.Sprintf("[PD:core:ErrStoreNotFound]store %d not found", id))
		return
	}
	writeJSON(w, http.StatusOK, c.storeBodiesLocked([]*metapb.Store{s})[0])
}

// regionBody is PD's RegionInfo (server/api/region.go): keys in upper-case
// hex (core.HexRegionKeyStr).
type regionBody struct {
	ID           uint64       `json:"id"`
	StartKey     string       `json:"start_key"`
	EndKey       string       `json:"end_key"`
	Epoch        regionEpoch  `json:"epoch"`
	Peers        []regionPeer `json:"peers"`
	Leader       regionPeer   `json:"leader"`
	DownPeers    []regionDown `json:"down_peers"`
	PendingPeers []regionPeer `json:"pending_peers"`
}

type regionEpoch struct {
	ConfVer uint64 `json:"conf_ver"`
	Version uint64 `json:"version"`
}

type regionPeer struct {
	ID        uint64 `json:"id"`
	StoreID   uint64 `json:"store_id"`
	IsLearner bool   `json:"is_learner"`
}

type regionDown struct {
	Peer    regionPeer `json:"peer"`
	DownSec uint64     `json:"down_seconds"`
}

func toRegionPeer(p *metapb.Peer) regionPeer {
	if p == nil {
		return regionPeer{}
	}
	return regionPeer{ID: p.Id, StoreID: p.StoreId, IsLearner: p.Role == metapb.PeerRole_Learner}
}

func regionBodyOf(r *regionState, now time.Time) regionBody {
	cp := r.copyOut(now, false)
	b := regionBody{
		ID:       cp.meta.Id,
		StartKey: strings.ToUpper(hex.EncodeToString(cp.meta.StartKey)),
		EndKey:   strings.ToUpper(hex.EncodeToString(cp.meta.EndKey)),
		Epoch:    regionEpoch{ConfVer: cp.meta.GetRegionEpoch().GetConfVer(), Version: cp.meta.GetRegionEpoch().GetVersion()},
		Leader:   toRegionPeer(cp.leader),
	}
	for _, p := range cp.meta.Peers {
		b.Peers = append(b.Peers, toRegionPeer(p))
	}
	for _, d := range cp.down {
		b.DownPeers = append(b.DownPeers, regionDown{Peer: toRegionPeer(d.Peer), DownSec: d.DownSeconds})
	}
	for _, p := range cp.pending {
		b.PendingPeers = append(b.PendingPeers, toRegionPeer(p))
	}
	return b
}

func (c *Cluster) httpRegions(w http.ResponseWriter, _ *http.Request) {
	c.mu.RLock()
	now := time.Now()
	regions := make([]regionBody, 0, len(c.regions))
	for _, r := range c.regions {
		regions = append(regions, regionBodyOf(r, now))
	}
	c.mu.RUnlock()
	writeJSON(w, http.StatusOK, struct {
		Count   int          `json:"count"`
		Regions []regionBody `json:"regions"`
	}{len(regions), regions})
}

func (c *Cluster) httpRegionByID(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		writeJSON(w, http.StatusBadRequest, fmt.Sprintf("invalid region id %q", r.PathValue("id")))
		return
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	reg := c.byID[id]
	if reg == nil {
		writeJSON(w, http.StatusNotFound, fmt.Sprintf("[PD:core:ErrRegionNotFound]region %d not found", id))
		return
	}
	writeJSON(w, http.StatusOK, regionBodyOf(reg, time.Now()))
}

// httpRegionByKey takes the key as pd/client/http sends it: the raw key,
// query-escaped, as the last path segment.
func (c *Cluster) httpRegionByKey(w http.ResponseWriter, r *http.Request) {
	key, err := url.QueryUnescape(r.PathValue("key"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, err.Error())
		return
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	reg := c.regionByKeyLocked([]byte(key))
	if reg == nil {
		writeJSON(w, http.StatusOK, nil)
		return
	}
	writeJSON(w, http.StatusOK, regionBodyOf(reg, time.Now()))
}

// httpGCSafePoints is PD's GetGCSafePoint: the GC barriers as service safe
// points, plus a pseudo one for "gc_worker" at the txn safe point, and the
// minimum of the unexpired ones.
func (c *Cluster) httpGCSafePoints(w http.ResponseWriter, _ *http.Request) {
	snap := c.gc.snapshot()
	ssps := make([]serviceSafePointJSON, 0, len(snap.barriers)+1)
	for _, b := range snap.barriers {
		ssps = append(ssps, serviceSafePointJSON{ServiceID: b.id, ExpiredAt: expiryUnix(b.expires, math.MaxInt64), SafePoint: b.ts})
	}
	worker := serviceSafePointJSON{ServiceID: gcWorkerServiceID, ExpiredAt: math.MaxInt64, SafePoint: snap.txnSafePoint}
	ssps = append(ssps, worker)
	minSP, now := worker.SafePoint, time.Now().Unix()
	for _, s := range ssps {
		if s.SafePoint < minSP && s.ExpiredAt > now {
			minSP = s.SafePoint
		}
	}
	writeJSON(w, http.StatusOK, struct {
		ServiceGCSafepoints   []serviceSafePointJSON `json:"service_gc_safe_points"`
		MinServiceGcSafepoint uint64                 `json:"min_service_gc_safe_point,omitempty"`
		GCSafePoint           uint64                 `json:"gc_safe_point"`
	}{ssps, minSP, snap.gcSafePoint})
}
