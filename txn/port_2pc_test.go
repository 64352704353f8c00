package txn_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestPortSnapshotStableAcrossCommit ports client-go
// integration_tests/2pc_test.go TestPrewriteRollback and the optimistic
// 2PC case of scenario S01 (Test1PCIsolation, TestRepeatableRead): a
// reader that began before a writer's commit reads the old value before
// and after it; a transaction begun after the commit reads the new one;
// the commit ts is above the reader's start ts.
func TestPortSnapshotStableAcrossCommit(t *testing.T) {
	p := newPortCluster(t, false, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("b"))})
	ctx := t.Context()
	p.commit("a", "a0", "b", "b0")
	reader := p.begin()
	writer := p.begin()
	_ = writer.Set([]byte("a"), []byte("a1"))
	_ = writer.Set([]byte("b"), []byte("b1"))
	for _, k := range []string{"a", "b"} {
		if v, err := reader.Get(ctx, []byte(k)); err != nil || string(v) != k+"0" {
			t.Fatalf("reader %s before commit = %q, %v", k, v, err)
		}
	}
	// Fetch a few timestamps so the commit ts is well past the reader's.
	for range 3 {
		p.now()
	}
	if err := writer.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if writer.CommitTS() <= reader.StartTS() {
		t.Fatalf("commit ts %d not above reader start ts %d", writer.CommitTS(), reader.StartTS())
	}
	vals, err := reader.BatchGet(ctx, [][]byte{[]byte("a"), []byte("b")})
	if err != nil || string(vals[0]) != "a0" || string(vals[1]) != "b0" {
		t.Fatalf("reader after commit = %q, %v", vals, err)
	}
	p.mustGet("a", "a1")
	p.mustGet("b", "b1")
}

// TestPortPrewritePrimaryKeyFailed ports client-go
// integration_tests/2pc_test.go TestPrewritePrimaryKeyFailed (scenario
// S03): a transaction whose start ts is below a committed version of its
// primary fails to commit and leaves nothing visible; rolling it back a
// second time is harmless; a later transaction writes the key.
func TestPortPrewritePrimaryKeyFailed(t *testing.T) {
	p := newPortCluster(t, false, nil)
	ctx := t.Context()
	t1 := p.commit("a", "a1")
	p.mustGet("a", "a1")

	t2 := p.begin(txn.WithStartTS(t1.StartTS() - 1))
	_ = t2.Set([]byte("a"), []byte("a2"))
	_ = t2.Set([]byte("b"), []byte("b2"))
	err := t2.Commit(ctx)
	var wc *kv.WriteConflictError
	if !errors.As(err, &wc) {
		t.Fatalf("commit below a committed version: %v, want a write conflict", err)
	}
	p.mustGet("a", "a1")
	p.mustGet("b", "")

	// client-go cleans the transaction up a second time: a rollback over
	// TiKV's rollback record must not fail (TiKV's rollback is idempotent).
	p.rollback(t2.StartTS(), "a", "b")
	p.mustGet("a", "a1")
	p.mustGet("b", "")

	p.commit("a", "a3")
	p.mustGet("a", "a3")
}

// TestPortWrittenKeysOnConflict ports client-go
// integration_tests/2pc_test.go TestWrittenKeysOnConflict (scenario S36b):
// when the prewrite of one region meets a write conflict, the keys already
// prewritten in other regions are rolled back, not left for readers to
// wait on. Instead of timing reads, the test waits for the client's
// background work (Close) and reads with no lock resolver at all: any lock
// left would fail the read with a *kv.LockedError.
func TestPortWrittenKeysOnConflict(t *testing.T) {
	p := newPortCluster(t, false, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("y"))})
	ctx := t.Context()
	const rounds = 3
	for i := range rounds {
		x, y := fmt.Sprintf("x%d", i), fmt.Sprintf("y%d", i)
		t1 := p.begin()
		t2 := p.begin()
		_ = t2.Set([]byte(x), []byte("1"))
		if err := t2.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		_ = t1.Set([]byte(x), []byte("1"))
		_ = t1.Set([]byte(y), []byte("2"))
		if err := t1.Commit(ctx); !errors.Is(err, kv.ErrWriteConflict) {
			t.Fatalf("round %d: commit = %v, want a write conflict", i, err)
		}
	}
	if err := p.client.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if locks := scanLocks(t, p.cluster, p.now()); len(locks) != 0 {
		t.Fatalf("locks left after a failed commit: %v", locks)
	}
	snap := txn.NewSnapshot(p.env, nil, p.now())
	for i := range rounds {
		if _, err := snap.Get(ctx, []byte(fmt.Sprintf("y%d", i))); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("y%d: %v, want not found without meeting a lock", i, err)
		}
	}
}

// TestPortPrewriteTxnSize ports client-go integration_tests/2pc_test.go
// TestPrewriteTxnSize: every lock carries the number of keys the
// transaction writes in the lock's region (TiKV's lock txn_size, which a
// resolver uses to choose lite or whole-region resolution), not the whole
// transaction's. The commit is held at the primary's Commit so the locks
// can be read.
func TestPortPrewriteTxnSize(t *testing.T) {
	p := newPortCluster(t, false, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte{100})})
	gate := mocktikv.NewGate()
	p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(gate))}})
	tx := p.begin()
	val := make([]byte, 1024)
	for i := byte(50); i < 120; i++ {
		if err := tx.Set([]byte{i}, val); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- tx.Commit(context.Background()) }()
	<-gate.Arrived()
	locks := scanLocks(t, p.cluster, p.now())
	gate.Open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(locks) != 70 {
		t.Fatalf("%d locks while the commit was held, want 70", len(locks))
	}
	for _, l := range locks {
		want := uint64(50)
		if l.Key[0] >= 100 {
			want = 20
		}
		if l.TxnSize != want {
			t.Fatalf("lock %v has txn size %d, want %d", l.Key, l.TxnSize, want)
		}
	}
}

// TestPortDeleteYourWriteCauseGhostPrimary ports client-go
// integration_tests/2pc_test.go TestDeleteYourWriteCauseGhostPrimary
// (optimistic): a transaction inserts a, b, c and deletes a again; once its
// primary is committed (the secondaries' commit held), a reader of c must
// resolve c's lock as committed through the real primary and read c's new
// value, not roll it back.
func TestPortDeleteYourWriteCauseGhostPrimary(t *testing.T) {
	p := newPortCluster(t, false, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("b"), []byte("c"), []byte("d"))})
	ctx := t.Context()
	gate := mocktikv.NewGate()
	p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Key: []byte("c"),
		Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(gate))}})
	t1 := p.begin()
	if _, err := t1.Get(ctx, []byte("a")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatal(err)
	}
	_ = t1.Insert([]byte("a"), []byte{0})
	_ = t1.Set([]byte("b"), []byte{1})
	_ = t1.Set([]byte("c"), []byte{2})
	_ = t1.Delete([]byte("a"))
	// Commit returns once the primary is committed; c's commit is held.
	if err := t1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	<-gate.Arrived()
	v, err := p.begin().Get(ctx, []byte("c"))
	gate.Open()
	if err != nil || len(v) != 1 || v[0] != 2 {
		t.Fatalf("c = %v, %v; want [2] (the lock resolved as committed)", v, err)
	}
	p.mustGet("a", "")
	p.mustGet("b", "\x01")
}

// TestPortDeleteAllYourWrites ports client-go integration_tests/2pc_test.go
// TestDeleteAllYourWrites (optimistic): a transaction that inserts and then
// deletes each of its keys commits, and none of them exists afterwards.
func TestPortDeleteAllYourWrites(t *testing.T) {
	p := newPortCluster(t, false, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("b"), []byte("c"), []byte("d"))})
	tx := p.begin()
	for i, k := range []string{"a", "b", "c"} {
		if err := tx.Insert([]byte(k), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Delete([]byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		p.mustGet(k, "")
	}
}

// TestPortDeleteYourInsertChecksNotExists ports the rule behind client-go
// integration_tests/2pc_test.go TestDeleteAllYourWrites (client-go 2pc.go
// initKeysAndMutations): in an optimistic transaction a deleted key that
// was inserted (PresumeKeyNotExists) is sent as Op_CheckNotExists, so the
// insert's existence check still holds: inserting and then deleting a key
// that exists fails with *kv.AlreadyExistError and leaves the key alone.
func TestPortDeleteYourInsertChecksNotExists(t *testing.T) {
	p := newPortCluster(t, false, nil)
	p.commit("e", "e0")
	tx := p.begin()
	_ = tx.Insert([]byte("e"), []byte("e1"))
	_ = tx.Delete([]byte("e"))
	var exists *kv.AlreadyExistError
	if err := tx.Commit(t.Context()); !errors.As(err, &exists) {
		t.Errorf("insert then delete of an existing key: commit = %v, want *kv.AlreadyExistError", err)
	}
	p.mustGet("e", "e0")
}

// TestPortCommitTSRealTimeOrder ports the optimistic 2PC case of scenario
// S06 (client-go integration_tests/1pc_test.go Test1PCLinearizability,
// async_commit_test.go TestAsyncCommitLinearizability): of two
// transactions begun together, the one that commits later in real time
// gets the larger commit ts, whatever their start order.
func TestPortCommitTSRealTimeOrder(t *testing.T) {
	p := newPortCluster(t, false, nil)
	ctx := t.Context()
	t1 := p.begin()
	t2 := p.begin()
	_ = t1.Set([]byte("a"), []byte("a1"))
	_ = t2.Set([]byte("b"), []byte("b1"))
	if err := t2.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := t1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if t2.CommitTS() >= t1.CommitTS() {
		t.Fatalf("commit ts of the earlier commit %d >= the later one's %d", t2.CommitTS(), t1.CommitTS())
	}
}

// TestPortCommitMutationKinds ports client-go integration_tests/2pc_test.go
// TestCommitter through the public Txn: puts, an insert, a delete and a
// lock-only key commit in one transaction across regions; the lock-only
// key keeps its old value and the prewrite carried the ops client-go sends
// (Put, Insert, Del, Lock).
func TestPortCommitMutationKinds(t *testing.T) {
	p := newPortCluster(t, false, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("c"))})
	ctx := t.Context()
	p.commit("d", "d0", "l", "l0")
	var mu sync.Mutex
	ops := map[string]kvrpcpb.Op{}
	p.mock.OnRequest(func(_ uint64, cmd transport.Cmd, req transport.Message) {
		if cmd != transport.CmdPrewrite {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range req.(*kvrpcpb.PrewriteRequest).Mutations {
			ops[string(m.Key)] = m.Op
		}
	})
	tx := p.begin()
	_ = tx.Set([]byte("a"), []byte("a1"))
	_ = tx.Insert([]byte("b"), []byte("b1"))
	_ = tx.Delete([]byte("d"))
	_ = tx.LockKeys(context.Background(), nil, []byte("l"))
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]kvrpcpb.Op{"a": kvrpcpb.Op_Put, "b": kvrpcpb.Op_Insert, "d": kvrpcpb.Op_Del, "l": kvrpcpb.Op_Lock}
	for k, op := range want {
		if ops[k] != op {
			t.Errorf("prewrite op of %s = %v, want %v (all: %v)", k, ops[k], op, ops)
		}
	}
	p.mustGet("a", "a1")
	p.mustGet("b", "b1")
	p.mustGet("d", "")
	p.mustGet("l", "l0")
}

// TestPortHeartbeatKeepsPrimaryAlive ports client-go's heartbeat rule
// (integration_tests/lock_test.go TestTxnHeartBeat's purpose, 2pc.go
// ttlManager) through the public Txn: a transaction large enough for
// heartbeats (a 20 KiB value; HeartbeatTxnSize 1, ManagedLockTTL 400 ms,
// so its locks are written with about 400 ms to live) has its primary's
// commit held for several TTLs; its heartbeats keep the primary alive, so
// a status check at the current ts (which would roll back an expired lock)
// finds it alive, and the commit then succeeds.
func TestPortHeartbeatKeepsPrimaryAlive(t *testing.T) {
	p := newPortCluster(t, false, nil, txn.WithCommitOptions(txn.CommitOptions{
		ManagedLockTTL: 400 * time.Millisecond, HeartbeatTxnSize: 1,
	}))
	gate := mocktikv.NewGate()
	p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(gate))}})
	tx := p.begin()
	_ = tx.Set([]byte("k"), make([]byte, 20<<10))
	done := make(chan error, 1)
	go func() { done <- tx.Commit(context.Background()) }()
	<-gate.Arrived()
	// Wait for three heartbeats: the transaction has then lived past the
	// TTL its locks were written with.
	beats, deadline := 0, time.Now().Add(10*time.Second)
	for beats < 3 {
		if time.Now().After(deadline) {
			gate.Open()
			<-done
			t.Fatalf("%d heartbeats in 10s", beats)
		}
		beats += countCmd(p.log.take(), transport.CmdTxnHeartBeat)
		time.Sleep(20 * time.Millisecond)
	}
	st, err := p.client.Resolver().GetTxnStatus(t.Context(), tx.StartTS(), []byte("k"), 0, p.now(), false)
	gate.Open()
	cerr := <-done
	if err != nil || st.IsDetermined() || st.TTL <= 0 {
		t.Fatalf("status of the heartbeated primary: %v, %v; want alive", st, err)
	}
	if cerr != nil {
		t.Fatalf("commit: %v", cerr)
	}
	if d := tx.CommitDetails(); d.Heartbeats < 3 {
		t.Fatalf("details count %d heartbeats, want at least 3", d.Heartbeats)
	}
	p.mustGet("k", string(make([]byte, 20<<10)))
}
