package locate_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
)

// Ports of client-go internal/locate/region_request_state_test.go
// (TestRegionCacheStaleRead): the stale-read state machine. Six stores in
// three zones (z1: 1,2; z2: 3,4; z3: 5,6); the region has one peer per zone,
// on stores 1 (leader), 3 and 5. A stale read is sent from the leader's zone
// (z1) and from a follower's zone (z2) after a scripted change; the test
// checks which zone served it, how (stale, leader or follower read) and
// whether the region is still cached.

func zoneOf(store uint64) string { return fmt.Sprintf("z%d", (store+1)/2) }

// stateHarness builds the six-store, three-zone cluster.
func stateHarness(t *testing.T) *harness {
	opts := []harnessOption{withStores(6)}
	for id := uint64(1); id <= 6; id++ {
		opts = append(opts, withLabels(id, map[string]string{"zone": zoneOf(id)}))
	}
	h := newHarness(t, opts...)
	rid := h.regionID("key")
	for _, s := range []uint64{2, 4, 6} {
		if err := h.mock.RemovePeer(rid, s); err != nil {
			t.Fatal(err)
		}
	}
	h.region("key")
	return h
}

type staleScenario struct {
	name string
	do   []func(h *harness)
	// Per client zone: the zones allowed to serve (none: the read fails),
	// the read type ("stale", "leader", "follower", or alternatives joined
	// by "|") and region validity afterwards.
	leaderZone, followerZone   []string
	leaderType, followerType   string
	leaderValid, followerValid bool
}

func followerDown(h *harness) { h.stop(3) }
func leaderDown(h *harness)   { h.stop(1) }

// downAndUp: the store fails a request (the client finds it unreachable),
// restarts, and the client's background check finds it again. client-go
// scripts this as a bumped store epoch in its cache; tikvgo has no store
// epochs: the store is reachable again but its slow score, raised when it
// was found unreachable, keeps reads away until it decays.
func downAndUp(id uint64) func(h *harness) {
	return func(h *harness) {
		h.stop(id)
		h.cache.ReportSendFailure(context.Background(), id, errors.New("test: store down"))
		h.start(id)
		time.Sleep(2 * time.Second)
		if l := h.cache.StoreHealth(id).Liveness; l != pdclient.Reachable {
			h.t.Fatalf("store %d is %v after the restart", id, l)
		}
	}
}

var (
	followerDownAndUp = downAndUp(3)
	leaderDownAndUp   = downAndUp(1)
)

// leaderDownAndElect: the leader's store dies and the z2 peer is elected.
func leaderDownAndElect(h *harness) {
	h.stop(1)
	if err := h.mock.TransferLeader(h.regionID("key"), 3); err != nil {
		h.t.Fatal(err)
	}
}

// evictLeader: leadership moves to z2 behind the client's back.
func evictLeader(h *harness) {
	if err := h.mock.TransferLeader(h.regionID("key"), 3); err != nil {
		h.t.Fatal(err)
	}
}

// followerMove: the z2 peer moves from store 3 to store 4.
func followerMove(h *harness) {
	rid := h.regionID("key")
	if err := h.mock.AddPeer(rid, 4); err != nil {
		h.t.Fatal(err)
	}
	if err := h.mock.RemovePeer(rid, 3); err != nil {
		h.t.Fatal(err)
	}
}

// leaderMove: the leader moves from store 1 to store 2 (same zone).
func leaderMove(h *harness) {
	rid := h.regionID("key")
	for _, err := range []error{h.mock.AddPeer(rid, 2), h.mock.TransferLeader(rid, 2), h.mock.RemovePeer(rid, 1)} {
		if err != nil {
			h.t.Fatal(err)
		}
	}
}

func answerOn(store uint64, staleOnly bool, a answer) func(h *harness) {
	return func(h *harness) {
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet, Store: store,
			Match: func(_ uint64, cmd transport.Cmd, req transport.Message) bool {
				return !staleOnly || cmd.Context(req).GetStaleRead()
			},
			Steps: []mocktikv.Step{mocktikv.Always(mocktikv.RegionError(a.regionErr(h)))}})
	}
}

var (
	followerDataIsNotReady = answerOn(3, true, aNotReady)
	followerServerIsBusy   = answerOn(3, false, aBusy)
	leaderServerIsBusy     = answerOn(1, false, aBusy)
)

// TestRegionCacheStaleRead ports client-go's TestRegionCacheStaleRead
// (internal/locate/region_request_state_test.go): every scenario of its
// table, from a client in the leader's zone and from one in a follower's
// zone (see the file comment for the cluster and what is checked). Where
// tikvgo's outcome differs from client-go's, the scenario says why.
func TestRegionCacheStaleRead(t *testing.T) {
	z := func(zs ...string) []string { return zs }
	scenarios := []staleScenario{
		{name: "followerDown", do: []func(*harness){followerDown},
			leaderZone: z("z1"), leaderType: "stale", leaderValid: true,
			followerZone: z("z1"), followerType: "leader", followerValid: true},
		// The moved peer answers RegionNotFound: the region is invalidated
		// and the leader retried once. client-go keeps the stale flag on that
		// retry, tikvgo sends a leader read; both are served by z1.
		// The restarted store is still marked slow (found unreachable):
		// stale reads avoid it, which is client-go's outcome too (there,
		// the bumped store epoch).
		{name: "followerDownAndUp", do: []func(*harness){followerDownAndUp},
			leaderZone: z("z1"), leaderType: "stale", leaderValid: true,
			followerZone: z("z1"), followerType: "stale", followerValid: true},
		{name: "leaderDownAndUp", do: []func(*harness){leaderDownAndUp},
			leaderZone: z("z2", "z3"), leaderType: "stale", leaderValid: true,
			followerZone: z("z2"), followerType: "stale", followerValid: true},
		{name: "followerMove", do: []func(*harness){followerMove},
			leaderZone: z("z1"), leaderType: "stale", leaderValid: true,
			followerZone: z("z1"), followerType: "stale|leader", followerValid: false},
		{name: "evictLeader", do: []func(*harness){evictLeader},
			leaderZone: z("z1"), leaderType: "stale", leaderValid: true,
			followerZone: z("z2"), followerType: "stale", followerValid: true},
		{name: "leaderMove", do: []func(*harness){leaderMove},
			leaderZone: z(), leaderValid: false,
			followerZone: z("z2"), followerType: "stale", followerValid: true},
		{name: "leaderDown", do: []func(*harness){leaderDown},
			leaderZone: z("z2", "z3"), leaderType: "follower", leaderValid: true,
			followerZone: z("z2"), followerType: "stale", followerValid: true},
		{name: "leaderDownAndElect", do: []func(*harness){leaderDownAndElect},
			leaderZone: z("z2", "z3"), leaderType: "follower", leaderValid: true,
			followerZone: z("z2"), followerType: "stale", followerValid: true},
		{name: "followerDataIsNotReady", do: []func(*harness){followerDataIsNotReady},
			leaderZone: z("z1"), leaderType: "stale", leaderValid: true,
			followerZone: z("z1"), followerType: "leader", followerValid: true},
		{name: "leaderServerIsBusy", do: []func(*harness){leaderServerIsBusy},
			leaderZone: z("z2", "z3"), leaderType: "stale", leaderValid: true,
			followerZone: z("z2"), followerType: "stale", followerValid: true},
		{name: "followerServerIsBusy", do: []func(*harness){followerServerIsBusy},
			leaderZone: z("z1"), leaderType: "stale", leaderValid: true,
			followerZone: z("z1"), followerType: "leader", followerValid: true},
		{name: "leaderServerIsBusy+followerServerIsBusy", do: []func(*harness){leaderServerIsBusy, followerServerIsBusy},
			leaderZone: z("z3"), leaderType: "stale", leaderValid: true,
			followerZone: z("z3"), followerType: "stale", followerValid: true},
		{name: "leaderServerIsBusy+followerDataIsNotReady", do: []func(*harness){leaderServerIsBusy, followerDataIsNotReady},
			leaderZone: z("z2", "z3"), leaderType: "stale", leaderValid: true,
			followerZone: z("z2", "z3"), followerType: "stale", followerValid: true},
		{name: "leaderServerIsBusy+followerDown", do: []func(*harness){leaderServerIsBusy, followerDown},
			leaderZone: z("z3"), leaderType: "stale", leaderValid: true,
			followerZone: z("z3"), followerType: "stale", followerValid: true},
		{name: "leaderDown+followerDataIsNotReady", do: []func(*harness){leaderDown, followerDataIsNotReady},
			leaderZone: z("z2", "z3"), leaderType: "follower", leaderValid: true,
			followerZone: z("z2", "z3"), followerType: "follower", followerValid: true},
		{name: "leaderDown+followerServerIsBusy", do: []func(*harness){leaderDown, followerServerIsBusy},
			leaderZone: z("z3"), leaderType: "follower", leaderValid: true,
			followerZone: z("z3"), followerType: "follower", followerValid: true},
		{name: "leaderDown+followerDown", do: []func(*harness){leaderDown, followerDown},
			leaderZone: z("z3"), leaderType: "follower", leaderValid: true,
			followerZone: z("z3"), followerType: "follower", followerValid: true},
	}
	for _, sc := range scenarios {
		for _, client := range []string{"z1", "z2"} {
			zones, typ, valid := sc.leaderZone, sc.leaderType, sc.leaderValid
			if client == "z2" {
				zones, typ, valid = sc.followerZone, sc.followerType, sc.followerValid
			}
			t.Run(sc.name+"/client-in-"+client, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					h := stateHarness(t)
					for _, f := range sc.do {
						f(h)
					}
					ctx := pipeline.WithReadOptions(t.Context(), pipeline.ReadOptions{StaleRead: true,
						MatchLabels: []*metapb.StoreLabel{{Key: "zone", Value: client}}})
					_, err := h.get(ctx, "key")
					got := h.rec.take()
					if len(zones) == 0 {
						if err == nil {
							t.Fatalf("path %v: want the read to fail", paths(got))
						}
					} else {
						if err != nil {
							t.Fatalf("path %v: %v", paths(got), err)
						}
						last := got[len(got)-1]
						how := "leader"
						switch {
						case last.staleRead:
							how = "stale"
						case last.replicaRead:
							how = "follower"
						}
						if !slices.Contains(zones, zoneOf(last.store)) || !slices.Contains(strings.Split(typ, "|"), how) {
							t.Fatalf("path %v: served by %s with a %s read, want %v with a %s read",
								paths(got), zoneOf(last.store), how, zones, typ)
						}
					}
					if v := h.cached("key"); v != valid {
						t.Fatalf("path %v: region cached = %v, want %v", paths(got), v, valid)
					}
				})
			})
		}
	}
}
