package twopc_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// ports client-go txnkv/transaction txnLockTTL (no test of its own there)
// and integration_tests/2pc_test.go TestElapsedTTL: the lock TTL grows
// with the square root of the size, within [3 s, ManagedLockTTL], plus
// the transaction's age.
func TestLockTTL(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		size    int
		elapsed time.Duration
		want    time.Duration
	}{
		{0, 0, 3 * time.Second},
		{16*1024 - 1, 0, 3 * time.Second},
		{256 * 1024, 0, 3 * time.Second},
		{mib, 0, 6 * time.Second},
		{4 * mib, 0, 12 * time.Second},
		{9 * mib, 0, 18 * time.Second},
		{100 * mib, 0, 20 * time.Second},
		{0, 120*time.Millisecond + 500*time.Microsecond, 3*time.Second + 120*time.Millisecond},
		{mib, time.Second, 7 * time.Second},
	} {
		if got := twopc.LockTTL(c.size, c.elapsed, twopc.DefaultManagedLockTTL); got != c.want {
			t.Errorf("LockTTL(%d, %v) = %v, want %v", c.size, c.elapsed, got, c.want)
		}
	}
}

// TestElapsedTTL ports client-go integration_tests/2pc_test.go
// TestElapsedTTL: the prewritten lock's TTL includes the time since the
// transaction began.
func TestElapsedTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, setup{})
		began := time.Now()
		startTS := f.ts()
		time.Sleep(150 * time.Millisecond)
		f.log.take()
		d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS, Began: began, Mutations: []twopc.Mutation{put("a", "1")}})
		if err != nil {
			t.Fatal(err)
		}
		if d.LockTTL != 3150*time.Millisecond {
			t.Fatalf("lock ttl %v, want 3.15s", d.LockTTL)
		}
		for _, e := range f.log.take() {
			if pw, ok := e.msg.(*kvrpcpb.PrewriteRequest); ok && pw.LockTtl != 3150 {
				t.Fatalf("prewrite lock_ttl %d, want 3150", pw.LockTtl)
			}
		}
	})
}

// ports client-go integration_tests/2pc_test.go TestDeleteYourWritesTTL
// and the heartbeat half of TestPessimisticTTL: a large transaction's
// primary gets a heartbeat every ManagedLockTTL/2 while its commit runs,
// raising its TTL to its age plus ManagedLockTTL; the heartbeat stops
// with the commit.
func TestTTLManagerHeartbeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, setup{opts: twopc.Options{HeartbeatTxnSize: 1}})
		gate := mocktikv.NewGate()
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Match: primaryCommit, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.Block(gate)),
		}})
		hb := transport.CmdTxnHeartBeat.String()
		type result struct {
			d   twopc.CommitDetails
			err error
		}
		done := make(chan result, 1)
		go func() {
			d, err := f.commit(put("a", "1"), put("b", "2"))
			done <- result{d, err}
		}()
		<-gate.Arrived()
		time.Sleep(25 * time.Second) // ticks at 10 s and 20 s
		synctest.Wait()
		if n := f.log.count(hb); n != 2 {
			t.Fatalf("%d heartbeats after 25s, want 2", n)
		}
		for _, l := range f.locks() {
			if string(l.Key) == "a" && l.LockTtl != 40000 {
				t.Fatalf("primary lock ttl %d ms, want 40000 (age 20 s + 20 s)", l.LockTtl)
			}
		}
		gate.Open()
		r := <-done
		if r.err != nil || r.d.Heartbeats != 2 || r.d.HeartbeatRPCs != 2 {
			t.Fatalf("commit = %v, details %+v", r.err, r.d)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := f.log.count(hb); n != 2 {
			t.Fatalf("%d heartbeats after the commit ended, want still 2", n)
		}
	})
}

// A heartbeat that finds the primary lock gone (rolled back by a reader)
// stops the heartbeat (client-go's keepAlive stops on a key error); a
// small transaction never starts one.
func TestTTLManagerStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, setup{opts: twopc.Options{HeartbeatTxnSize: 1}})
		gate := mocktikv.NewGate()
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Match: primaryCommit, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.Block(gate)),
		}})
		hb := transport.CmdTxnHeartBeat.String()
		startTS := f.ts()
		done := make(chan twopc.CommitDetails, 1)
		go func() {
			d, _ := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{put("a", "1")}})
			done <- d
		}()
		<-gate.Arrived()
		time.Sleep(11 * time.Second)
		synctest.Wait()
		rb := pipeline.Shard(f.env, pipeline.ByKey(func(r *kvrpcpb.BatchRollbackRequest) []byte { return r.Keys[0] }),
			pipeline.Retry(f.env, plans.KvBatchRollback))
		if _, err := rb(context.Background(), &kvrpcpb.BatchRollbackRequest{StartVersion: startTS, Keys: [][]byte{[]byte("a")}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := f.log.count(hb); n != 2 {
			t.Fatalf("%d heartbeats, want 2: one accepted, one that found no lock", n)
		}
		gate.Open()
		if d := <-done; d.Heartbeats != 1 || d.HeartbeatRPCs != 2 {
			t.Fatalf("details %+v", d)
		}

		// Default threshold (32 MiB): no heartbeat for a small transaction.
		small := newFixture(t, setup{})
		gate2 := mocktikv.NewGate()
		small.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Match: primaryCommit, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.Block(gate2)),
		}})
		go func() {
			d, _ := small.commit(put("a", "1"))
			done <- d
		}()
		<-gate2.Arrived()
		time.Sleep(time.Minute)
		synctest.Wait()
		gate2.Open()
		if d := <-done; small.log.count(hb) != 0 || d.HeartbeatRPCs != 0 {
			t.Fatalf("small txn sent heartbeats: %+v", d)
		}
	})
}
