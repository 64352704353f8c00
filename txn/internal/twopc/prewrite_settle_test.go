package twopc_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// Tests of prewrite_settle.go: an async-commit or 1PC prewrite whose batch
// had an attempt of unknown outcome and whose retry TiKV answered with a
// key error is settled by a check of the transaction's keys; a two-phase
// one is a plain failure at once. Each runs in process in a synctest
// bubble (backoff sleeps in fake time) and over gRPC in real time.

// bothTransports runs fn in process under synctest, then over gRPC.
func bothTransports(t *testing.T, fn func(t *testing.T, grpc bool)) {
	t.Run("in-process", func(t *testing.T) { synctest.Test(t, func(t *testing.T) { fn(t, false) }) })
	t.Run("grpc", func(t *testing.T) { fn(t, true) })
}

// prewriteDone returns a channel closed once an attempt of a prewrite
// holding key has been answered (or failed).
func (f *fixture) prewriteDone(key string) <-chan struct{} {
	done := make(chan struct{})
	var once sync.Once
	after := func(req *transport.Request) {
		pw, ok := req.Msg.(*kvrpcpb.PrewriteRequest)
		if !ok {
			return
		}
		for _, m := range pw.Mutations {
			if string(m.Key) == key {
				once.Do(func() { close(done) })
			}
		}
	}
	f.log.after.Store(&after)
	f.t.Cleanup(func() { f.log.after.Store(nil) })
	return done
}

var (
	lost       = mocktikv.LoseResponse(status.Error(codes.Unavailable, "response lost"))
	notApplied = mocktikv.Fail(status.Error(codes.Unavailable, "connection reset"))
)

// conflictOn is the key error of a write conflict on key, as TiKV answers it.
func conflictOn(key string, startTS uint64) mocktikv.Action {
	return mocktikv.KeyError(&kvrpcpb.KeyError{Conflict: &kvrpcpb.WriteConflict{
		StartTs: startTS, ConflictTs: startTS + 1, ConflictCommitTs: startTS + 2, Key: []byte(key), Primary: []byte(key),
		Reason: kvrpcpb.WriteConflict_Optimistic,
	}})
}

// wantDeterminedConflict fails unless err is a retryable write conflict,
// not undetermined, whose locks were rolled back.
func wantDeterminedConflict(t *testing.T, err error, d twopc.CommitDetails) {
	t.Helper()
	var wc *kv.WriteConflictError
	if !errors.As(err, &wc) || !errors.Is(err, kv.ErrTxnRetryable) || errors.Is(err, kv.ErrUndetermined) {
		t.Fatalf("commit = %v; want a retryable write conflict, not undetermined", err)
	}
	if !d.RollbackQueued || d.CommitTS != 0 {
		t.Fatalf("details %+v: want the rollback queued and no commit ts", d)
	}
}

// TestPrewriteSettleAsyncCommitRolledBack: an async commit over two
// regions; z's prewrite applies but its answer is lost; before the retry
// a reader rolls z's lock back and a newer transaction commits z, so TiKV
// answers the retry with a write conflict (its own rollback record and the
// newer write). The check of the keys finds z rolled back: the transaction
// is not committed and never can be, so the commit fails with the write
// conflict, determined and retryable, and a's lock is rolled back.
func TestPrewriteSettleAsyncCommitRolledBack(t *testing.T) {
	bothTransports(t, func(t *testing.T, grpc bool) {
		f := newFixture(t, setup{grpc: grpc, splits: []string{"m"}, opts: twopc.Options{AsyncCommit: true}})
		retry := mocktikv.NewGate()
		defer retry.Open()
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: []byte("z"), Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.Pass()), mocktikv.Times(1, mocktikv.Block(retry)),
		}})
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: []byte("z"), Steps: []mocktikv.Step{mocktikv.Times(1, lost)}})
		aDone := f.prewriteDone("a")
		startTS := f.ts()
		type result struct {
			d   twopc.CommitDetails
			err error
		}
		done := make(chan result, 1)
		go func() {
			d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{put("a", "a1"), put("z", "z1")}})
			done <- result{d, err}
		}()
		<-aDone
		<-retry.Arrived()
		// A reader rolls z's lock back; a newer transaction writes z.
		if _, err := f.resolver.rollback(context.Background(), &kvrpcpb.BatchRollbackRequest{StartVersion: startTS, Keys: [][]byte{[]byte("z")}}); err != nil {
			t.Fatalf("roll back z: %v", err)
		}
		if _, err := f.commit(put("z", "newer")); err != nil {
			t.Fatalf("newer commit: %v", err)
		}
		f.settle()
		retry.Open()
		r := <-done
		wantDeterminedConflict(t, r.err, r.d)
		if !r.d.PrewriteSettled || f.log.count(transport.CmdCheckSecondaryLocks.String()) == 0 {
			t.Fatalf("details %+v: want the prewrite settled by a check of its keys", r.d)
		}
		f.settle()
		if l := f.locksNow(); len(l) != 0 {
			t.Fatalf("locks left %v", l)
		}
		f.mustMiss("a", 0)
		f.mustGet("z", "newer")
	})
}

// TestPrewriteSettleAsyncCommitCommitted: z's prewrite applies, its answer
// is lost, and the retry is answered with a write conflict (as it would be
// if the retry had overtaken a first attempt still in flight). The check
// finds both keys locked with async commit: every prewrite applied, so
// the transaction is committed, at the largest min commit ts, and Commit
// reports success with that commit ts and queues the commit phase. Also
// for a pessimistic transaction (its keys prewritten with a for_update_ts
// and no pessimistic check, as in TestAsyncCommitLaterBatchEnforcesFallback).
func TestPrewriteSettleAsyncCommitCommitted(t *testing.T) {
	t.Run("optimistic", func(t *testing.T) { settleAsyncCommitCommitted(t, false) })
	t.Run("pessimistic", func(t *testing.T) { settleAsyncCommitCommitted(t, true) })
}

func settleAsyncCommitCommitted(t *testing.T, pessimistic bool) {
	bothTransports(t, func(t *testing.T, grpc bool) {
		f := newFixture(t, setup{grpc: grpc, splits: []string{"m"}, opts: twopc.Options{AsyncCommit: true}})
		first := mocktikv.NewGate()
		defer first.Open()
		startTS := f.ts()
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: []byte("z"), Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(first))}})
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: []byte("z"), Steps: []mocktikv.Step{
			mocktikv.Times(1, lost), mocktikv.Times(1, conflictOn("z", startTS)),
		}})
		aDone := f.prewriteDone("a")
		go func() {
			<-aDone // z's prewrite runs once a's is written
			first.Open()
		}()
		req := twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{put("a", "a1"), put("z", "z1")}}
		if pessimistic {
			req.ForUpdateTS = startTS
		}
		d, err := f.committer.Commit(context.Background(), req)
		if err != nil || !d.PrewriteSettled || d.Protocol != twopc.ProtocolAsyncCommit || d.CommitTS <= startTS || !d.SecondariesQueued || d.RollbackQueued {
			t.Fatalf("commit = %v, details %+v; want success settled by the check", err, d)
		}
		f.settle()
		if l := f.locksNow(); len(l) != 0 {
			t.Fatalf("locks left %v", l)
		}
		f.mustGetAt("a", "a1", d.CommitTS)
		f.mustGetAt("z", "z1", d.CommitTS)
		f.mustMiss("z", d.CommitTS-1)
	})
}

// TestPrewriteSettleOnePCCommitted: a 1PC prewrite applies (committing the
// transaction) but its answer is lost, and the retry is answered with a
// write conflict. The check finds the commit record: Commit reports
// success at its commit ts.
func TestPrewriteSettleOnePCCommitted(t *testing.T) {
	bothTransports(t, func(t *testing.T, grpc bool) {
		f := newFixture(t, setup{grpc: grpc, opts: twopc.Options{OnePC: true}})
		startTS := f.ts()
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: []byte("k"), Steps: []mocktikv.Step{
			mocktikv.Times(1, lost), mocktikv.Times(1, conflictOn("k", startTS)),
		}})
		d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{put("k", "v"), put("l", "w")}})
		if err != nil || !d.PrewriteSettled || d.Protocol != twopc.ProtocolOnePC || d.CommitTS <= startTS || d.RollbackQueued {
			t.Fatalf("commit = %v, details %+v; want 1PC success settled by the check", err, d)
		}
		f.settle()
		f.mustGetAt("k", "v", d.CommitTS)
		f.mustGetAt("l", "w", d.CommitTS)
		f.mustMiss("k", d.CommitTS-1)
		if l := f.locksNow(); len(l) != 0 {
			t.Fatalf("locks left %v", l)
		}
	})
}

// TestPrewriteSettleOnePCRolledBack: a 1PC prewrite's first attempt fails
// without applying, unknown to the client; before the retry a newer
// transaction commits k, so TiKV answers the retry with a write conflict.
// The check finds no trace of the transaction (and writes rollback
// records): the commit fails with the write conflict, determined.
func TestPrewriteSettleOnePCRolledBack(t *testing.T) {
	bothTransports(t, func(t *testing.T, grpc bool) {
		f := newFixture(t, setup{grpc: grpc, opts: twopc.Options{OnePC: true}})
		retry := mocktikv.NewGate()
		defer retry.Open()
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: []byte("k"), Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.Pass()), mocktikv.Times(1, mocktikv.Block(retry)),
		}})
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: []byte("k"), Steps: []mocktikv.Step{mocktikv.Times(1, notApplied)}})
		startTS := f.ts()
		type result struct {
			d   twopc.CommitDetails
			err error
		}
		done := make(chan result, 1)
		go func() {
			d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{put("k", "v")}})
			done <- result{d, err}
		}()
		<-retry.Arrived()
		if _, err := f.commit(put("k", "newer")); err != nil {
			t.Fatalf("newer commit: %v", err)
		}
		retry.Open()
		r := <-done
		wantDeterminedConflict(t, r.err, r.d)
		if !r.d.PrewriteSettled {
			t.Fatalf("details %+v: want the prewrite settled by a check of its keys", r.d)
		}
		f.settle()
		f.mustGet("k", "newer")
		if l := f.locksNow(); len(l) != 0 {
			t.Fatalf("locks left %v", l)
		}
	})
}

// TestPrewriteLostThenConflictTwoPC: with two-phase commit nothing is
// committed before the primary's commit, which a failed prewrite never
// sends. z's prewrite applies, its answer is lost, and the retry meets a
// write conflict: the commit fails with it at once, determined (no check
// of the keys), and every lock is rolled back (client-go sets its
// undetermined error only for async-commit and 1PC prewrites,
// prewrite.go's drop, and for the primary's commit).
func TestPrewriteLostThenConflictTwoPC(t *testing.T) {
	bothTransports(t, func(t *testing.T, grpc bool) {
		f := newFixture(t, setup{grpc: grpc, splits: []string{"m"}})
		startTS := f.ts()
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: []byte("z"), Steps: []mocktikv.Step{
			mocktikv.Times(1, lost), mocktikv.Times(1, conflictOn("z", startTS)),
		}})
		d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{put("a", "a1"), put("z", "z1")}})
		wantDeterminedConflict(t, err, d)
		if d.PrewriteSettled || f.log.count(transport.CmdCheckSecondaryLocks.String()) != 0 || d.CommitRPCs != 0 {
			t.Fatalf("details %+v: a two-phase prewrite needs no check, and nothing is committed", d)
		}
		f.settle()
		if l := f.locksNow(); len(l) != 0 {
			t.Fatalf("locks left %v", l)
		}
		f.mustMiss("a", 0)
		f.mustMiss("z", 0)
	})
}

// TestPrewriteSettleCheckFails: as TestPrewriteSettleAsyncCommitCommitted,
// but the check of the keys cannot reach TiKV: the outcome stays
// kv.ErrUndetermined, nothing is rolled back, and the locks stay for
// readers to resolve.
func TestPrewriteSettleCheckFails(t *testing.T) {
	bothTransports(t, func(t *testing.T, grpc bool) {
		f := newFixture(t, setup{grpc: grpc, budget: 300 * time.Millisecond, opts: twopc.Options{AsyncCommit: true}})
		startTS := f.ts()
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: []byte("k"), Steps: []mocktikv.Step{
			mocktikv.Times(1, lost), mocktikv.Times(1, conflictOn("k", startTS)),
		}})
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCheckSecondaryLocks, Steps: []mocktikv.Step{mocktikv.Always(notApplied)}})
		d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{put("k", "v")}})
		if !errors.Is(err, kv.ErrUndetermined) || d.RollbackQueued || d.PrewriteSettled || d.PrewriteSettleErr == nil || d.CommitTS != 0 {
			t.Fatalf("commit = %v, details %+v; want undetermined", err, d)
		}
		f.settle()
		if l := f.locksNow(); len(l) != 1 || !l[0].UseAsyncCommit || l[0].LockVersion != startTS {
			t.Fatalf("locks %v, want k's async-commit lock", l)
		}
	})
}

// TestPrewriteSettleFallenBack: TiKV can no longer commit under
// max_commit_ts (its max_ts passed it), so the prewrite falls back to
// two-phase commit and writes normal locks; but its answer, which says
// so, is lost, and the retry is answered with a write conflict. The check
// finds every key locked, without async commit: only a primary commit,
// never sent, could commit such a transaction, so it is not committed: the
// commit fails with the write conflict, determined, and the locks are
// rolled back. For async commit and for 1PC.
func TestPrewriteSettleFallenBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts twopc.Options
	}{
		{"async", twopc.Options{AsyncCommit: true}},
		{"1pc", twopc.Options{OnePC: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bothTransports(t, func(t *testing.T, grpc bool) {
				tc.opts.CausalConsistency = true
				tc.opts.SafeWindow = 1 // ns: max_commit_ts = start ts (+ the txn's age, none here)
				f := newFixture(t, setup{grpc: grpc, opts: tc.opts})
				startTS := f.ts()
				f.pushMaxTS(startTS)
				f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: []byte("a"), Steps: []mocktikv.Step{
					mocktikv.Times(1, lost), mocktikv.Times(1, conflictOn("a", startTS)),
				}})
				d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{put("a", "1"), put("b", "2")}})
				wantDeterminedConflict(t, err, d)
				if !d.PrewriteSettled {
					t.Fatalf("details %+v: want the prewrite settled by a check of its keys", d)
				}
				f.settle()
				if l := f.locksNow(); len(l) != 0 {
					t.Fatalf("locks left %v", l)
				}
				f.mustMiss("a", 0)
				f.mustMiss("b", 0)
			})
		})
	}
}
