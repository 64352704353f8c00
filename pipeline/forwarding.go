package pipeline

import (
	"errors"
	"sync"

	"github.com/tikvgo/tikv/pdclient"
)

// ErrProxiesExhausted is in the cause of the error Retry returns when the
// leader's store is unreachable from the client and every other replica was
// tried as a proxy to it without success (Env.Forwarding): the leader's
// store is then reported as failed and the region invalidated, so the next
// attempt loads the region again (client-go's "all followers are tried as
// proxy but fail").
var ErrProxiesExhausted = errors.New("every follower was tried as a proxy to the unreachable leader")

// Forwarding turns on forwarding via a follower proxy (client-go's
// EnableForwarding): when the store of a region's leader is unreachable from
// the client (its health check failed) and the leader has not answered
// NotLeader, an attempt that must go to the leader (a write, or a leader
// read) is sent to a reachable follower instead, with
// transport.Target.ForwardedHost set to the leader's address, and that
// follower's TiKV passes it on to the leader (TiKV's src/server/proxy.rs).
// Each follower is tried once per Retry; the one that worked is remembered
// for the region and tried first by later requests, until the leader is
// reachable again. Replica and stale reads never use a proxy: they have
// followers of their own to read from.
//
// A Forwarding holds that memory and is shared by the Envs of one client
// (Cluster.EnvFor copies the pointer); it is safe for concurrent use. A nil
// *Forwarding, the default, means no forwarding.
type Forwarding struct {
	mu      sync.Mutex
	proxies map[uint64]uint64 // region id -> proxy store id
}

// NewForwarding returns a Forwarding with no proxy remembered.
func NewForwarding() *Forwarding { return &Forwarding{proxies: make(map[uint64]uint64)} }

// Proxy returns the store remembered as the working proxy to the leader of
// the region, 0 when none is.
func (f *Forwarding) Proxy(regionID uint64) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.proxies[regionID]
}

// remember records the store that proxied a request to the region's leader
// successfully (client-go's setProxyStoreIdx).
func (f *Forwarding) remember(regionID, storeID uint64) {
	f.mu.Lock()
	f.proxies[regionID] = storeID
	f.mu.Unlock()
}

// forget drops the region's proxy: its leader is reachable again, or it is
// no longer known to be (client-go's unsetProxyStoreIfNeeded).
func (f *Forwarding) forget(regionID uint64) {
	f.mu.Lock()
	if _, ok := f.proxies[regionID]; ok {
		delete(f.proxies, regionID)
	}
	f.mu.Unlock()
}

// nextViaProxy is the leader strategy under forwarding (client-go's
// ReplicaSelectLeaderWithProxyStrategy). It reports false when no proxy is
// needed (the leader's store is reachable, or the leader said it is not the
// leader, or the region has no other replica): the plain leader strategy
// then decides. Otherwise it returns the leader as the target with a proxy:
// the remembered one if it is still a candidate, else the first candidate
// follower; when every follower has been tried, it reports the leader's
// store as failed, invalidates the region and returns no target.
func (s *replicaSelector) nextViaProxy() (target, bool) {
	l := s.leader()
	if l == nil || len(s.replicas) < 2 {
		return target{}, false
	}
	if s.health(l).Liveness == pdclient.Reachable || l.has(flagNotLeader) {
		s.fwd.forget(s.region.ID())
		return target{}, false
	}
	if id := s.fwd.Proxy(s.region.ID()); id != 0 {
		for _, r := range s.replicas {
			if r.peer.GetStoreId() == id && s.proxyCandidate(r) {
				return target{replica: l, proxy: r}, true
			}
		}
	}
	for _, r := range s.replicas {
		if s.proxyCandidate(r) {
			return target{replica: l, proxy: r}, true
		}
	}
	s.proxiesExhausted = true
	s.loc.OnStoreFailure(l.peer.GetStoreId())
	s.loc.Invalidate(s.region)
	return target{}, true
}

// proxyCandidate: a follower not tried yet in this Retry whose store the
// client reaches.
func (s *replicaSelector) proxyCandidate(r *replica) bool {
	return !s.isLeader(r) && r.attempts == 0 && s.health(r).Liveness == pdclient.Reachable
}
