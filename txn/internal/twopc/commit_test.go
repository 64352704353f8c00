package twopc_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// ports client-go integration_tests/2pc_test.go TestCommitMultipleRegions:
// transactions of 1, 10 and 100 keys over several regions commit, and a
// later read sees every value.
func TestCommitMultipleRegions(t *testing.T) {
	f := newFixture(t, setup{splits: []string{keyN(3), keyN(7), keyN(40), keyN(80)}})
	for _, n := range []int{1, 10, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			muts := puts(n)
			for i := range muts {
				muts[i].Value = fmt.Appendf(nil, "v%d-%d", n, i)
			}
			d, err := f.commit(muts...)
			if err != nil {
				t.Fatalf("commit: %v", err)
			}
			if d.CommitTS <= d.StartTS {
				t.Fatalf("commit ts %d not after start ts %d", d.CommitTS, d.StartTS)
			}
			if d.PrimaryBatchKeys+d.SecondaryKeys != n {
				t.Fatalf("primary batch %d + secondaries %d keys, want %d", d.PrimaryBatchKeys, d.SecondaryKeys, n)
			}
			f.settle()
			for i := range n {
				f.mustGet(keyN(i), fmt.Sprintf("v%d-%d", n, i))
			}
			if l := f.locks(); len(l) != 0 {
				t.Fatalf("%d locks left after the secondaries' commit: %v", len(l), l)
			}
		})
	}
}

// TestCommitGRPC commits across regions over gRPC.
func TestCommitGRPC(t *testing.T) {
	f := newFixture(t, setup{grpc: true, splits: []string{keyN(5)}})
	if _, err := f.commit(puts(10)...); err != nil {
		t.Fatalf("commit: %v", err)
	}
	f.settle()
	for i := range 10 {
		f.mustGet(keyN(i), valN(i))
	}
}

// TestProtocolMinimum: a one-key transaction in one region costs the start
// ts, one prewrite, the commit ts and one commit, in that order, and the
// details say so.
func TestProtocolMinimum(t *testing.T) {
	f := newFixture(t, setup{})
	f.log.take()
	startTS, err := f.oracle.Now(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{put("a", "1")}})
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	f.settle()
	events := f.log.take()
	got := names(events)
	want := []string{"TSO", transport.CmdPrewrite.String(), "TSO", transport.CmdCommit.String()}
	if !slices.Equal(got, want) {
		t.Fatalf("protocol %v, want %v", got, want)
	}
	if a := apis(events, transport.CmdPrewrite); !slices.Equal(a, []string{"Prewrite"}) {
		t.Fatalf("prewrite call named %v", a)
	}
	if a := apis(events, transport.CmdCommit); !slices.Equal(a, []string{"Commit"}) {
		t.Fatalf("commit call named %v", a)
	}
	if d.TSOCalls != 1 || d.PrewriteRPCs != 1 || d.CommitRPCs != 1 || d.PrewriteBatches != 1 || d.PrewriteRegions != 1 ||
		d.SecondaryKeys != 0 || d.SecondariesQueued {
		t.Fatalf("details %+v", d)
	}
	f.mustGet("a", "1")
}

// TestPrewriteRequestFields ports client-go integration_tests/2pc_test.go
// TestPrewriteTxnSize (each lock's txn_size is the transaction's key
// count in its region) and prewrite_test.go TestSetMinCommitTSInAsyncCommit
// for two-phase commit (min_commit_ts = start_ts + 1), and checks the
// primary and TTL every batch carries.
func TestPrewriteRequestFields(t *testing.T) {
	f := newFixture(t, setup{splits: []string{keyN(50)}})
	f.log.take()
	d, err := f.commit(puts(70)...)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	sizes := map[uint64]uint64{}
	for _, e := range f.log.take() {
		pw, ok := e.msg.(*kvrpcpb.PrewriteRequest)
		if !ok {
			continue
		}
		sizes[e.region] = pw.TxnSize
		if pw.MinCommitTs != d.StartTS+1 || string(pw.PrimaryLock) != keyN(0) || pw.LockTtl != 3000 || pw.StartVersion != d.StartTS {
			t.Fatalf("prewrite %+v", pw)
		}
	}
	left, right := f.regionOf(keyN(0)), f.regionOf(keyN(60))
	if sizes[left] != 50 || sizes[right] != 20 {
		t.Fatalf("txn sizes by region %v, want 50 in %d and 20 in %d", sizes, left, right)
	}
}

func (f *fixture) regionOf(key string) uint64 {
	r, err := f.env.Locator.Locate(context.Background(), []byte(key))
	if err != nil {
		f.t.Fatal(err)
	}
	return r.ID()
}

// ports client-go integration_tests/2pc_test.go TestCommitRollback and
// TestPrewritePrimaryKeyFailed: a key written by a transaction that
// committed after our start ts is a write conflict; nothing of ours is
// visible and no lock is left.
func TestCommitRollback(t *testing.T) {
	f := newFixture(t, setup{splits: []string{"b"}})
	if _, err := f.commit(put("a", "a0"), put("b", "b0"), put("c", "c0")); err != nil {
		t.Fatal(err)
	}
	f.settle()
	startTS := f.ts()
	if _, err := f.commit(put("c", "c1")); err != nil {
		t.Fatal(err)
	}
	d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS,
		Mutations: []twopc.Mutation{put("a", "a2"), put("b", "b2"), put("c", "c2")}})
	var wc *kv.WriteConflictError
	if !errors.As(err, &wc) || !errors.Is(err, kv.ErrTxnRetryable) || string(wc.Key) != "c" || wc.StartTS != startTS {
		t.Fatalf("commit = %v, want a write conflict on c", err)
	}
	if !d.RollbackQueued || d.CommitTS != 0 {
		t.Fatalf("details %+v", d)
	}
	f.settle()
	f.mustGet("a", "a0")
	f.mustGet("b", "b0")
	f.mustGet("c", "c1")
	if l := f.locks(); len(l) != 0 {
		t.Fatalf("locks left: %v", l)
	}
	// The keys are free for the next transaction.
	if _, err := f.commit(put("a", "a3"), put("c", "c3")); err != nil {
		t.Fatalf("later commit: %v", err)
	}
	f.mustGet("a", "a3")
}

// ports client-go integration_tests/2pc_test.go TestExtractKeyExistsErr:
// an Insert (or a CheckNotExists) of an existing key fails with
// *kv.AlreadyExistError and leaves nothing behind.
func TestExtractKeyExistsErr(t *testing.T) {
	f := newFixture(t, setup{})
	if _, err := f.commit(put("k", "v")); err != nil {
		t.Fatal(err)
	}
	for _, op := range []kvrpcpb.Op{kvrpcpb.Op_Insert, kvrpcpb.Op_CheckNotExists} {
		_, err := f.commit(put("a", "1"), twopc.Mutation{Key: []byte("k"), Value: []byte("x"), Op: op})
		var ae *kv.AlreadyExistError
		if !errors.As(err, &ae) || !errors.Is(err, kv.ErrKeyExists) || string(ae.Key) != "k" {
			t.Fatalf("%s of an existing key = %v, want AlreadyExistError", op, err)
		}
	}
	f.settle()
	if l := f.locks(); len(l) != 0 {
		t.Fatalf("locks left: %v", l)
	}
	f.mustGet("k", "v")
	if v, err := f.get("a", 0); err != nil || v != nil {
		t.Fatalf("a = %q, %v; want not found", v, err)
	}
	// An Insert of a new key and a CheckNotExists of an absent one commit;
	// the check writes nothing.
	d, err := f.commit(twopc.Mutation{Key: []byte("n"), Value: []byte("1"), Op: kvrpcpb.Op_Insert},
		twopc.Mutation{Key: []byte("absent"), Op: kvrpcpb.Op_CheckNotExists})
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	if string(d.Primary) != "n" {
		t.Fatalf("primary %q, want the first written key n", d.Primary)
	}
	f.mustGet("n", "1")
}

// TestCheckNotExistsOnly: a transaction of checks only prewrites, and
// commits nothing.
func TestCheckNotExistsOnly(t *testing.T) {
	f := newFixture(t, setup{})
	f.log.take()
	d, err := f.commit(twopc.Mutation{Key: []byte("x"), Op: kvrpcpb.Op_CheckNotExists})
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	if n := f.log.count(transport.CmdCommit.String()); n != 0 || d.PrewriteRPCs != 1 {
		t.Fatalf("%d commits, details %+v", n, d)
	}
}

// TestEmptyCommit: a read-only transaction sends nothing (client-go's
// Commit of an empty buffer).
func TestEmptyCommit(t *testing.T) {
	f := newFixture(t, setup{})
	f.log.take()
	d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: 10})
	if err != nil || len(f.log.take()) != 0 || d.TSOCalls != 0 {
		t.Fatalf("empty commit: %v, details %+v", err, d)
	}
}

// ports client-go integration_tests/2pc_test.go TestIllegalTso.
func TestIllegalTso(t *testing.T) {
	f := newFixture(t, setup{})
	for _, ts := range []uint64{0, ^uint64(0)} {
		_, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: ts, Mutations: []twopc.Mutation{put("a", "1")}})
		if !errors.Is(err, kv.ErrInvalidArgument) {
			t.Fatalf("start ts %d: %v, want ErrInvalidArgument", ts, err)
		}
	}
	_, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: f.ts(), Primary: []byte("zz"), Mutations: []twopc.Mutation{put("a", "1")}})
	if !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("primary outside the transaction: %v", err)
	}
}

// ports client-go integration_tests/2pc_test.go TestContextCancel: a
// commit whose context is already cancelled fails with it and commits
// nothing.
func TestContextCancel(t *testing.T) {
	f := newFixture(t, setup{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.committer.Commit(ctx, twopc.Request{StartTS: f.ts(), Mutations: []twopc.Mutation{put("a", "1")}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("commit = %v, want context.Canceled", err)
	}
	f.settle()
	if v, err := f.get("a", 0); err != nil || v != nil {
		t.Fatalf("a = %q, %v", v, err)
	}
}

// TestExplicitPrimary: a caller-chosen primary is the one every lock names
// and the one committed first.
func TestExplicitPrimary(t *testing.T) {
	f := newFixture(t, setup{splits: []string{"m"}})
	f.log.take()
	d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: f.ts(), Primary: []byte("z"),
		Mutations: []twopc.Mutation{put("a", "1"), put("z", "2")}})
	if err != nil {
		t.Fatal(err)
	}
	f.settle()
	events := f.log.take()
	if a := apis(events, transport.CmdCommit); !slices.Equal(a, []string{"Commit", "CommitSecondaries"}) {
		t.Fatalf("commit calls named %v", a)
	}
	var commits []*kvrpcpb.CommitRequest
	for _, e := range events {
		if c, ok := e.msg.(*kvrpcpb.CommitRequest); ok {
			commits = append(commits, c)
		}
	}
	if string(d.Primary) != "z" || len(commits) != 2 || string(commits[0].Keys[0]) != "z" ||
		commits[0].CommitRole != kvrpcpb.CommitRole_Primary || commits[1].CommitRole != kvrpcpb.CommitRole_Secondary {
		t.Fatalf("primary %q, commits %v", d.Primary, commits)
	}
	f.mustGet("a", "1")
}

// A transaction older than MaxTxnTimeUse at its commit ts is refused and
// rolled back (client-go's execute checks MaxTxnTimeUse after the commit
// ts).
func TestTxnTooOld(t *testing.T) {
	f := newFixture(t, setup{})
	now := f.ts()
	startTS := pdclient.ComposeTS(pdclient.ExtractPhysical(now)-(25*time.Hour).Milliseconds(), 0)
	d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{put("a", "1")}})
	var old *twopc.TxnTooOldError
	if !errors.As(err, &old) || old.Age < 25*time.Hour || !d.RollbackQueued || d.CommitRPCs != 0 {
		t.Fatalf("commit = %v, details %+v; want TxnTooOldError", err, d)
	}
	f.settle()
	if l := f.locks(); len(l) != 0 {
		t.Fatalf("locks left: %v", l)
	}
}

// ports client-go integration_tests/2pc_test.go TestCommitBeforePrewrite:
// a transaction whose keys were rolled back before its prewrite reached
// them (a resolver judged it dead) cannot prewrite them: TiKV's rollback
// record turns the prewrite into a write conflict.
func TestCommitBeforePrewrite(t *testing.T) {
	f := newFixture(t, setup{})
	startTS := f.ts()
	rb := pipeline.Shard(f.env, pipeline.ByKey(func(r *kvrpcpb.BatchRollbackRequest) []byte { return r.Keys[0] }),
		pipeline.Retry(f.env, plans.KvBatchRollback))
	if _, err := rb(context.Background(), &kvrpcpb.BatchRollbackRequest{StartVersion: startTS, Keys: [][]byte{[]byte("a")}}); err != nil {
		t.Fatal(err)
	}
	_, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{put("a", "1")}})
	if !errors.Is(err, kv.ErrWriteConflict) {
		t.Fatalf("commit = %v, want a write conflict", err)
	}
	if v, err := f.get("a", 0); err != nil || v != nil {
		t.Fatalf("a = %q, %v", v, err)
	}
}

// The oracle failing after the prewrite leaves nothing committed: the
// commit fails (not undetermined) and the locks are rolled back.
func TestCommitTSUnavailable(t *testing.T) {
	f := newFixture(t, setup{})
	startTS := f.ts()
	down := error(kv.ErrPDUnavailable)
	f.oracle.fail.Store(&down)
	d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{put("a", "1"), put("b", "2")}})
	f.oracle.fail.Store(nil)
	if !errors.Is(err, kv.ErrPDUnavailable) || errors.Is(err, kv.ErrUndetermined) || !d.RollbackQueued || d.CommitRPCs != 0 {
		t.Fatalf("commit = %v, details %+v", err, d)
	}
	f.settle()
	if l := f.locks(); len(l) != 0 {
		t.Fatalf("locks left: %v", l)
	}
}

// Every optimistic mutation kind commits with its meaning: Put and Insert
// write, Del deletes, Lock writes nothing (TiKV's commit of a Lock record).
func TestCommitMutationOps(t *testing.T) {
	f := newFixture(t, setup{splits: []string{"m"}})
	if _, err := f.commit(put("del", "old"), put("lock", "kept")); err != nil {
		t.Fatal(err)
	}
	f.settle()
	_, err := f.commit(
		twopc.Mutation{Key: []byte("del"), Op: kvrpcpb.Op_Del},
		twopc.Mutation{Key: []byte("lock"), Op: kvrpcpb.Op_Lock},
		twopc.Mutation{Key: []byte("new"), Value: []byte("ins"), Op: kvrpcpb.Op_Insert, Assertion: kvrpcpb.Assertion_NotExist},
		put("zput", "p"),
	)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	f.settle()
	if v, err := f.get("del", 0); err != nil || v != nil {
		t.Fatalf("del = %q, %v", v, err)
	}
	f.mustGet("lock", "kept")
	f.mustGet("new", "ins")
	f.mustGet("zput", "p")
}

// ports client-go integration_tests/assertion_test.go TestPrewriteAssertion
// (its optimistic case): under AssertionLevel Strict, a mutation asserting
// the key exists fails on an absent key, and one asserting it does not on
// a present key, with *kv.AssertionFailedError; nothing is committed.
func TestPrewriteAssertion(t *testing.T) {
	f := newFixture(t, setup{})
	if _, err := f.commit(put("present", "v")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key string
		a   kvrpcpb.Assertion
	}{{"absent", kvrpcpb.Assertion_Exist}, {"present", kvrpcpb.Assertion_NotExist}} {
		m := put(c.key, "x")
		m.Assertion = c.a
		_, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: f.ts(), AssertionLevel: kvrpcpb.AssertionLevel_Strict,
			Mutations: []twopc.Mutation{put("a", "1"), m}})
		var af *kv.AssertionFailedError
		if !errors.As(err, &af) || string(af.Key) != c.key || af.Assertion != c.a {
			t.Fatalf("%s on %q = %v, want AssertionFailedError", c.a, c.key, err)
		}
	}
	f.settle()
	if v, err := f.get("a", 0); err != nil || v != nil {
		t.Fatalf("a = %q, %v", v, err)
	}
	f.mustGet("present", "v")
}
