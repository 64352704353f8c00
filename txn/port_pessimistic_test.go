package txn_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/txn"
)

// TestPessimisticLockAndCommit: a pessimistic transaction locks its keys
// in TiKV at LockKeys (the first key primary), and its commit prewrites
// them with for_update_ts and DO_PESSIMISTIC_CHECK, a key locked but not
// written as Op_Lock (client-go's initKeysAndMutations), in-process and
// over gRPC.
func TestPessimisticLockAndCommit(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			p := newPortCluster(t, grpc, nil)
			tx := p.beginPessimistic()
			if !tx.IsPessimistic() {
				t.Fatal("IsPessimistic false")
			}
			lc := &txn.LockCtx{}
			mustLock(t, tx, lc, "b", "a")
			for _, k := range []string{"a", "b"} {
				l := p.lockOf(k)
				if l == nil || l.LockType != kvrpcpb.Op_PessimisticLock || string(l.PrimaryLock) != "a" || l.LockVersion != tx.StartTS() || l.LockForUpdateTs != lc.ForUpdateTS {
					t.Fatalf("lock of %q = %v, want a pessimistic lock of txn %d, primary a, for update ts %d", k, l, tx.StartTS(), lc.ForUpdateTS)
				}
			}
			if err := tx.Set([]byte("a"), []byte("1")); err != nil {
				t.Fatal(err)
			}
			p.log.reset()
			if err := tx.Commit(context.Background()); err != nil {
				t.Fatalf("commit: %v", err)
			}
			pw := p.log.prewrites()
			if len(pw) != 1 {
				t.Fatalf("%d prewrites, want 1", len(pw))
			}
			req := pw[0]
			if req.ForUpdateTs != lc.ForUpdateTS || string(req.PrimaryLock) != "a" || req.MinCommitTs <= lc.ForUpdateTS {
				t.Fatalf("prewrite for_update_ts %d primary %q min_commit_ts %d, want %d, a, above it", req.ForUpdateTs, req.PrimaryLock, req.MinCommitTs, lc.ForUpdateTS)
			}
			wantOps := map[string]kvrpcpb.Op{"a": kvrpcpb.Op_Put, "b": kvrpcpb.Op_Lock}
			for i, m := range req.Mutations {
				if m.Op != wantOps[string(m.Key)] || req.PessimisticActions[i] != kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK {
					t.Fatalf("mutation %q op %v action %v, want %v with DO_PESSIMISTIC_CHECK", m.Key, m.Op, req.PessimisticActions[i], wantOps[string(m.Key)])
				}
			}
			if tx.CommitTS() <= lc.ForUpdateTS {
				t.Fatalf("commit ts %d not above for update ts %d", tx.CommitTS(), lc.ForUpdateTS)
			}
			p.mustGet("a", "1")
			p.mustGet("b", "")
		})
	}
}

// TestPessimisticRollbackReleasesLocks: Rollback of a pessimistic
// transaction rolls back its pessimistic locks (KvPessimisticRollback), so
// another transaction locks the keys at once.
func TestPessimisticRollbackReleasesLocks(t *testing.T) {
	p := newPortCluster(t, false, nil)
	tx := p.beginPessimistic()
	mustLock(t, tx, nil, "a", "b")
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	tx2 := p.beginPessimistic()
	// A bounded wait: the rollback runs in the background, and the wait
	// ends as soon as it has released the locks.
	mustLock(t, tx2, &txn.LockCtx{Wait: 5 * time.Second}, "a", "b")
	if l := p.lockOf("a"); l == nil || l.LockVersion != tx2.StartTS() {
		t.Fatalf("lock of a = %v, want tx2's", l)
	}
	if err := tx2.Rollback(); err != nil {
		t.Fatal(err)
	}
}

// TestPessimisticCommitProtocols: a pessimistic transaction commits with
// async commit and 1PC when it asks for them and is eligible (client-go
// allows both for pessimistic transactions): its prewrite carries
// for_update_ts and the pessimistic check, its commit ts is above the
// for-update ts, and the data is written; 2PC alike.
func TestPessimisticCommitProtocols(t *testing.T) {
	for _, c := range []struct {
		opts []txn.BeginOption
		want txn.Protocol
	}{
		{nil, txn.ProtocolTwoPC},
		{[]txn.BeginOption{txn.WithAsyncCommit(true)}, txn.ProtocolAsyncCommit},
		{[]txn.BeginOption{txn.WithOnePC(true)}, txn.ProtocolOnePC},
	} {
		t.Run(c.want.String(), func(t *testing.T) {
			p := newPortCluster(t, false, nil)
			p.commit("a", "0", "b", "0")
			tx := p.beginPessimistic(c.opts...)
			lc := &txn.LockCtx{ReturnValues: true}
			mustLock(t, tx, lc, "a", "b")
			for _, k := range []string{"a", "b"} {
				if err := tx.Set([]byte(k), append(lc.Values[k].Value, '1')); err != nil {
					t.Fatal(err)
				}
			}
			p.log.reset()
			if err := tx.Commit(context.Background()); err != nil {
				t.Fatalf("commit: %v", err)
			}
			if d := tx.CommitDetails(); d.Protocol != c.want || tx.CommitTS() <= lc.ForUpdateTS {
				t.Fatalf("protocol %v commit ts %d, want %v above for update ts %d", d.Protocol, tx.CommitTS(), c.want, lc.ForUpdateTS)
			}
			for _, pw := range p.log.prewrites() {
				if pw.ForUpdateTs != lc.ForUpdateTS || pw.MinCommitTs <= lc.ForUpdateTS {
					t.Fatalf("prewrite for_update_ts %d min_commit_ts %d, want %d and above", pw.ForUpdateTs, pw.MinCommitTs, lc.ForUpdateTS)
				}
			}
			// The Group commits an async commit's keys in the background:
			// a reader resolves whatever it meets to the same outcome.
			p.mustGet("a", "01")
			p.mustGet("b", "01")
		})
	}
}

// TestPortLockKeys ports client-go txnkv/transaction/txn_test.go
// TestLockKeys (OptimisticExclusive, PessimisticExclusive): an optimistic
// transaction's LockKeys sends nothing and flags the key locked; a
// pessimistic one sends one KvPessimisticLock with an Op_PessimisticLock
// mutation and flags the key locked. (The shared-lock cases are D7.)
func TestPortLockKeys(t *testing.T) {
	p := newPortCluster(t, false, nil)
	for _, pess := range []bool{false, true} {
		var opts []txn.BeginOption
		if pess {
			opts = append(opts, txn.WithPessimistic())
		}
		tx := p.begin(opts...)
		p.log.reset()
		mustLock(t, tx, &txn.LockCtx{Wait: txn.LockNoWait}, "k")
		reqs := p.log.lockRequests()
		if n := len(p.log.take()); (n == 0) == pess {
			t.Fatalf("pessimistic=%v: LockKeys sent %d requests", pess, n)
		}
		if pess && (len(reqs) != 1 || len(reqs[0].Mutations) != 1 || reqs[0].Mutations[0].Op != kvrpcpb.Op_PessimisticLock) {
			t.Fatalf("lock requests %v, want one Op_PessimisticLock", reqs)
		}
		if f, ok := tx.MemBuffer().GetFlags([]byte("k")); !ok || !f.HasLocked() {
			t.Fatalf("pessimistic=%v: key not flagged locked", pess)
		}
		_ = tx.Rollback()
	}
}

// TestPortPushPessimisticLock ports client-go
// integration_tests/2pc_test.go TestPushPessimisticLock: T1 locked k1
// (primary) and k2, and prewrote only k2 (k1 stays a pessimistic lock). A
// reader meeting k2's prewrite lock does not wait for T1: the status
// check at the pessimistic primary pushes T1's min commit ts past the
// read, which reads k2 as absent at once.
func TestPortPushPessimisticLock(t *testing.T) {
	p := newPortCluster(t, false, nil)
	t1 := p.beginPessimistic()
	lc := &txn.LockCtx{}
	mustLock(t, t1, lc, "a", "b")
	plan := pipeline.Shard(p.env, prewriteSplit, pipeline.Retry(p.env, plans.KvPrewrite))
	_, err := plan(context.Background(), &kvrpcpb.PrewriteRequest{
		Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("b"), Value: []byte("v2")}},
		PrimaryLock: []byte("a"), StartVersion: t1.StartTS(), ForUpdateTs: lc.ForUpdateTS, LockTtl: 20000,
		MinCommitTs: lc.ForUpdateTS + 1, PessimisticActions: []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK},
	})
	if err != nil {
		t.Fatalf("prewrite b: %v", err)
	}
	if l := p.lockOf("a"); l == nil || l.LockType != kvrpcpb.Op_PessimisticLock {
		t.Fatalf("a: %v, want a pessimistic lock", l)
	}
	if l := p.lockOf("b"); l == nil || l.LockType != kvrpcpb.Op_Put || string(l.PrimaryLock) != "a" {
		t.Fatalf("b: %v, want a prewrite lock with primary a", l)
	}
	start := time.Now()
	_, err = p.begin().Get(context.Background(), []byte("b"))
	if !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("read of b = %v, want not found", err)
	}
	if d := time.Since(start); d >= 500*time.Millisecond {
		t.Fatalf("read of b took %v: it waited for T1", d)
	}
	_ = t1.Rollback()
}

// TestPessimisticFailedCommitReleasesLocks: a commit that fails before it
// prewrites (a local latch conflict on a key it wrote without locking)
// still releases the transaction's pessimistic locks: another
// transaction gets them well before their 20 s TTL.
func TestPessimisticFailedCommitReleasesLocks(t *testing.T) {
	p := newPortCluster(t, false, nil, txn.WithLocalLatches())
	tx := p.beginPessimistic()
	mustLock(t, tx, nil, "a")
	if err := tx.Set([]byte("z"), []byte("y")); err != nil {
		t.Fatal(err)
	}
	p.commit("z", "x") // after tx began: tx's latch check fails its commit
	p.log.reset()
	if err := tx.Commit(context.Background()); err == nil {
		t.Fatal("tx committed over a newer write of z")
	}
	if n := len(p.log.prewrites()); n != 0 {
		t.Fatalf("the failed commit sent %d prewrites, want none", n)
	}
	t2 := p.beginPessimistic()
	start := time.Now()
	mustLock(t, t2, &txn.LockCtx{Wait: 5 * time.Second}, "a")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("a was released after %v", d)
	}
	_ = t2.Rollback()
	p.mustGet("z", "x")
}
