package twopc_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// ports client-go async_commit_fail_test.go
// TestFailAsyncCommitPrewriteRpcErrors (S34d), in process and over gRPC:
// every prewrite applies but its answer is lost. The locks are written,
// so readers may commit the transaction: the commit is
// kv.ErrUndetermined, nothing is rolled back, and the async-commit locks
// stay for readers to resolve.
func TestFailAsyncCommitPrewriteRpcErrors(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		f := newFixture(t, setup{grpc: grpc, budget: 300 * time.Millisecond, opts: twopc.Options{AsyncCommit: true}})
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Steps: []mocktikv.Step{
			mocktikv.Always(mocktikv.LoseResponse(status.Error(codes.Unavailable, "response lost"))),
		}})
		d, err := f.commit(put("a", "a1"))
		if !errors.Is(err, kv.ErrUndetermined) || d.RollbackQueued || d.PrewriteRPCs < 2 {
			t.Fatalf("grpc %v: commit = %v, details %+v; want undetermined", grpc, err, d)
		}
		f.settle()
		if l := f.locksNow(); len(l) != 1 || !l[0].UseAsyncCommit || l[0].LockVersion != d.StartTS {
			t.Fatalf("grpc %v: locks %v, want a's async-commit lock", grpc, l)
		}
	}
}

// ports client-go async_commit_fail_test.go
// TestPrewriteFailWithUndeterminedResult and 1pc_test.go
// TestFailWithUndeterminedResult (S34b, S34c): TiKV answers a prewrite of
// async commit or 1PC with UndeterminedResult: the commit is
// kv.ErrUndetermined and nothing is rolled back.
func TestPrewriteFailWithUndeterminedResult(t *testing.T) {
	for _, opts := range []twopc.Options{{AsyncCommit: true}, {OnePC: true}} {
		f := newFixture(t, setup{opts: opts})
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{Message: "undetermined", UndeterminedResult: &errorpb.UndeterminedResult{}})),
		}})
		d, err := f.commit(put("key", "value"))
		if !errors.Is(err, kv.ErrUndetermined) || d.RollbackQueued {
			t.Fatalf("%+v: commit = %v, details %+v; want undetermined", opts, err, d)
		}
	}
}

// ports client-go async_commit_fail_test.go
// TestAsyncCommitContextCancelCausingUndetermined (S34e): the caller gives
// up while an async-commit prewrite is in flight: undetermined.
func TestAsyncCommitContextCancelCausingUndetermined(t *testing.T) {
	f := newFixture(t, setup{opts: twopc.Options{AsyncCommit: true}})
	gate := mocktikv.NewGate()
	defer gate.Open()
	f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(gate))}})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-gate.Arrived()
		cancel()
	}()
	d, err := f.committer.Commit(ctx, twopc.Request{StartTS: f.ts(), Mutations: []twopc.Mutation{put("a", "va")}})
	if !errors.Is(err, kv.ErrUndetermined) || !errors.Is(err, context.Canceled) || d.RollbackQueued {
		t.Fatalf("commit = %v, details %+v; want undetermined", err, d)
	}
}

// ports client-go async_commit_fail_test.go TestAsyncCommitPrewriteCancelled
// (S34f), in process and over gRPC: of an async commit over two regions,
// one batch answers a write conflict while the other is still in flight
// (it is cancelled): the conflict decides, the transaction failed for
// certain (that key is never locked), and what was written is rolled back.
func TestAsyncCommitPrewriteCancelled(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		f := newFixture(t, setup{grpc: grpc, splits: []string{"s"}, opts: twopc.Options{AsyncCommit: true}})
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: []byte("z"), Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.KeyError(&kvrpcpb.KeyError{Conflict: &kvrpcpb.WriteConflict{Key: []byte("z"), Primary: []byte("a")}})),
		}})
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: []byte("a"), Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.Delay(50*time.Millisecond)),
		}})
		d, err := f.commit(put("a", "a"), put("z", "z"))
		var wc *kv.WriteConflictError
		if !errors.As(err, &wc) || errors.Is(err, kv.ErrUndetermined) || !d.RollbackQueued {
			t.Fatalf("grpc %v: commit = %v, details %+v; want a write conflict", grpc, err, d)
		}
		f.settle()
		if l := f.locksNow(); len(l) != 0 {
			t.Fatalf("grpc %v: locks left %v", grpc, l)
		}
	}
}

// ports client-go option_test.go TestSetCommitWaitUntilTSO: a commit that
// must commit above a ts the TSO has not reached waits for it (2PC's
// commit ts, async commit's and 1PC's min commit ts, also with causal
// consistency); a lag beyond the wait's timeout, or any lag with no wait
// allowed, fails at once with *CommitTSLagError and nothing committed.
func TestCommitWaitUntilTSO(t *testing.T) {
	ahead := func(f *fixture, ms int64) uint64 {
		return pdclient.ComposeTS(pdclient.ExtractPhysical(f.ts())+ms, 0)
	}
	for _, tc := range []struct {
		name    string
		opts    twopc.Options
		aheadMS int64
		timeout time.Duration
		fails   bool
	}{
		{name: "no lag", aheadMS: -1000},
		{name: "lag, wait", aheadMS: 30},
		{name: "no wait", aheadMS: 30, timeout: -1, fails: true},
		{name: "lag too much", aheadMS: 10000, fails: true},
		{name: "lag beyond timeout", aheadMS: 300, timeout: 20 * time.Millisecond, fails: true},
		{name: "1pc", aheadMS: 30, opts: twopc.Options{OnePC: true, AsyncCommit: true}},
		{name: "1pc lag too much", aheadMS: 10000, opts: twopc.Options{OnePC: true, AsyncCommit: true}, fails: true},
		{name: "async causal", aheadMS: 30, opts: twopc.Options{AsyncCommit: true, CausalConsistency: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, setup{opts: tc.opts})
			startTS := f.ts()
			until := ahead(f, tc.aheadMS)
			d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{put("k", "v")},
				CommitWaitUntilTSO: until, CommitWaitTimeout: tc.timeout})
			var lag *twopc.CommitTSLagError
			if tc.fails {
				if !errors.As(err, &lag) || lag.WaitUntil != until || d.CommitTS != 0 {
					t.Fatalf("commit = %v, details %+v; want a CommitTSLagError", err, d)
				}
				f.settle()
				f.mustMiss("k", 0)
				return
			}
			if err != nil || d.CommitTS <= until {
				t.Fatalf("commit = %v, commit ts %d, want above %d", err, d.CommitTS, until)
			}
			if waited := tc.aheadMS > 0; waited != (d.CommitWaitRetries > 0) {
				t.Fatalf("details %+v", d)
			}
			f.settle()
			f.mustGet("k", "v")
		})
	}
}

// A commit-ts upper bound (client-go's commitTSUpperBoundCheck) turns
// async commit and 1PC off and is checked against the 2PC commit ts before
// the primary commits: refused, the commit fails with
// *CommitTSUpperBoundError and is rolled back.
func TestCommitTSUpperBound(t *testing.T) {
	f := newFixture(t, setup{opts: twopc.Options{AsyncCommit: true, OnePC: true}})
	var seen uint64
	d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: f.ts(), Mutations: []twopc.Mutation{put("k", "v")},
		CommitTSUpperBound: func(ts uint64) bool { seen = ts; return true }})
	if err != nil || d.Protocol != twopc.ProtocolTwoPC || d.CommitTS != seen {
		t.Fatalf("commit = %v, bound saw %d, details %+v", err, seen, d)
	}
	d, err = f.committer.Commit(context.Background(), twopc.Request{StartTS: f.ts(), Mutations: []twopc.Mutation{put("k", "v2")},
		CommitTSUpperBound: func(uint64) bool { return false }})
	var ub *twopc.CommitTSUpperBoundError
	if !errors.As(err, &ub) || d.CommitTS != 0 || !d.RollbackQueued || d.CommitRPCs != 0 {
		t.Fatalf("commit = %v, details %+v; want an upper bound failure", err, d)
	}
	f.settle()
	f.mustGet("k", "v")
	if l := f.locksNow(); len(l) != 0 {
		t.Fatalf("locks left %v", l)
	}
}

// S17 (client-go async_commit_test.go TestRollbackAsyncCommitEnforcesFallback,
// which runs a pessimistic transaction; here both kinds): the primary's batch is
// prewritten with async commit; before the other batch is, a status check
// of the primary at a ts past max_commit_ts pushes the store's max_ts
// (TiKV's check_txn_status updates it). That batch then cannot commit
// under max_commit_ts: TiKV writes a normal lock and the transaction falls
// back to two-phase commit, so no reader can judge it committed from its
// secondaries; it commits through its primary.
func TestAsyncCommitLaterBatchEnforcesFallback(t *testing.T) {
	for _, pessimistic := range []bool{false, true} {
		t.Run(fmt.Sprintf("pessimistic=%v", pessimistic), func(t *testing.T) { laterBatchEnforcesFallback(t, pessimistic) })
	}
}

// laterBatchEnforcesFallback is TestAsyncCommitLaterBatchEnforcesFallback
// for an optimistic or a pessimistic transaction (whose keys, written
// without LockKeys as in client-go's test, are prewritten with a
// for_update_ts and no pessimistic check).
func laterBatchEnforcesFallback(t *testing.T, pessimistic bool) {
	// max_commit_ts = start ts + 200 ms (the request carries no age): time
	// enough for the primary's batch, even on a loaded machine.
	f := newFixture(t, setup{splits: []string{"m"}, opts: twopc.Options{AsyncCommit: true, SafeWindow: 200 * time.Millisecond}})
	zGate := mocktikv.NewGate()
	defer zGate.Open()
	f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: []byte("z"), Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(zGate))}})
	aDone := make(chan struct{})
	var once sync.Once
	after := func(req *transport.Request) {
		if pw, ok := req.Msg.(*kvrpcpb.PrewriteRequest); ok && string(pw.Mutations[0].Key) == "a" {
			once.Do(func() { close(aDone) })
		}
	}
	f.log.after.Store(&after)
	defer f.log.after.Store(nil)
	startTS := f.ts()
	type result struct {
		d   twopc.CommitDetails
		err error
	}
	done := make(chan result, 1)
	go func() {
		req := twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{put("a", "1"), put("z", "2")}}
		if pessimistic {
			req.ForUpdateTS = startTS
		}
		d, err := f.committer.Commit(context.Background(), req)
		done <- result{d, err}
	}()
	<-aDone
	<-zGate.Arrived()
	var current uint64
	for current = f.ts(); pdclient.ExtractPhysical(current) <= pdclient.ExtractPhysical(startTS)+205; current = f.ts() {
		time.Sleep(5 * time.Millisecond) // poll PD's clock, do not spin on it
	}
	check := pipeline.Single(pipeline.Shard(f.env, pipeline.ByKey((*kvrpcpb.CheckTxnStatusRequest).GetPrimaryKey),
		pipeline.Retry(f.env, plans.KvCheckTxnStatus)))
	st, err := check(context.Background(), &kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("a"), LockTs: startTS, CallerStartTs: current, CurrentTs: current})
	if err != nil || st.LockInfo == nil || !st.LockInfo.UseAsyncCommit || st.CommitVersion != 0 {
		t.Fatalf("status of the primary: %+v, %v; want its live async-commit lock", st, err)
	}
	zGate.Open()
	r := <-done
	if r.err != nil || r.d.Protocol != twopc.ProtocolTwoPC || !r.d.AsyncCommitFallback || r.d.CommitTS <= current {
		t.Fatalf("commit = %v, details %+v", r.err, r.d)
	}
	f.settle()
	f.mustGetAt("a", "1", r.d.CommitTS)
	f.mustGetAt("z", "2", r.d.CommitTS)
}
