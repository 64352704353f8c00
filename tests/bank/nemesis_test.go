package bank_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
)

// nemesis changes the cluster under the bank workload: it splits regions
// at account keys, moves leaders, stops and restarts one store, and loses
// the responses of Prewrite and Commit requests after they applied. Its
// choices come from its own seeded generator and depend only on the
// topology, so the sequence of actions is fixed by the seed; when they
// happen relative to the transfers is not. (tests/linearizability's
// nemesis does the same for RawKV, with more kinds of fault.)
//
// It is used by one goroutine at a time: run, then heal.
type nemesis struct {
	mock  *mocktikv.Cluster
	keys  [][]byte
	r     *rand.Rand
	start time.Time
	// down is the stopped store, 0 when every store is up. At most one of
	// the three is down, so a majority of every region's peers remains.
	down   uint64
	faults []*mocktikv.FaultHandle
	log    []string       // every action, with its time
	counts map[string]int // actions by kind
}

func newNemesis(mock *mocktikv.Cluster, keys [][]byte, seed uint64) *nemesis {
	return &nemesis{mock: mock, keys: keys, r: rand.New(rand.NewPCG(seed, 0x6e656d65)),
		start: time.Now(), counts: map[string]int{}}
}

// run acts every 10 to 80 ms (seeded) until stop is closed.
func (n *nemesis) run(stop <-chan struct{}) {
	for {
		t := time.NewTimer(time.Duration(10+n.r.IntN(71)) * time.Millisecond)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		n.act(stop)
	}
}

// act takes one seeded action; stop cuts short the wait inside one.
func (n *nemesis) act(stop <-chan struct{}) {
	switch p := n.r.IntN(100); {
	case p < 15:
		key := n.keys[n.r.IntN(len(n.keys))]
		_, err := n.mock.SplitTxn(key)
		n.note("split", "split at %q: %v", key, err)
	case p < 40:
		regions := n.mock.Regions()
		r := regions[n.r.IntN(len(regions))]
		to := n.upStore()
		n.note("transfer-leader", "transfer leader of %d to store %d: %v", r.GetId(), to, n.mock.TransferLeader(r.GetId(), to))
	case p < 55:
		if n.down != 0 {
			if err := n.mock.StartStore(n.down); err != nil {
				// The store stays down (over gRPC its port may have been
				// taken); the next start action tries again.
				n.note("start-store-failed", "start store %d: %v", n.down, err)
				return
			}
			n.note("start-store", "start store %d", n.down)
			n.down = 0
			return
		}
		stores := n.mock.StoreIDs()
		n.down = stores[n.r.IntN(len(stores))]
		n.note("stop-store", "stop store %d: %v", n.down, n.mock.StopStore(n.down))
		// Raft needs an election timeout before another peer leads: for
		// 0 to 300 ms the regions the stopped store led have no leader.
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
	default:
		// The next Prewrite or Commit, whoever sends it (a worker's
		// primary or secondary batch, the killer, a background secondary
		// commit), is applied and its response lost.
		cmd, name := transport.CmdPrewrite, "prewrite"
		if n.r.IntN(2) == 0 {
			cmd, name = transport.CmdCommit, "commit"
		}
		err := status.Error(codes.Unavailable, "bank nemesis: response lost")
		if n.r.IntN(2) == 0 {
			err = status.Error(codes.DeadlineExceeded, "bank nemesis: response timed out")
		}
		n.faults = append(n.faults, n.mock.Inject(mocktikv.Fault{Cmd: cmd,
			Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.LoseResponse(err))}}))
		n.note("lost-"+name, "lose the next %s response (%v)", name, err)
	}
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
			n.note("elect", "elect leader of %d on store %d: %v", r.GetId(), to, n.mock.TransferLeader(r.GetId(), to))
		}
	}
}

// heal removes the faults not yet used up and restarts the stopped store,
// so that the final checks run on a healthy cluster. An error means the
// store could not be restarted: the cluster, not the client, is broken.
func (n *nemesis) heal() error {
	for _, f := range n.faults {
		if f.Hits() > 0 {
			n.counts["lost-response-hit"]++
		}
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
	n.log = append(n.log, fmt.Sprintf("%9.3f %s", float64(time.Since(n.start).Microseconds())/1e3, fmt.Sprintf(format, args...)))
}
