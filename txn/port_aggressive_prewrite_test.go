package txn_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// holdPrewrites holds every prewrite of the transaction startTS at the
// store, before it runs, until the returned gate opens (client-go's
// beforePrewrite failpoint set to "pause"); the test's end opens it.
func (p *portCluster) holdPrewrites(startTS uint64) *mocktikv.Gate {
	gate := mocktikv.NewGate()
	h := p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite,
		Match: func(_ uint64, _ transport.Cmd, req transport.Message) bool {
			pw, ok := req.(*kvrpcpb.PrewriteRequest)
			return ok && pw.StartVersion == startTS
		},
		Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Block(gate))}})
	p.t.Cleanup(func() {
		h.Remove()
		gate.Open()
	})
	return gate
}

// constraintsOf returns the for_update_ts_constraints the transaction
// startTS's prewrites carried, by key.
func (p *portCluster) constraintsOf(startTS uint64) map[string]uint64 {
	out := map[string]uint64{}
	for _, pw := range p.log.prewrites() {
		if pw.StartVersion != startTS {
			continue
		}
		for _, c := range pw.ForUpdateTsConstraints {
			out[string(pw.Mutations[c.Index].Key)] = c.ExpectedForUpdateTs
		}
	}
	return out
}

// TestPrewriteCheckForUpdateTS ports client-go's
// TestPrewriteCheckForUpdateTS (integration_tests/lock_test.go; scenario
// S31), with each commit protocol. T locks k1, k2, k3 in aggressive
// locking and writes k1; while its prewrite is held, its lock on k1 is
// lost, U writes k1 and commits, and a stale copy of T's lock request
// for k1 is replayed, which succeeds over U's write. T's prewrite carries
// the for_update_ts each lock was taken at, so TiKV finds k1's lock at
// U's commit ts instead and the commit fails with PessimisticLockNotFound:
// k1 keeps U's value. The passing case locks one key with conflict,
// another plainly and a third at a newer for-update ts, and commits.
func TestPrewriteCheckForUpdateTS(t *testing.T) {
	protocols := []struct {
		name string
		opts []txn.BeginOption
	}{
		{"2PC", nil},
		{"async commit", []txn.BeginOption{txn.WithAsyncCommit(true)}},
		{"1PC", []txn.BeginOption{txn.WithAsyncCommit(true), txn.WithOnePC(true)}},
		{"async commit causal", []txn.BeginOption{txn.WithAsyncCommit(true), txn.WithCausalConsistency(true)}},
	}
	bothWays(t, func(t *testing.T, grpc bool) {
		for _, pr := range protocols {
			t.Run(pr.name, func(t *testing.T) {
				p := newPortCluster(t, grpc, nil)
				ctx := context.Background()

				// The failing case.
				tx := p.beginPessimistic(pr.opts...)
				at := tx.StartTS()
				mustOK(t, "start", tx.StartAggressiveLocking())
				for _, k := range []string{"k1", "k2", "k3"} {
					fairLock(t, tx, &txn.LockCtx{AtForUpdateTS: at, Wait: 200 * time.Millisecond}, k)
				}
				mustOK(t, "done", tx.DoneAggressiveLocking(ctx))
				mustOK(t, "set", tx.Set([]byte("k1"), []byte("v1")))

				gate := p.holdPrewrites(tx.StartTS())
				res := make(chan error, 1)
				go func() { res <- tx.Commit(ctx) }()
				select {
				case <-gate.Arrived():
				case err := <-res:
					t.Fatalf("commit returned %v before its prewrite", err)
				case <-time.After(10 * time.Second):
					t.Fatal("the prewrite never reached the store")
				}

				// T's lock on k1 is lost.
				env := p.cluster.EnvFor(kv.ModeTxn)
				rollback := pipeline.Shard(env, pessimisticRollbackSplit, pipeline.Retry(env, plans.KvPessimisticRollback))
				_, err := rollback(ctx, &kvrpcpb.PessimisticRollbackRequest{StartVersion: tx.StartTS(), ForUpdateTs: at, Keys: [][]byte{[]byte("k1")}})
				mustOK(t, "pessimistic rollback", err)
				p.checkLocked(false, "k1")
				u := p.commit("k1", "v2")

				// A stale copy of T's force-lock request for k1 is replayed.
				stale := p.begin(txn.WithPessimistic(), txn.WithStartTS(tx.StartTS()))
				mustOK(t, "start", stale.StartAggressiveLocking())
				lc := &txn.LockCtx{AtForUpdateTS: at, Wait: 200 * time.Millisecond}
				fairLock(t, stale, lc, "k1")
				if got := lc.Values["k1"].LockedWithConflictTS; got != u.CommitTS() || !stale.IsInAggressiveLockingStage([]byte("k1")) {
					t.Fatalf("replayed lock's conflict ts %d, want U's commit ts %d", got, u.CommitTS())
				}
				if l := p.lockOf("k1"); l == nil || l.LockVersion != tx.StartTS() || l.LockForUpdateTs != u.CommitTS() {
					t.Fatalf("k1's lock %v, want T's at for update ts %d", l, u.CommitTS())
				}
				mustOK(t, "done", stale.DoneAggressiveLocking(ctx))

				gate.Open()
				err = <-res
				if err == nil || !strings.Contains(err.Error(), "PessimisticLockNotFound") {
					t.Fatalf("commit after the lost lock: %v, want PessimisticLockNotFound", err)
				}
				if c := p.constraintsOf(tx.StartTS()); c["k1"] != at {
					t.Fatalf("prewrite constraints %v, want k1 at %d", c, at)
				}
				if v := p.snapGet(u.CommitTS(), "k1"); v != "v2" {
					t.Fatalf("k1 at U's commit ts = %q, want v2", v)
				}
				if v := p.snapGet(u.CommitTS()-1, "k1"); v != "" {
					t.Fatalf("k1 before U's commit ts = %q, want not found", v)
				}
				mustOK(t, "rollback replay", stale.Rollback())
				p.checkLocked(false, "k1", "k2", "k3")

				// The passing case.
				tx = p.beginPessimistic(pr.opts...)
				at = tx.StartTS()
				other := p.commit("k2", "v2")
				mustOK(t, "start", tx.StartAggressiveLocking())
				lc = &txn.LockCtx{AtForUpdateTS: at, Wait: 200 * time.Millisecond}
				fairLock(t, tx, lc, "k2") // locked with conflict
				fairLock(t, tx, lc, "k3")
				if lc.MaxLockedWithConflictTS != other.CommitTS() {
					t.Fatalf("max conflict ts %d, want %d", lc.MaxLockedWithConflictTS, other.CommitTS())
				}
				// A newer for-update ts, as TiDB takes for each statement.
				cur, err := p.client.CurrentTimestamp(ctx)
				mustOK(t, "ts", err)
				fairLock(t, tx, &txn.LockCtx{AtForUpdateTS: cur, Wait: 200 * time.Millisecond}, "k4")
				mustOK(t, "set", tx.Set([]byte("k2"), []byte("v1")))
				mustOK(t, "set", tx.Set([]byte("k3"), []byte("v1")))
				mustOK(t, "done", tx.DoneAggressiveLocking(ctx))
				mustOK(t, "commit", tx.Commit(ctx))

				want := map[string]uint64{"k2": other.CommitTS(), "k3": at, "k4": cur}
				if c := p.constraintsOf(tx.StartTS()); len(c) != len(want) || c["k2"] != want["k2"] || c["k3"] != want["k3"] || c["k4"] != want["k4"] {
					t.Fatalf("prewrite constraints %v, want %v", c, want)
				}
				if tx.CommitTS() <= cur {
					t.Fatalf("commit ts %d not above the for update ts %d", tx.CommitTS(), cur)
				}
				for k, v := range map[string]string{"k2": "v1", "k3": "v1"} {
					if got := p.snapGet(tx.CommitTS(), k); got != v {
						t.Fatalf("%s at the commit ts = %q, want %q", k, got, v)
					}
				}
				if got := p.snapGet(tx.CommitTS()-1, "k2"); got != "v2" {
					t.Fatalf("k2 before the commit = %q, want v2", got)
				}
				if got := p.snapGet(tx.CommitTS()-1, "k3"); got != "" {
					t.Fatalf("k3 before the commit = %q, want not found", got)
				}
			})
		}
	})
}

// TestAggressiveLockingPrewriteConstraintsPerRegion: each region's prewrite
// carries the for_update_ts constraints of its own keys, indexed into its
// own mutations, and a transaction whose locks were taken with and without
// conflict on both sides of a split commits.
func TestAggressiveLockingPrewriteConstraintsPerRegion(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		ctx := context.Background()
		if _, err := p.mock.SplitTxn([]byte("k3")); err != nil {
			t.Fatal(err)
		}
		tx := p.beginPessimistic()
		other := p.commit("k1", "o1", "k4", "o4")
		mustOK(t, "start", tx.StartAggressiveLocking())
		lc := &txn.LockCtx{AtForUpdateTS: tx.StartTS()}
		want := map[string]uint64{}
		for _, k := range []string{"k1", "k2", "k3", "k4"} {
			fairLock(t, tx, lc, k)
			want[k] = tx.StartTS()
			if k == "k1" || k == "k4" {
				want[k] = other.CommitTS()
			}
			mustOK(t, "set", tx.Set([]byte(k), []byte("v")))
		}
		mustOK(t, "done", tx.DoneAggressiveLocking(ctx))
		mustOK(t, "commit", tx.Commit(ctx))
		regions := 0
		for _, pw := range p.log.prewrites() {
			if pw.StartVersion == tx.StartTS() {
				regions++
				if len(pw.ForUpdateTsConstraints) != len(pw.Mutations) {
					t.Fatalf("prewrite of %d keys carries %d constraints", len(pw.Mutations), len(pw.ForUpdateTsConstraints))
				}
			}
		}
		if c := p.constraintsOf(tx.StartTS()); regions < 2 || len(c) != len(want) || c["k1"] != want["k1"] || c["k2"] != want["k2"] || c["k3"] != want["k3"] || c["k4"] != want["k4"] {
			t.Fatalf("constraints %v over %d prewrites, want %v over two regions", c, regions, want)
		}
		for _, k := range []string{"k1", "k2", "k3", "k4"} {
			p.mustGet(k, "v")
		}
	})
}
