package pipeline

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
)

// Attempt limits per replica within one Retry, as client-go's
// (internal/locate/region_request.go maxReplicaAttempt and
// maxReplicaAttemptTime): the leader gets at most 10 attempts or 50s of RPC
// time; every other replica one attempt (two after DataIsNotReady).
const (
	maxLeaderAttempts    = 10
	maxLeaderAttemptTime = 50 * time.Second
	// leaderBusyProbeThreshold: after this many ServerIsBusy replies with
	// no estimated wait from the cached leader, one follower is probed with
	// a leader read to learn whether leadership moved (client-go#2028).
	leaderBusyProbeThreshold = 2
)

// replicaFlag records what a replica answered during one Retry.
type replicaFlag uint8

const (
	flagDeadline         replicaFlag = 1 << iota // timed out under a short, caller-chosen read timeout
	flagDataNotReady                             // stale read above its safe ts
	flagNotLeader                                // answered NotLeader
	flagBusy                                     // answered ServerIsBusy
	flagSuspectNotLeader                         // the cached leader keeps rejecting reads as busy
	flagStoreGone                                // its store resolved as a tombstone (PD still lists the peer)
)

// replica is one peer of the region as one Retry sees it.
type replica struct {
	peer     *metapb.Peer
	attempts int
	spent    time.Duration // RPC time spent on it
	flags    replicaFlag
}

func (r *replica) has(f replicaFlag) bool { return r.flags&f != 0 }

func (r *replica) exhausted(maxAttempts int, maxTime time.Duration) bool {
	return r.attempts >= maxAttempts || (maxTime > 0 && r.spent >= maxTime)
}

// target is where the next attempt goes and how it reads.
type target struct {
	replica     *replica
	proxy       *replica // the follower that forwards to replica (Forwarding), nil for none
	replicaRead bool     // Context.replica_read: a non-leader serves a read with a read index
	staleRead   bool     // Context.stale_read
}

// Selection score bits, most significant first (client-go's
// storeSelectionScore): a healthy store beats label matching, which beats
// the leader preference, which beats being an ordinary candidate, which
// beats having been tried already. Ties are broken at random.
const (
	scoreNotAttempted = 1 << iota
	scoreNormalPeer
	scorePreferLeader
	scoreLabelMatches
	scoreNotSlow
)

// replicaSelector chooses the replica of each attempt of one Retry and
// digests the answers: it is client-go's replicaSelector (replica_selector.go)
// in our terms. It is used by one goroutine.
type replicaSelector struct {
	loc       pdclient.Locator
	region    *pdclient.Region
	replicas  []*replica
	leaderIdx int // index of the cached leader, -1 when none is known
	readType  kv.ReplicaReadType
	stale     bool
	read      bool // the command only reads
	opts      ReadOptions
	busy      time.Duration // the busy threshold still in force
	attempts  int
	current   *replica

	// pending holds ServerIsBusy backoffs deferred by fast retries, by
	// store: taken when that store is tried again, or the largest when no
	// replica is left.
	pending map[uint64]error

	leaderBusyCount  int
	leaderBusyPeer   uint64
	leaderBusyProbed bool

	// fwd is the Env's Forwarding; nil: leader attempts never use a proxy.
	fwd *Forwarding
	// proxiesExhausted is set once every follower was tried as a proxy.
	proxiesExhausted bool

	// ptrs and reps hold the replica list of the first region, when it
	// has at most inlineReplicas peers (a selector lives inside its
	// Retry's state, so a common request allocates nothing for it). A
	// later region (a re-route) gets its own blocks, since the replicas
	// kept from the old list live here.
	ptrs [inlineReplicas]*replica
	reps [inlineReplicas]replica
}

// inlineReplicas is how many peers a selector holds without allocating:
// TiKV's default 3 replicas, a learner and a peer being added.
const inlineReplicas = 5

func newReplicaSelector(loc pdclient.Locator, r *pdclient.Region, read bool, opts ReadOptions) *replicaSelector {
	s := new(replicaSelector)
	s.init(loc, r, read, opts)
	return s
}

// init sets s up for a request to r, in place (Retry keeps its selector
// inside its own state rather than allocating one per piece).
func (s *replicaSelector) init(loc pdclient.Locator, r *pdclient.Region, read bool, opts ReadOptions) {
	*s = replicaSelector{loc: loc, read: read, opts: opts, readType: kv.ReplicaReadLeader}
	if read {
		s.readType, s.stale, s.busy = opts.ReplicaRead, opts.StaleRead, opts.BusyThreshold
		if s.stale && s.readType == kv.ReplicaReadLeader {
			// A stale read picks among all replicas (client-go switches
			// stale reads to the mixed strategy).
			s.readType = kv.ReplicaReadMixed
		}
	}
	s.setRegion(r)
}

// setRegion rebuilds the replica list for r, keeping what was learnt about
// peers that are still there.
func (s *replicaSelector) setRegion(r *pdclient.Region) {
	old := s.replicas
	peers := r.Peers()
	s.region, s.leaderIdx = r, -1
	var fresh []replica
	if old == nil && len(peers) <= inlineReplicas {
		// The first region: the selector's own storage.
		s.replicas, fresh = s.ptrs[:0], s.reps[:0]
	} else {
		// Two allocations whatever the replica count: the list, and
		// (below) one block for the replicas not already known.
		s.replicas = make([]*replica, 0, len(peers))
	}
	for _, p := range peers {
		var rep *replica
		for _, o := range old {
			if o.peer.GetId() == p.GetId() {
				rep = o
			}
		}
		if rep == nil {
			if fresh == nil {
				fresh = make([]replica, 0, len(peers))
			}
			fresh = append(fresh, replica{peer: p})
			rep = &fresh[len(fresh)-1]
		}
		if l := r.Leader(); l != nil && l.GetId() == p.GetId() {
			s.leaderIdx = len(s.replicas)
		}
		s.replicas = append(s.replicas, rep)
	}
}

func (s *replicaSelector) leader() *replica {
	if s.leaderIdx < 0 {
		return nil
	}
	return s.replicas[s.leaderIdx]
}

func (s *replicaSelector) isLeader(r *replica) bool {
	return s.leaderIdx >= 0 && s.replicas[s.leaderIdx] == r
}

func (s *replicaSelector) health(r *replica) pdclient.Health {
	return s.loc.StoreHealth(r.peer.GetStoreId())
}

// leaderCandidate reports whether the leader may be tried again: its store
// is reachable, it has attempts left, and it has not said it is not the
// leader or timed out under a short read timeout.
func (s *replicaSelector) leaderCandidate(l *replica) bool {
	return l != nil &&
		s.health(l).Liveness == pdclient.Reachable &&
		!l.exhausted(maxLeaderAttempts, maxLeaderAttemptTime) &&
		!l.has(flagDeadline) && !l.has(flagNotLeader)
}

// next picks the target of the next attempt, or reports that no replica is
// left (the caller then re-routes the request).
func (s *replicaSelector) next() (target, bool) {
	s.attempts++
	var t target
	if s.readType == kv.ReplicaReadLeader {
		t = s.nextLeaderRead()
	} else {
		t = s.nextMixed()
	}
	s.current = t.replica
	if t.replica == nil {
		return t, false
	}
	t.replica.attempts++
	if t.proxy != nil {
		t.proxy.attempts++
	}
	return t, true
}

// nextLeaderRead is the leader strategy: the leader while it is a candidate
// (moving a busy read to an idle follower when a busy threshold is set);
// otherwise any other replica with leader-read semantics, which either
// serves (it is the leader now) or names the leader.
func (s *replicaSelector) nextLeaderRead() target {
	if s.fwd != nil {
		if t, decided := s.nextViaProxy(); decided {
			return t
		}
	}
	if l := s.leader(); s.leaderCandidate(l) && !l.has(flagSuspectNotLeader) {
		if s.busy > 0 && s.read && (s.health(l).EstimatedWait > s.busy || l.has(flagBusy)) {
			if idle := s.best(mixedRules{busyThreshold: s.busy}); idle != nil {
				return target{replica: idle, replicaRead: true}
			}
			// Every replica is busy: drop the threshold and queue at the
			// leader.
			s.busy = 0
		}
		return target{replica: l}
	}
	r := s.best(mixedRules{})
	if r == nil {
		return target{}
	}
	t := target{replica: r}
	if l := s.leader(); s.read && l != nil && l.has(flagDeadline) {
		// The leader timed out: read from the follower with a read index.
		t.replicaRead = true
	}
	return t
}

// nextMixed serves follower, mixed, learner and prefer-leader reads and
// stale reads.
func (s *replicaSelector) nextMixed() target {
	l := s.leader()
	if s.stale && s.attempts == 2 && l != nil && s.leaderCandidate(l) && !l.exhausted(1, 0) {
		// Second attempt of a stale read: a leader read, which is never
		// stale, unless the leader already served the first attempt.
		return target{replica: l}
	}
	rules := mixedRules{
		tryLeader:    s.readType == kv.ReplicaReadMixed || s.readType == kv.ReplicaReadPreferLeader,
		preferLeader: s.readType == kv.ReplicaReadPreferLeader,
		learnerOnly:  s.readType == kv.ReplicaReadLearner,
	}
	r := s.best(rules)
	if r == nil {
		return target{}
	}
	t := target{replica: r}
	if s.stale {
		t.staleRead = true
		labelsMatch := s.matches(r)
		if (s.attempts != 1 || (!labelsMatch && !s.isLeader(r))) && s.canReplicaRead() {
			t.staleRead, t.replicaRead = false, true
		}
		return t
	}
	t.replicaRead = s.read && !s.isLeader(r)
	return t
}

// canReplicaRead reports whether a retried stale read may become a
// replica read: only once the leader has been tried without timing out or
// being busy (otherwise the read index would hit the same trouble).
func (s *replicaSelector) canReplicaRead() bool {
	l := s.leader()
	return l != nil && l.attempts > 0 && !l.has(flagDeadline) && !l.has(flagBusy)
}

// mixedRules parameterise the scored choice.
type mixedRules struct {
	tryLeader, preferLeader, learnerOnly bool
	busyThreshold                        time.Duration
}

// best returns the highest-scoring candidate replica, or nil. When nothing
// is left and the leader was only skipped as suspect, the leader comes back
// (client-go#2028); otherwise, unless a short read timeout explains the
// failures, the region is invalidated.
func (s *replicaSelector) best(rules mixedRules) *replica {
	var (
		top   []*replica
		score = -1
	)
	for _, r := range s.replicas {
		if !s.candidate(r, rules) {
			continue
		}
		sc := s.score(r, rules)
		switch {
		case sc > score:
			score, top = sc, append(top[:0], r)
		case sc == score:
			top = append(top, r)
		}
	}
	if len(top) > 0 {
		return top[rand.IntN(len(top))]
	}
	if rules.busyThreshold > 0 {
		return nil
	}
	if l := s.leader(); l != nil && l.has(flagSuspectNotLeader) {
		l.flags &^= flagSuspectNotLeader
		if s.leaderCandidate(l) {
			return l
		}
	}
	if !slices.ContainsFunc(s.replicas, func(r *replica) bool { return r.has(flagDeadline) }) {
		s.loc.Invalidate(s.region)
	}
	return nil
}

func (s *replicaSelector) candidate(r *replica, rules mixedRules) bool {
	isLeader := s.isLeader(r)
	h := s.health(r)
	if h.Liveness == pdclient.Unreachable || r.has(flagStoreGone) {
		return false
	}
	if !isLeader && s.region.IsPeerDown(r.peer.GetId()) {
		// PD says the peer stopped heartbeating: it may be far behind or
		// gone (client-go leaves down peers out of the candidates).
		return false
	}
	maxAttempts := 1
	if r.has(flagDataNotReady) && !isLeader {
		maxAttempts = 2
	}
	if r.exhausted(maxAttempts, 0) {
		return false
	}
	if rules.busyThreshold > 0 && (isLeader || h.EstimatedWait > rules.busyThreshold || r.has(flagBusy)) {
		return false
	}
	if rules.preferLeader && !isLeader && h.Slow() {
		return false
	}
	return true
}

func (s *replicaSelector) score(r *replica, rules mixedRules) int {
	h := s.health(r)
	sc := 0
	if s.matches(r) {
		sc |= scoreLabelMatches
	}
	switch {
	case s.isLeader(r) && rules.preferLeader:
		if !h.Slow() {
			sc |= scorePreferLeader
		} else {
			sc |= scoreNormalPeer
		}
	case s.isLeader(r) && rules.tryLeader:
		if len(s.opts.MatchLabels) > 0 {
			sc |= scorePreferLeader
		} else {
			sc |= scoreNormalPeer
		}
	case s.isLeader(r):
		// Follower reads: the leader is a last resort among equals.
	case rules.learnerOnly:
		if r.peer.GetRole() == metapb.PeerRole_Learner {
			sc |= scoreNormalPeer
		}
	default:
		sc |= scoreNormalPeer
	}
	if !h.Slow() {
		sc |= scoreNotSlow
	}
	if r.attempts == 0 {
		sc |= scoreNotAttempted
	}
	return sc
}

// matches reports whether r's store is among MatchStores and carries all
// MatchLabels (both empty: everything matches).
func (s *replicaSelector) matches(r *replica) bool {
	if len(s.opts.MatchStores) > 0 && !slices.Contains(s.opts.MatchStores, r.peer.GetStoreId()) {
		return false
	}
	if len(s.opts.MatchLabels) == 0 {
		return true
	}
	labels := s.loc.StoreLabels(r.peer.GetStoreId())
	for _, want := range s.opts.MatchLabels {
		if !slices.ContainsFunc(labels, func(l *metapb.StoreLabel) bool {
			return l.GetKey() == want.GetKey() && l.GetValue() == want.GetValue()
		}) {
			return false
		}
	}
	return true
}

// onNotLeader digests NotLeader from the current target. It returns the
// region to route with (nil: the hinted leader is not a peer we know, the
// region was invalidated and must be re-routed).
func (s *replicaSelector) onNotLeader(hint *metapb.Peer) *pdclient.Region {
	if s.current != nil {
		s.current.flags |= flagNotLeader
	}
	if hint == nil {
		return s.region
	}
	idx := slices.IndexFunc(s.replicas, func(r *replica) bool { return r.peer.GetId() == hint.GetId() })
	if idx < 0 {
		// The leader is a peer our copy of the region does not have.
		s.loc.Invalidate(s.region)
		return nil
	}
	r := s.replicas[idx]
	if s.health(r).Liveness != pdclient.Reachable {
		// A leader on an unreachable store cannot serve until a new
		// election; ignore the hint rather than time out against it.
		return s.region
	}
	if r.exhausted(maxLeaderAttempts, maxLeaderAttemptTime) {
		// One more chance for a confirmed leader.
		r.attempts, r.spent = maxLeaderAttempts-1, 0
	}
	r.flags &^= flagNotLeader | flagSuspectNotLeader
	next := s.loc.UpdateLeader(s.region, r.peer)
	if next == nil {
		return nil
	}
	s.region, s.leaderIdx = next, idx
	if s.leaderCandidate(r) {
		s.readType = kv.ReplicaReadLeader
	}
	return next
}

// onSuccess: a non-leader that served a leader read (neither replica nor
// stale read) is the leader now; remember it.
func (s *replicaSelector) onSuccess(t target) {
	if t.proxy != nil && s.fwd != nil {
		s.fwd.remember(s.region.ID(), t.proxy.peer.GetStoreId())
	}
	if t.replica != nil && !s.isLeader(t.replica) && !t.replicaRead && !t.staleRead {
		if next := s.loc.UpdateLeader(s.region, t.replica.peer); next != nil {
			s.region = next
			s.leaderIdx = slices.Index(s.replicas, t.replica)
		}
	}
}

// onRegionNotFound: if the leader was not tried yet (a follower may simply
// not have the region yet), retry there once, the region invalidated for
// everyone else; otherwise give up on this routing.
func (s *replicaSelector) onRegionNotFound() bool {
	s.loc.Invalidate(s.region)
	if l := s.leader(); l != nil && l.attempts == 0 {
		s.readType, s.stale, s.busy = kv.ReplicaReadLeader, false, 0
		return true
	}
	return false
}

// onServerBusy digests ServerIsBusy and reports whether to retry at once on
// another replica (the wait is deferred, see pending) or after waiting.
func (s *replicaSelector) onServerBusy(storeID uint64, estimatedWait time.Duration, cause error) (fast bool) {
	s.loc.ReportBusy(storeID, estimatedWait)
	cur := s.current
	if estimatedWait > 0 {
		if s.busy > 0 && s.read && cur != nil {
			cur.flags |= flagBusy
		}
	} else if l := s.leader(); s.readType == kv.ReplicaReadLeader && !s.stale && cur != nil && cur == l && !s.leaderBusyProbed {
		if s.leaderBusyPeer != l.peer.GetId() {
			s.leaderBusyPeer, s.leaderBusyCount = l.peer.GetId(), 0
		}
		s.leaderBusyCount++
		if s.leaderBusyCount >= leaderBusyProbeThreshold {
			l.flags |= flagSuspectNotLeader
			s.leaderBusyProbed = true
		}
	}
	if !s.canFastRetry() {
		return false
	}
	if s.pending == nil {
		s.pending = map[uint64]error{}
	}
	s.pending[storeID] = cause
	if cur != nil {
		cur.flags |= flagBusy
	}
	return true
}

// canFastRetry: a busy answer moves on at once unless this is a leader read
// whose leader is still a candidate and not known busy.
func (s *replicaSelector) canFastRetry() bool {
	if s.readType == kv.ReplicaReadLeader {
		if l := s.leader(); s.leaderCandidate(l) && !l.has(flagBusy) {
			return false
		}
	}
	return true
}

// pendingBackoff returns the deferred busy wait for a store about to be
// tried again, and forgets it.
func (s *replicaSelector) pendingBackoff(storeID uint64) (error, bool) {
	cause, ok := s.pending[storeID]
	delete(s.pending, storeID)
	return cause, ok
}

// anyPending returns one deferred busy wait when no replica is left to try,
// so that the re-routed request does not hammer busy stores.
func (s *replicaSelector) anyPending() (error, bool) {
	for id, cause := range s.pending {
		delete(s.pending, id)
		return cause, true
	}
	return nil, false
}
