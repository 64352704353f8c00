package pipeline

import (
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
)

// White-box ports of client-go internal/locate/replica_selector_test.go
// cases about the selector's own pieces (targets, scores, fast retry,
// deferred backoffs, flags), on tikvgo's replicaSelector.

// TestPortReplicaSelectorBasic ports client-go's TestReplicaSelectorBasic
// (internal/locate/replica_selector_test.go): a stale read over three
// replicas is a stale read first, a leader read next (unless the leader
// served the first attempt), then replica reads on what is left, each
// replica once; then no target is left and the region is invalidated.
// (client-go also builds no selector for a region already invalidated;
// tikvgo's selector works on the region value it is given.)
func TestPortReplicaSelectorBasic(t *testing.T) {
	for range 20 { // the first pick is random
		c, r := threeReplicas(t)
		s := newReplicaSelector(c.Locator, r, true, ReadOptions{ReplicaRead: kv.ReplicaReadMixed, StaleRead: true})
		seen := map[uint64]bool{}
		var kinds []string
		for range 3 {
			tg, ok := s.next()
			if !ok {
				t.Fatalf("no target after %v", kinds)
			}
			store := tg.replica.peer.GetStoreId()
			if seen[store] {
				t.Fatalf("store %d tried twice (%v)", store, kinds)
			}
			seen[store] = true
			switch {
			case tg.staleRead:
				kinds = append(kinds, "stale")
			case tg.replicaRead:
				kinds = append(kinds, "replica")
			default:
				if store != r.Leader().GetStoreId() {
					t.Fatalf("a leader read to follower store %d", store)
				}
				kinds = append(kinds, "leader")
			}
		}
		if kinds[0] != "stale" || (kinds[1] != "leader" && !(seen[1] && kinds[1] == "replica")) {
			t.Fatalf("attempt kinds %v", kinds)
		}
		if _, ok := s.next(); ok {
			t.Fatal("a fourth target")
		}
		if got := c.Locator.Invalidated(); len(got) != 1 || got[0] != r.Ver() {
			t.Fatalf("invalidated %v, want the region once no replica was left", got)
		}
	}
}

// TestPortReplicaSelectorCalculateScore ports client-go's
// TestReplicaSelectorCalculateScore (internal/locate/replica_selector_test.go):
// the score of the leader and of a follower under each selection rule,
// with healthy and slow stores, with labels that match and that do not.
func TestPortReplicaSelectorCalculateScore(t *testing.T) {
	c, r := threeReplicas(t)
	const notAttempted, normal, preferLeader, labels, notSlow = scoreNotAttempted, scoreNormalPeer, scorePreferLeader, scoreLabelMatches, scoreNotSlow
	west := []*metapb.StoreLabel{{Key: "zone", Value: "us-west-1"}}
	sel := func(opts ReadOptions) *replicaSelector { return newReplicaSelector(c.Locator, r, true, opts) }
	type want struct{ leader, follower int }
	check := func(name string, s *replicaSelector, rules mixedRules, w want) {
		t.Helper()
		for _, rep := range s.replicas {
			got, exp := s.score(rep, rules), w.follower
			if s.isLeader(rep) {
				exp = w.leader
			}
			if got != exp {
				t.Errorf("%s: store %d (leader %v): score %b, want %b", name, rep.peer.GetStoreId(), s.isLeader(rep), got, exp)
			}
		}
	}
	plain := sel(ReadOptions{ReplicaRead: kv.ReplicaReadMixed})
	check("healthy", plain, mixedRules{}, want{labels | notSlow | notAttempted, labels | normal | notSlow | notAttempted})
	for id := uint64(1); id <= 3; id++ {
		c.Locator.SetHealth(id, pdclient.Health{Liveness: pdclient.Reachable, SlowScore: pdclient.SlowScoreThreshold})
	}
	check("slow", plain, mixedRules{}, want{labels | notAttempted, labels | normal | notAttempted})
	check("slow, try leader", plain, mixedRules{tryLeader: true}, want{labels | normal | notAttempted, labels | normal | notAttempted})
	check("slow, prefer leader", plain, mixedRules{tryLeader: true, preferLeader: true}, want{labels | normal | notAttempted, labels | normal | notAttempted})
	check("slow, learners only", plain, mixedRules{learnerOnly: true}, want{labels | notAttempted, labels | notAttempted})
	unmatched := sel(ReadOptions{ReplicaRead: kv.ReplicaReadLearner, MatchLabels: west})
	check("slow, learners only, labels not matching", unmatched, mixedRules{learnerOnly: true}, want{notAttempted, notAttempted})
	check("slow, try leader, labels not matching", unmatched, mixedRules{tryLeader: true}, want{preferLeader | notAttempted, normal | notAttempted})
	check("slow, prefer leader, labels not matching", unmatched, mixedRules{preferLeader: true}, want{normal | notAttempted, normal | notAttempted})
	for id := uint64(1); id <= 3; id++ {
		c.truth.SetStoreLabels(id, west...)
	}
	check("slow, prefer leader, labels matching", unmatched, mixedRules{preferLeader: true}, want{labels | normal | notAttempted, labels | normal | notAttempted})
}

// TestPortCanFastRetry ports client-go's TestCanFastRetry
// (internal/locate/replica_selector_test.go): a stale read may always move
// on at once; a leader read may not while its leader can still be tried
// (ten attempts), and may once the leader is spent.
func TestPortCanFastRetry(t *testing.T) {
	c, r := threeReplicas(t)
	s := newReplicaSelector(c.Locator, r, true, ReadOptions{ReplicaRead: kv.ReplicaReadMixed, StaleRead: true})
	for i := range 3 {
		if _, ok := s.next(); !ok {
			t.Fatal("no target")
		}
		if !s.canFastRetry() {
			t.Fatalf("stale read, attempt %d: no fast retry", i)
		}
	}
	s = newReplicaSelector(c.Locator, r, true, ReadOptions{})
	for i := range 12 {
		if _, ok := s.next(); !ok {
			t.Fatal("no target")
		}
		if got, want := s.canFastRetry(), i >= maxLeaderAttempts-1; got != want {
			t.Fatalf("leader read, attempt %d: fast retry %v, want %v", i, got, want)
		}
	}
}

// TestPortPendingBackoff ports client-go's TestPendingBackoff
// (internal/locate/replica_selector_test.go): a busy answer that moved on at
// once leaves its wait pending for that store, the latest per store; it is
// taken (and forgotten) when that store is tried again, and one is taken
// when no replica is left. (client-go also keeps a region-wide pending
// backoff, for no store; tikvgo has none.)
func TestPortPendingBackoff(t *testing.T) {
	c, r := threeReplicas(t)
	s := newReplicaSelector(c.Locator, r, true, ReadOptions{ReplicaRead: kv.ReplicaReadMixed, StaleRead: true})
	if _, ok := s.pendingBackoff(1); ok {
		t.Fatal("a pending backoff before any answer")
	}
	if _, ok := s.anyPending(); ok {
		t.Fatal("a pending backoff before any answer")
	}
	for i, store := range []uint64{1, 2, 1} {
		if !s.onServerBusy(store, 0, errors.New([]string{"err-1", "err-2", "err-3"}[i])) {
			t.Fatal("a stale read's busy answer must fast-retry")
		}
	}
	if len(s.pending) != 2 {
		t.Fatalf("%d pending, want one per store", len(s.pending))
	}
	if _, ok := s.pendingBackoff(10); ok {
		t.Fatal("a pending backoff for a store that never answered")
	}
	if err, ok := s.pendingBackoff(1); !ok || err.Error() != "err-3" {
		t.Fatalf("store 1: %v, %v: want the latest, err-3", err, ok)
	}
	if _, ok := s.pendingBackoff(1); ok {
		t.Fatal("store 1's backoff was not forgotten")
	}
	if err, ok := s.anyPending(); !ok || err.Error() != "err-2" {
		t.Fatalf("no replica left: %v, %v: want err-2", err, ok)
	}
	if _, ok := s.anyPending(); ok {
		t.Fatal("a backoff taken twice")
	}
}

// TestPortReplicaFlag ports client-go's TestReplicaFlag
// (internal/locate/replica_selector_test.go): the replica flags are distinct
// bits, set and cleared one by one without touching the others.
func TestPortReplicaFlag(t *testing.T) {
	all := []replicaFlag{flagDeadline, flagDataNotReady, flagNotLeader, flagBusy, flagSuspectNotLeader, flagStoreGone}
	var r replica
	for i, f := range all {
		if i > 0 && f <= all[i-1] {
			t.Fatalf("flag %d not above the previous one", i)
		}
		for _, g := range all[i:] {
			if r.has(g) {
				t.Fatalf("flag %b set before it was added", g)
			}
		}
		r.flags |= f
		if !r.has(f) {
			t.Fatalf("flag %b not set", f)
		}
	}
	for i, f := range all {
		for _, g := range all[i:] {
			if !r.has(g) {
				t.Fatalf("flag %b lost", g)
			}
		}
		r.flags &^= f
		if r.has(f) {
			t.Fatalf("flag %b not cleared", f)
		}
	}
}
