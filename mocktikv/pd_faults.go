package mocktikv

import (
	"context"
	"sync"
	"time"
)

// PD faults are scripted per PD RPC, by its gRPC method name as in
// kvproto's pdpb.PD and keyspacepb.Keyspace services: "GetRegion",
// "QueryRegion", "BatchScanRegions", "GetStore", "GetAllStores", "Tso",
// "GetGCState", "LoadKeyspace", ... . On a stream (Tso, QueryRegion) a
// fault applies to each request message: a failure ends the stream with
// the error, as a PD that fails mid-stream does.
//
// The real PD client sends GetRegion, GetPrevRegion and GetRegionByID over
// the QueryRegion stream by default, and GetTS over the Tso stream. The
// in-process PD (Cluster.PD) consults the same names the real client's call
// would hit: its GetRegion, GetPrevRegion and GetRegionByID use
// "QueryRegion", GetTS uses "Tso", and the others their own names, so one
// script works for both.

// pdFaultState holds the scripted PD faults. Its mutex is never held while
// waiting or while c.mu is held.
type pdFaultState struct {
	mu     sync.Mutex
	fails  map[string][]pdFailure // method -> steps, consumed in order
	delays map[string]time.Duration
}

// pdFailure is one step of a method's failure script: the next remaining
// calls fail with err; remaining <= 0 means every call, for good.
type pdFailure struct {
	err       error
	remaining int
}

func newPDFaultState() *pdFaultState {
	return &pdFaultState{fails: map[string][]pdFailure{}, delays: map[string]time.Duration{}}
}

// FailPD makes the next count calls of the PD RPC method fail with err
// (every call, until ClearPDFaults, when count <= 0). Calls for the same
// method queue up: FailPD("Tso", a, 1) then FailPD("Tso", b, 2) fails the
// next call with a, the two after it with b, then lets calls through. A nil
// err clears the method's script. Over gRPC the client sees err's status
// (use status.Error to choose the code; other errors become codes.Unknown);
// the in-process PD returns err itself.
func (c *Cluster) FailPD(method string, err error, count int) {
	f := c.pdFaults
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.fails, method)
		return
	}
	f.fails[method] = append(f.fails[method], pdFailure{err: err, remaining: count})
}

// DelayPD makes every call of the PD RPC method wait d after its answer is
// computed and before it is returned, so that the answer can be stale by the
// time it arrives, as a slow PD's is. The wait ends early, with the call's
// context error, when the caller gives up. d <= 0 removes the delay.
func (c *Cluster) DelayPD(method string, d time.Duration) {
	f := c.pdFaults
	f.mu.Lock()
	defer f.mu.Unlock()
	if d <= 0 {
		delete(f.delays, method)
		return
	}
	f.delays[method] = d
}

// ClearPDFaults removes every failure script and delay set with FailPD and
// DelayPD. It does not resume a paused TSO.
func (c *Cluster) ClearPDFaults() {
	f := c.pdFaults
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.fails)
	clear(f.delays)
}

// PauseTSO makes TSO requests (the Tso stream, and the in-process PD's
// GetTS) block until ResumeTSO or until the caller's context ends. No
// timestamp is allocated while paused. Pausing a paused TSO is a no-op.
func (c *Cluster) PauseTSO() { c.tso.pause() }

// ResumeTSO releases the TSO requests PauseTSO blocked and lets new ones
// through. Resuming a running TSO is a no-op.
func (c *Cluster) ResumeTSO() { c.tso.resume() }

// failure consumes one step of method's failure script and returns its
// error, or nil when the call may proceed.
func (f *pdFaultState) failure(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	steps := f.fails[method]
	if len(steps) == 0 {
		return nil
	}
	err := steps[0].err
	if steps[0].remaining > 0 {
		steps[0].remaining--
		if steps[0].remaining == 0 {
			steps = steps[1:]
		}
	}
	if len(steps) == 0 {
		delete(f.fails, method)
	} else {
		f.fails[method] = steps
	}
	return err
}

// delay waits method's delay, or until ctx ends (returning its error).
func (f *pdFaultState) delay(ctx context.Context, method string) error {
	f.mu.Lock()
	d := f.delays[method]
	f.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
