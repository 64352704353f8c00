package linearizability_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/mocktikv"
)

// nemesis changes the cluster under the workload: it splits and merges
// regions, moves leaders, stops and restarts a store, and scripts faults on
// the keys (region errors, transport errors, delays, responses lost after
// the command applied). Its choices come from its own seeded generator and
// depend only on the topology it made itself, so the sequence of actions is
// fixed by the seed; only when they happen relative to the workers is not.
//
// It is used by one goroutine at a time: run, then heal.
type nemesis struct {
	mock  *mocktikv.Cluster
	keys  [][]byte
	r     *rand.Rand
	clock clock
	// down is the stopped store, 0 when every store is up. At most one
	// store is down, so a majority always remains, as raft needs.
	down   uint64
	faults []*mocktikv.FaultHandle
	// log is every action taken, with its time, for failure reports.
	log []string
	// counts is how many times each action ran.
	counts map[string]int
	// downs is when each store was stopped, in clock time; to is
	// math.MaxInt64 while it is still down.
	downs []downSpan
}

// downSpan is one stretch of time a store was stopped.
type downSpan struct {
	store    uint64
	from, to int64
}

// downThroughout reports whether store was stopped during all of [from, to].
func (n *nemesis) downThroughout(store uint64, from, to int64) bool {
	for _, d := range n.downs {
		if d.store == store && d.from <= from && d.to >= to {
			return true
		}
	}
	return false
}

// markUp ends store's open down span at now.
func (n *nemesis) markUp(store uint64) {
	for i := range n.downs {
		if n.downs[i].store == store && n.downs[i].to == math.MaxInt64 {
			n.downs[i].to = n.clock.now()
		}
	}
}

func newNemesis(mock *mocktikv.Cluster, keys []string, seed uint64, clk clock) *nemesis {
	n := &nemesis{mock: mock, r: rand.New(rand.NewPCG(seed, 0x6e656d65)), clock: clk, counts: map[string]int{}}
	for _, k := range keys {
		n.keys = append(n.keys, []byte(k))
	}
	return n
}

// run acts every 5 to 60 ms (seeded) until stop is closed.
func (n *nemesis) run(stop <-chan struct{}) {
	for {
		t := time.NewTimer(time.Duration(5+n.r.IntN(56)) * time.Millisecond)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		n.act(stop)
	}
}

// act takes one seeded action; stop cuts short the waits inside one.
func (n *nemesis) act(stop <-chan struct{}) {
	key := n.keys[n.r.IntN(len(n.keys))]
	switch p := n.r.IntN(100); {
	case p < 12:
		_, err := n.mock.Split(key)
		n.note("split", "split at %q: %v", key, err)
	case p < 22:
		regions := n.mock.Regions()
		if len(regions) < 2 {
			n.note("merge", "merge: one region only")
			return
		}
		i := n.r.IntN(len(regions) - 1)
		src, dst := regions[i].GetId(), regions[i+1].GetId()
		if n.r.IntN(2) == 0 {
			src, dst = dst, src
		}
		n.note("merge", "merge %d into %d: %v", src, dst, n.mock.Merge(src, dst))
	case p < 36:
		regions := n.mock.Regions()
		r := regions[n.r.IntN(len(regions))]
		to := n.upStore()
		n.note("transfer-leader", "transfer leader of %d to store %d: %v", r.GetId(), to, n.mock.TransferLeader(r.GetId(), to))
	case p < 44:
		if n.down != 0 {
			if err := n.mock.StartStore(n.down); err != nil {
				// The store stays down (its port may have been taken);
				// the next start action tries again.
				n.note("start-store-failed", "start store %d: %v", n.down, err)
				return
			}
			n.note("start-store", "start store %d", n.down)
			n.markUp(n.down)
			n.down = 0
			return
		}
		stores := n.mock.StoreIDs()
		n.down = stores[n.r.IntN(len(stores))]
		n.downs = append(n.downs, downSpan{store: n.down, from: n.clock.now(), to: math.MaxInt64})
		n.note("stop-store", "stop store %d: %v", n.down, n.mock.StopStore(n.down))
		// Raft needs an election timeout before another peer leads: for
		// 0 to 300 ms the regions the dead store led have no leader.
		if d := time.Duration(n.r.IntN(4)) * 100 * time.Millisecond; d > 0 {
			for _, r := range n.mock.Regions() {
				if _, leader := n.mock.RegionByID(r.GetId()); leader.GetStoreId() == n.down {
					n.note("election", "region %d has no leader for %v: %v", r.GetId(), d, n.mock.RemoveLeader(r.GetId()))
				}
			}
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-stop:
				t.Stop()
			}
		}
		n.moveLeadersOff(n.down)
	case p < 58:
		e := n.regionError(key)
		n.inject("region-error", key, mocktikv.Times(1+n.r.IntN(3), mocktikv.RegionError(e)))
	case p < 70:
		err := status.Error(codes.Unavailable, "chaos: connection reset")
		n.inject("transport-error", key, mocktikv.Times(1+n.r.IntN(2), mocktikv.Fail(err)))
	case p < 85:
		d := time.Duration(5+n.r.IntN(150)) * time.Millisecond
		n.inject("delay", key, mocktikv.Times(1+n.r.IntN(4), mocktikv.Delay(d)))
	default:
		err := status.Error(codes.Unavailable, "chaos: response lost")
		if n.r.IntN(2) == 0 {
			err = status.Error(codes.DeadlineExceeded, "chaos: response timed out")
		}
		n.inject("lost-response", key, mocktikv.Times(1, mocktikv.LoseResponse(err)))
	}
}

// regionError picks a region error TiKV returns before executing anything.
// A NotLeader may carry a hint, right or stale: a peer of key's region on
// any store, the stopped one included.
func (n *nemesis) regionError(key []byte) *errorpb.Error {
	switch n.r.IntN(6) {
	case 0:
		return &errorpb.Error{Message: "chaos", NotLeader: &errorpb.NotLeader{}}
	case 5:
		r, _ := n.mock.RegionByKey(key)
		peers := r.GetPeers()
		if len(peers) == 0 {
			return &errorpb.Error{Message: "chaos", NotLeader: &errorpb.NotLeader{}}
		}
		return &errorpb.Error{Message: "chaos", NotLeader: &errorpb.NotLeader{
			RegionId: r.GetId(), Leader: peers[n.r.IntN(len(peers))],
		}}
	case 1:
		return &errorpb.Error{Message: "chaos", ServerIsBusy: &errorpb.ServerIsBusy{Reason: "chaos"}}
	case 2:
		return &errorpb.Error{Message: "chaos", StaleCommand: &errorpb.StaleCommand{}}
	case 3:
		return &errorpb.Error{Message: "chaos", EpochNotMatch: &errorpb.EpochNotMatch{}}
	default:
		return &errorpb.Error{Message: "chaos", RegionNotFound: &errorpb.RegionNotFound{}}
	}
}

func (n *nemesis) inject(kind string, key []byte, s mocktikv.Step) {
	n.faults = append(n.faults, n.mock.Inject(mocktikv.Fault{Key: key, Steps: []mocktikv.Step{s}}))
	n.note(kind, "%s on %q x%d", kind, key, s.Times)
}

// upStore picks a running store.
func (n *nemesis) upStore() uint64 {
	stores := slices.DeleteFunc(n.mock.StoreIDs(), func(id uint64) bool { return id == n.down })
	return stores[n.r.IntN(len(stores))]
}

// moveLeadersOff hands the leadership of every region led from store, or
// left without a leader, to a running store, as raft's election would
// after the store died.
func (n *nemesis) moveLeadersOff(store uint64) {
	for _, r := range n.mock.Regions() {
		if _, leader := n.mock.RegionByID(r.GetId()); leader == nil || leader.GetStoreId() == store {
			to := n.upStore()
			n.note("transfer-leader", "elect leader of %d on store %d: %v", r.GetId(), to, n.mock.TransferLeader(r.GetId(), to))
		}
	}
}

// heal ends every fault and restarts the stopped store, so that the final
// reads can succeed. An error means the store could not be restarted: the
// cluster, not the client, is broken, and the round proves nothing.
func (n *nemesis) heal() error {
	for _, f := range n.faults {
		f.Remove()
	}
	n.faults = nil
	if n.down == 0 {
		return nil
	}
	n.moveLeadersOff(n.down) // in case stop cut an election short
	var err error
	for range 20 {
		if err = n.mock.StartStore(n.down); err == nil {
			n.note("start-store", "start store %d", n.down)
			n.markUp(n.down)
			n.down = 0
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.note("start-store-failed", "start store %d: %v", n.down, err)
	return fmt.Errorf("restart store %d: %w", n.down, err)
}

func (n *nemesis) note(kind, format string, args ...any) {
	n.counts[kind]++
	n.log = append(n.log, fmt.Sprintf("%9.3f %s", float64(n.clock.now())/1e6, fmt.Sprintf(format, args...)))
}
