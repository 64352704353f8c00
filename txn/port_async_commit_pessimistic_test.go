package txn_test

import (
	"context"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/txn"
)

// TestPortRepeatableReadPessimistic ports the pessimistic half of
// client-go's TestRepeatableRead (integration_tests/async_commit_test.go;
// S01): a pessimistic async-commit transaction writes k1; a transaction
// that began before its commit keeps reading the old value after it
// (the commit ts is above every ts handed out before, although the
// writer asked for no min-commit ts from PD beyond its own), and one begun
// after reads the new value. Both transports.
func TestPortRepeatableReadPessimistic(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		p.commit("k1", "v1")
		writer := p.beginPessimistic(txn.WithAsyncCommit(true))
		if v, err := writer.Get(t.Context(), []byte("k1")); err != nil || string(v) != "v1" {
			t.Fatalf("writer reads %q, %v", v, err)
		}
		mustLock(t, writer, nil, "k1")
		setAll(t, writer, "k1", "v2")
		for range 20 {
			p.now()
		}
		reader := p.begin()
		if v, err := reader.Get(t.Context(), []byte("k1")); err != nil || string(v) != "v1" {
			t.Fatalf("reader reads %q, %v", v, err)
		}
		if err := writer.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		if d := writer.CommitDetails(); d.Protocol != txn.ProtocolAsyncCommit {
			t.Fatalf("writer committed with %v, want async commit", d.Protocol)
		}
		if v, err := reader.Get(t.Context(), []byte("k1")); err != nil || string(v) != "v1" {
			t.Fatalf("reader re-reads %q, %v after the async commit", v, err)
		}
		_ = reader.Rollback()
		later := p.begin()
		if v, err := later.Get(t.Context(), []byte("k1")); err != nil || string(v) != "v2" {
			t.Fatalf("a later transaction reads %q, %v", v, err)
		}
		_ = later.Rollback()
	})
}

// TestPortPessimisticTxnResolveAsyncCommitLock ports client-go's
// TestPessimisticTxnResolveAsyncCommitLock (async_commit_test.go): k holds
// the lock of an async-commit transaction that prewrote and never
// committed (its own primary, no secondaries); a pessimistic transaction
// locks another key, writes k without locking it, and commits: its
// prewrite meets the async-commit lock, resolves it (the abandoned
// transaction is committed, as every one of its prewrites succeeded) and
// succeeds. Both transports.
func TestPortPessimisticTxnResolveAsyncCommitLock(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		env := p.cluster.EnvFor(kv.ModeTxn)
		prewrite := pipeline.Shard(env, prewriteSplit, pipeline.Retry(env, plans.KvPrewrite))
		start := p.now()
		if _, err := prewrite(context.Background(), &kvrpcpb.PrewriteRequest{
			Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("k"), Value: []byte("abandoned")}},
			PrimaryLock: []byte("k"), StartVersion: start, LockTtl: 1, TxnSize: 1,
			MinCommitTs: start + 1, UseAsyncCommit: true,
		}); err != nil {
			t.Fatal(err)
		}
		if l := p.lockOf("k"); l == nil || !l.UseAsyncCommit || l.LockVersion != start {
			t.Fatalf("lock of k = %v, want the abandoned async-commit lock", l)
		}
		tx := p.beginPessimistic()
		mustLock(t, tx, nil, "k1")
		setAll(t, tx, "k", "k")
		if err := tx.Commit(t.Context()); err != nil {
			t.Fatalf("commit over an abandoned async-commit lock: %v", err)
		}
		p.mustGet("k", "k")
		if got := p.snapGet(tx.CommitTS()-1, "k"); got != "abandoned" {
			t.Fatalf("just below the commit, k = %q; want the abandoned transaction committed", got)
		}
	})
}
