package txn_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// falseTimeoutLock runs scenario S24 with optimistic transactions on p,
// whose client sends heartbeats (CommitOptions.HeartbeatTxnSize 1) every
// managed/2 raising the primary's TTL to its age plus managed. T1 writes
// k1 (primary) and k2, and its primary commit is held at a gate, so both
// stay locked while the heartbeat runs. wait() must return once k2's own
// TTL (3 s, twopc.DefaultLockTTL) has passed. T2 then writes k2 with a
// deadline of deadline: its prewrite meets T1's lock on k2, asks k1's
// status, finds it alive and must not roll anything back, so it fails
// with a locked or deadline error. T1 then commits, and k1, k2 read T1's
// values.
func falseTimeoutLock(t *testing.T, p *portCluster, wait func(), deadline time.Duration) {
	t.Helper()
	gate := mocktikv.NewGate()
	// A failing check must not leave T1's commit held: the client's Close
	// (an earlier cleanup, so it runs later) waits for it.
	t.Cleanup(gate.Open)
	p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Key: []byte("k1"),
		Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(gate))}})
	t1 := p.begin()
	for _, kv := range [][2]string{{"k1", "t1-v1"}, {"k2", "t1-v2"}} {
		if err := t1.Set([]byte(kv[0]), []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	t1Done := make(chan error, 1)
	go func() { t1Done <- t1.Commit(context.Background()) }()
	<-gate.Arrived() // both keys prewritten, the heartbeat running
	wait()

	p.log.take()
	t2 := p.begin()
	if err := t2.Set([]byte("k2"), []byte("t2-v2")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	err := t2.Commit(ctx)
	cancel()
	if !errors.Is(err, kv.ErrKeyLocked) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("T2 commit over T1's live secondary = %v, want a locked or deadline error", err)
	}
	sent := p.log.take()
	if countCmd(sent, transport.CmdCheckTxnStatus) == 0 {
		t.Fatalf("T2 sent %v: it never asked the primary's status", sent)
	}
	for _, c := range []transport.Cmd{transport.CmdResolveLock, transport.CmdCleanup} {
		if n := countCmd(sent, c); n != 0 {
			t.Fatalf("T2 sent %d %v: it resolved T1's live locks (all sent: %v)", n, c, sent)
		}
	}

	gate.Open()
	if err := <-t1Done; err != nil {
		t.Fatalf("T1 commit after T2 gave up: %v", err)
	}
	if t1.CommitDetails().Heartbeats == 0 {
		t.Fatalf("T1's primary got no heartbeat: %+v", t1.CommitDetails())
	}
	p.mustGet("k1", "t1-v1")
	p.mustGet("k2", "t1-v2")
}

// TestPortAcquireFalseTimeoutLockOptimistic ports client-go
// integration_tests/2pc_test.go TestAcquireFalseTimeoutLock (scenario
// S24) to optimistic transactions (the pessimistic original is issue
// #12's): a secondary whose own TTL expired is not taken from a
// transaction whose primary the TTL manager keeps alive. In-process in a
// synctest bubble (ManagedLockTTL 1 s as in the original, 4 s of fake
// time, T2 given 200 ms), then over gRPC with real time (waiting 3.5 s
// for k2's TTL to pass, T2 given 300 ms; ManagedLockTTL 2 s there, so
// that the primary's TTL, 5 s after the heartbeat at 3 s, stays well
// ahead of T2's status check on a loaded machine).
func TestPortAcquireFalseTimeoutLockOptimistic(t *testing.T) {
	managed := func(d time.Duration) txn.Option {
		return txn.WithCommitOptions(txn.CommitOptions{ManagedLockTTL: d, HeartbeatTxnSize: 1})
	}
	t.Run("in-process", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := newPortCluster(t, false, nil, managed(time.Second))
			falseTimeoutLock(t, p, func() {
				time.Sleep(4 * time.Second)
				synctest.Wait()
			}, 200*time.Millisecond)
		})
	})
	t.Run("grpc", func(t *testing.T) {
		p := newPortCluster(t, true, nil, managed(2*time.Second))
		falseTimeoutLock(t, p, func() { time.Sleep(3500 * time.Millisecond) }, 300*time.Millisecond)
	})
}
