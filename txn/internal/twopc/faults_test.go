package twopc_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// primaryCommit matches the commit of a primary batch.
func primaryCommit(_ uint64, cmd transport.Cmd, req transport.Message) bool {
	c, ok := req.(*kvrpcpb.CommitRequest)
	return ok && c.CommitRole == kvrpcpb.CommitRole_Primary
}

func (f *fixture) commitRequests() []*kvrpcpb.CommitRequest {
	var out []*kvrpcpb.CommitRequest
	for _, e := range f.log.take() {
		if c, ok := e.msg.(*kvrpcpb.CommitRequest); ok {
			out = append(out, c)
		}
	}
	return out
}

// prewriteForeign leaves a lock of another transaction on key.
func (f *fixture) prewriteForeign(key string, startTS uint64) {
	f.t.Helper()
	plan := pipeline.Shard(f.env, pipeline.ByKey(func(r *kvrpcpb.PrewriteRequest) []byte { return r.PrimaryLock }),
		pipeline.Retry(f.env, plans.KvPrewrite))
	_, err := plan(context.Background(), &kvrpcpb.PrewriteRequest{
		PrimaryLock: []byte(key), StartVersion: startTS, LockTtl: 60000, MinCommitTs: startTS + 1,
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte(key), Value: []byte("foreign")}},
	})
	if err != nil {
		f.t.Fatalf("foreign prewrite: %v", err)
	}
}

// ports client-go integration_tests/2pc_test.go TestRejectCommitTS: TiKV
// refusing the commit ts (a reader pushed the primary's min_commit_ts) is
// answered with a fresh commit ts, for the primary only.
func TestRejectCommitTS(t *testing.T) {
	f := newFixture(t, setup{splits: []string{"m"}})
	f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Match: primaryCommit, Steps: []mocktikv.Step{
		mocktikv.Times(1, mocktikv.Respond(func(req transport.Message) transport.Message {
			c := req.(*kvrpcpb.CommitRequest)
			return &kvrpcpb.CommitResponse{Error: &kvrpcpb.KeyError{CommitTsExpired: &kvrpcpb.CommitTsExpired{
				StartTs: c.StartVersion, AttemptedCommitTs: c.CommitVersion, Key: c.PrimaryKey, MinCommitTs: c.CommitVersion + 1,
			}}}
		})),
	}})
	f.log.take()
	d, err := f.commit(put("a", "1"), put("z", "2"))
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	f.settle()
	cs := f.commitRequests()
	if len(cs) != 3 || cs[0].CommitRole != kvrpcpb.CommitRole_Primary || cs[1].CommitRole != kvrpcpb.CommitRole_Primary ||
		cs[1].CommitVersion <= cs[0].CommitVersion || cs[2].CommitVersion != cs[1].CommitVersion || d.CommitTS != cs[1].CommitVersion {
		t.Fatalf("commits %v, details %+v", cs, d)
	}
	if d.CommitTSRetries != 1 || d.TSOCalls != 2 {
		t.Fatalf("details %+v", d)
	}
	f.mustGet("a", "1")
	f.mustGet("z", "2")
}

// ports client-go integration_tests/2pc_test.go TestFailCommitTimeout and
// TestFailCommitPrimaryRpcErrors: the primary's commit applies but no
// answer comes back, however often it is resent: the commit is
// kv.ErrUndetermined, nothing is rolled back, and the value is there.
func TestFailCommitTimeout(t *testing.T) {
	f := newFixture(t, setup{budget: 300 * time.Millisecond})
	f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Match: primaryCommit, Steps: []mocktikv.Step{
		mocktikv.Always(mocktikv.LoseResponse(status.Error(codes.Unavailable, "response lost"))),
	}})
	f.log.take()
	d, err := f.commit(put("a", "1"))
	if !errors.Is(err, kv.ErrUndetermined) {
		t.Fatalf("commit = %v, want ErrUndetermined", err)
	}
	f.settle()
	if n := f.log.count(transport.CmdBatchRollback.String()); n != 0 || d.RollbackQueued || d.CommitRPCs < 2 {
		t.Fatalf("%d rollbacks sent, details %+v", n, d)
	}
	f.mustGet("a", "1")
}

// A primary commit whose answer is lost once is resent (TiKV's commit is
// idempotent: the resend finds the commit record) and succeeds.
func TestCommitResentAfterLostResponse(t *testing.T) {
	f := newFixture(t, setup{})
	f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Match: primaryCommit, Steps: []mocktikv.Step{
		mocktikv.Times(1, mocktikv.LoseResponse(status.Error(codes.Unavailable, "response lost"))),
	}})
	d, err := f.commit(put("a", "1"))
	if err != nil || d.CommitRPCs != 2 {
		t.Fatalf("commit = %v, details %+v", err, d)
	}
	f.mustGet("a", "1")
}

// ports client-go integration_tests/2pc_test.go
// TestFailCommitPrimaryRegionError: a primary commit that never gets past
// region errors did not apply: the commit fails without being
// undetermined, and the locks are rolled back.
func TestFailCommitPrimaryRegionError(t *testing.T) {
	f := newFixture(t, setup{budget: 300 * time.Millisecond})
	f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Match: primaryCommit, Steps: []mocktikv.Step{
		mocktikv.Always(mocktikv.RegionError(&errorpb.Error{Message: "not leader", NotLeader: &errorpb.NotLeader{}})),
	}})
	d, err := f.commit(put("a", "1"), put("b", "2"))
	if err == nil || errors.Is(err, kv.ErrUndetermined) || !d.RollbackQueued {
		t.Fatalf("commit = %v, details %+v; want a determined failure", err, d)
	}
	f.settle()
	if l := f.locks(); len(l) != 0 {
		t.Fatalf("locks left: %v", l)
	}
	if v, err := f.get("a", 0); err != nil || v != nil {
		t.Fatalf("a = %q, %v", v, err)
	}
}

// ports client-go integration_tests/2pc_test.go
// TestFailCommitPrimaryKeyError: the primary's lock was rolled back by
// another party (a resolver that judged it expired) while the commit was
// on its way: TiKV answers TxnLockNotFound, the transaction failed, not
// undetermined, and the rest is rolled back.
func TestFailCommitPrimaryKeyError(t *testing.T) {
	f := newFixture(t, setup{splits: []string{"m"}})
	gate := mocktikv.NewGate()
	f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Match: primaryCommit, Steps: []mocktikv.Step{
		mocktikv.Times(1, mocktikv.Block(gate)),
	}})
	startTS := f.ts()
	type result struct {
		d   twopc.CommitDetails
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS,
			Mutations: []twopc.Mutation{put("a", "1"), put("z", "2")}})
		done <- result{d, err}
	}()
	<-gate.Arrived()
	rb := pipeline.Shard(f.env, pipeline.ByKey(func(r *kvrpcpb.BatchRollbackRequest) []byte { return r.Keys[0] }),
		pipeline.Retry(f.env, plans.KvBatchRollback))
	if _, err := rb(context.Background(), &kvrpcpb.BatchRollbackRequest{StartVersion: startTS, Keys: [][]byte{[]byte("a")}}); err != nil {
		t.Fatalf("roll back the primary: %v", err)
	}
	gate.Open()
	r := <-done
	var lnf *kv.TxnLockNotFoundError
	if !errors.As(r.err, &lnf) || errors.Is(r.err, kv.ErrUndetermined) || !r.d.RollbackQueued {
		t.Fatalf("commit = %v, details %+v; want TxnLockNotFound", r.err, r.d)
	}
	f.settle()
	if l := f.locks(); len(l) != 0 {
		t.Fatalf("locks left: %v", l)
	}
	if v, err := f.get("z", 0); err != nil || v != nil {
		t.Fatalf("z = %q, %v", v, err)
	}
}

// ports client-go integration_tests/2pc_test.go
// TestContextCancelCausingUndetermined: the caller gives up while the
// primary's commit is in flight: the outcome is undetermined.
func TestContextCancelCausingUndetermined(t *testing.T) {
	f := newFixture(t, setup{})
	gate := mocktikv.NewGate()
	defer gate.Open()
	f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Match: primaryCommit, Steps: []mocktikv.Step{
		mocktikv.Times(1, mocktikv.Block(gate)),
	}})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-gate.Arrived()
		cancel()
	}()
	d, err := f.committer.Commit(ctx, twopc.Request{StartTS: f.ts(), Mutations: []twopc.Mutation{put("a", "1")}})
	if !errors.Is(err, kv.ErrUndetermined) || !errors.Is(err, context.Canceled) || d.RollbackQueued {
		t.Fatalf("commit = %v, details %+v; want undetermined", err, d)
	}
}

// ports client-go integration_tests/2pc_test.go TestFailWithUndeterminedResult
// (its 2PC commit part): TiKV's UndeterminedResult on the primary's commit
// is kv.ErrUndetermined.
func TestFailWithUndeterminedResult(t *testing.T) {
	f := newFixture(t, setup{})
	f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Match: primaryCommit, Steps: []mocktikv.Step{
		mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{Message: "undetermined", UndeterminedResult: &errorpb.UndeterminedResult{}})),
	}})
	d, err := f.commit(put("a", "1"))
	if !errors.Is(err, kv.ErrUndetermined) || d.RollbackQueued {
		t.Fatalf("commit = %v, details %+v", err, d)
	}
}

// ports client-go integration_tests/2pc_test.go TestPrewriteCancel and
// TestWrittenKeysOnConflict: a secondary batch's prewrite fails (a write
// conflict) after other batches wrote their locks; every lock written is
// rolled back.
func TestPrewriteCancel(t *testing.T) {
	f := newFixture(t, setup{splits: []string{"b", "m"}})
	startTS := f.ts()
	if _, err := f.commit(put("z", "other")); err != nil {
		t.Fatal(err)
	}
	// z's batch is held until the other two batches have been answered,
	// so their locks are written when z's conflict stops the prewrite.
	zGate := mocktikv.NewGate()
	defer zGate.Open()
	f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: []byte("z"), Steps: []mocktikv.Step{
		mocktikv.Times(1, mocktikv.Block(zGate)),
	}})
	var others atomic.Int32
	release := func(req *transport.Request) {
		if pw, ok := req.Msg.(*kvrpcpb.PrewriteRequest); ok && string(pw.Mutations[0].Key) != "z" && others.Add(1) == 2 {
			zGate.Open()
		}
	}
	f.log.after.Store(&release)
	defer f.log.after.Store(nil)
	gate := mocktikv.NewGate()
	defer gate.Open()
	f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdBatchRollback, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Block(gate))}})
	f.settle()
	f.log.take()
	d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS,
		Mutations: []twopc.Mutation{put("a", "1"), put("c", "2"), put("z", "3")}})
	var wc *kv.WriteConflictError
	if !errors.As(err, &wc) || string(wc.Key) != "z" || !d.RollbackQueued || d.PrewriteBatches != 3 {
		t.Fatalf("commit = %v, details %+v; want a write conflict on z", err, d)
	}
	if l := f.locks(); len(l) != 2 {
		t.Fatalf("%d locks before the rollback, want a's and c's: %v", len(l), l)
	}
	gate.Open()
	f.settle()
	if l := f.locks(); len(l) != 0 {
		t.Fatalf("locks left after the rollback: %v", l)
	}
	if a := apis(f.log.take(), transport.CmdBatchRollback); len(a) == 0 || a[0] != "Rollback" {
		t.Fatalf("rollback calls named %v", a)
	}
	f.mustGet("z", "other")
	if v, err := f.get("a", 0); err != nil || v != nil {
		t.Fatalf("a = %q, %v", v, err)
	}
}

// A lock of an older transaction met at prewrite goes to the resolver, and
// the batch is sent again once it is settled (client-go's prewrite
// resolveLocks).
func TestPrewriteResolvesLock(t *testing.T) {
	f := newFixture(t, setup{})
	f.prewriteForeign("a", f.ts())
	d, err := f.commit(put("a", "mine"), put("b", "mine"))
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	if f.resolver.calls.Load() != 1 || f.resolver.locks.Load() != 1 || d.LocksMet != 1 || d.PrewriteRPCs != 2 {
		t.Fatalf("resolver calls %d, details %+v", f.resolver.calls.Load(), d)
	}
	f.settle()
	f.mustGet("a", "mine")
}

// ports client-go integration_tests/lock_test.go
// TestPrewriteEncountersLargerTsLock: an optimistic transaction that meets
// a newer transaction's lock fails with a write conflict at once, without
// resolving it.
func TestPrewriteEncountersLargerTsLock(t *testing.T) {
	f := newFixture(t, setup{})
	startTS := f.ts()
	newer := f.ts()
	f.prewriteForeign("a", newer)
	_, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{put("a", "mine")}})
	var wc *kv.WriteConflictError
	if !errors.As(err, &wc) || wc.ConflictStartTS != newer || wc.Reason != kvrpcpb.WriteConflict_Optimistic || f.resolver.calls.Load() != 0 {
		t.Fatalf("commit = %v, resolver calls %d; want a write conflict with %d", err, f.resolver.calls.Load(), newer)
	}
}

// Without a resolver every lock met is a write conflict (client-go's
// NoResolvePolicy).
func TestPrewriteNoResolvePolicy(t *testing.T) {
	f := newFixture(t, setup{noResolve: true})
	older := f.ts()
	f.prewriteForeign("a", older)
	_, err := f.commit(put("a", "mine"))
	var wc *kv.WriteConflictError
	if !errors.As(err, &wc) || wc.ConflictStartTS != older {
		t.Fatalf("commit = %v, want a write conflict with %d", err, older)
	}
}

// ports client-go integration_tests/2pc_test.go
// TestFailCommitPrimaryRPCErrorThenKeyError: the first answer is lost, the
// resend is answered with a key error: TiKV's answer settles the outcome
// (had the first attempt applied, the resend would have succeeded), so the
// commit failed, not undetermined, and is rolled back.
func TestFailCommitPrimaryRPCErrorThenKeyError(t *testing.T) {
	f := newFixture(t, setup{})
	f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Match: primaryCommit, Steps: []mocktikv.Step{
		mocktikv.Times(1, mocktikv.Fail(status.Error(codes.Unavailable, "connection reset"))),
		mocktikv.Times(1, mocktikv.KeyError(&kvrpcpb.KeyError{TxnLockNotFound: &kvrpcpb.TxnLockNotFound{Key: []byte("a")}})),
	}})
	d, err := f.commit(put("a", "1"))
	var lnf *kv.TxnLockNotFoundError
	if !errors.As(err, &lnf) || errors.Is(err, kv.ErrUndetermined) || !d.RollbackQueued || d.CommitRPCs != 2 {
		t.Fatalf("commit = %v, details %+v; want a determined TxnLockNotFound", err, d)
	}
	f.settle()
	if l := f.locks(); len(l) != 0 {
		t.Fatalf("locks left: %v", l)
	}
}

// ports client-go integration_tests/2pc_test.go
// TestFailCommitPrimaryRPCErrorThenRegionError: the first answer is lost
// and region errors follow until the budget runs out: nothing settled the
// outcome, so it is undetermined.
func TestFailCommitPrimaryRPCErrorThenRegionError(t *testing.T) {
	f := newFixture(t, setup{budget: 300 * time.Millisecond})
	f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Match: primaryCommit, Steps: []mocktikv.Step{
		mocktikv.Times(1, mocktikv.Fail(status.Error(codes.Unavailable, "connection reset"))),
		mocktikv.Always(mocktikv.RegionError(&errorpb.Error{Message: "not leader", NotLeader: &errorpb.NotLeader{}})),
	}})
	d, err := f.commit(put("a", "1"))
	if !errors.Is(err, kv.ErrUndetermined) || d.RollbackQueued {
		t.Fatalf("commit = %v, details %+v; want undetermined", err, d)
	}
}
