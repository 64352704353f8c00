package txn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestPortSkipLargeTxnLock ports client-go integration_tests/snapshot_test.go
// TestSkipLargeTxnLock (scenario S10) through the public Txn: a
// transaction's prewrite succeeds and its commit is held; a reader that
// begins then is not blocked by its locks (its status check pushes the
// writer's min commit ts past the reader) and reads the old state; the
// writer's commit, whose commit ts is now below its min commit ts, is
// re-timestamped (TiKV's CommitTsExpired, retried for the primary) and
// lands after the reader's start ts.
func TestPortSkipLargeTxnLock(t *testing.T) {
	p := newPortCluster(t, false, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("y"))})
	ctx := shortCtx(t)
	gate := mocktikv.NewGate()
	p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(gate))}})
	w := p.begin()
	_ = w.Set([]byte("x"), []byte("x"))
	_ = w.Set([]byte("y"), []byte("y"))
	done := make(chan error, 1)
	go func() { done <- w.Commit(context.Background()) }()
	<-gate.Arrived()

	r := p.begin()
	if _, err := r.Get(ctx, []byte("x")); !errors.Is(err, kv.ErrNotFound) {
		gate.Open()
		<-done
		t.Fatalf("reader Get(x) = %v, want not found without waiting", err)
	}
	vals, err := r.BatchGet(ctx, [][]byte{[]byte("y"), []byte("z")})
	gate.Open()
	if cerr := <-done; cerr != nil {
		t.Fatalf("writer commit: %v", cerr)
	}
	if err != nil || vals[0] != nil || vals[1] != nil {
		t.Fatalf("reader BatchGet = %q, %v; want nothing", vals, err)
	}
	if w.CommitTS() <= r.StartTS() {
		t.Fatalf("writer committed at %d, not after the reader's start ts %d", w.CommitTS(), r.StartTS())
	}
	st, err := p.client.Resolver().GetTxnStatus(ctx, w.StartTS(), []byte("x"), 0, p.now(), false)
	if err != nil || !st.IsCommitted() || st.CommitTS != w.CommitTS() {
		t.Fatalf("status %v, %v; want committed at %d", st, err, w.CommitTS())
	}
	p.mustGet("y", "y")
}

// TestPortPointGetSkipTxnLockSecondary ports the second half of client-go
// integration_tests/snapshot_test.go TestPointGetSkipTxnLock (scenario
// S11a) with the client's real resolver: a point get at MaxTS of a
// prewritten transaction's secondary is not blocked and reads the old
// state, without pushing the transaction's min commit ts (its commit at
// start ts + 1 still succeeds); after the primary commits, a MaxTS get of
// the secondary reads the new value.
func TestPortPointGetSkipTxnLockSecondary(t *testing.T) {
	p := newPortCluster(t, false, nil)
	ctx := shortCtx(t)
	start := p.lockMin(time.Minute, "x", "x", "y", "y")
	if _, err := p.client.Snapshot(txn.MaxTS).Get(ctx, []byte("y")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("MaxTS get of the secondary = %v, want not found", err)
	}
	if err := p.commitAt(start, start+1, "x"); err != nil {
		t.Fatalf("commit at start ts + 1 (min commit ts must not have been pushed): %v", err)
	}
	v, err := p.client.Snapshot(txn.MaxTS).Get(ctx, []byte("y"))
	if err != nil || string(v) != "y" {
		t.Fatalf("MaxTS get after the primary committed = %q, %v", v, err)
	}
}

// TestPortSnapshotUseResolveForRead ports client-go
// integration_tests/snapshot_fail_test.go TestSnapshotUseResolveForRead
// (scenario S12, 2PC): a read that meets the secondary lock of a
// transaction whose primary is committed reads the committed value without
// waiting for the lock to be resolved (here ResolveLock is held by a gate
// until the reads are done, instead of slowed by 500 ms); the lock is
// still there after the reads and goes once resolution may proceed. As in
// client-go, once with 2PC locks and once with async-commit locks (whose
// primary lists y as its secondary).
func TestPortSnapshotUseResolveForRead(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(map[bool]string{false: "2pc", true: "async-commit"}[async], func(t *testing.T) {
			testSnapshotUseResolveForRead(t, async)
		})
	}
}

func testSnapshotUseResolveForRead(t *testing.T, async bool) {
	p := newPortCluster(t, false, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("y"))})
	var start uint64
	if async {
		start = p.lockAsync(time.Minute, "x", "x", "y", "y")
	} else {
		start = p.lockMin(time.Minute, "x", "x", "y", "y")
	}
	if locks := scanLocks(t, p.cluster, p.now()); len(locks) != 2 || locks[1].GetUseAsyncCommit() != async {
		t.Fatalf("prewritten locks %v, want x and y with async commit %v", locks, async)
	}
	p.commitKeys(start, [][]byte{[]byte("x")})
	gate := mocktikv.NewGate()
	p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdResolveLock, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Block(gate))}})
	defer gate.Open()

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	v, err := p.begin().Get(ctx, []byte("y"))
	if err != nil || string(v) != "y" {
		t.Fatalf("Get(y) = %q, %v; want y without waiting for ResolveLock", v, err)
	}
	vals, err := p.begin().BatchGet(ctx, [][]byte{[]byte("y")})
	if err != nil || string(vals[0]) != "y" {
		t.Fatalf("BatchGet(y) = %q, %v", vals, err)
	}
	if locks := scanLocks(t, p.cluster, p.now()); len(locks) != 1 || string(locks[0].Key) != "y" {
		t.Fatalf("locks right after the reads: %v, want y's", locks)
	}
	gate.Open()
	// The lock goes once resolution may run (in the background, or on the
	// next read that meets it).
	deadline := time.Now().Add(5 * time.Second)
	for len(scanLocks(t, p.cluster, p.now())) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("y's lock not resolved 5s after ResolveLock was let through")
		}
		if _, err := p.begin().Get(t.Context(), []byte("y")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPortResetSnapshotTS ports client-go
// integration_tests/snapshot_fail_test.go TestResetSnapshotTS as "a new
// snapshot": tikvgo's snapshots have a fixed ts, and reading at a newer ts
// means taking a new snapshot (client-go's SetSnapshotTS). A reader that
// skipped a live transaction's lock (its min commit ts pushed) keeps
// reading the old value; a snapshot at the transaction's later commit ts
// must not inherit that skip and reads the committed value through the
// primary.
func TestPortResetSnapshotTS(t *testing.T) {
	p := newPortCluster(t, false, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("y"))})
	ctx := shortCtx(t)
	p.write("x", "x0", "y", "y0") // all keys committed before the raw prewrite below
	start := p.lockMin(time.Minute, "x", "x1", "y", "y1")
	r := p.begin()
	if v, err := r.Get(ctx, []byte("y")); err != nil || string(v) != "y0" {
		t.Fatalf("reader = %q, %v", v, err)
	}
	commitTS := p.now()
	if err := p.commitAt(start, commitTS, "x"); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Get(ctx, []byte("y")); err != nil || string(v) != "y0" {
		t.Fatalf("reader after the commit = %q, %v; want y0", v, err)
	}
	if v, err := p.client.Snapshot(commitTS).Get(ctx, []byte("y")); err != nil || string(v) != "y1" {
		t.Fatalf("new snapshot at the commit ts = %q, %v; want y1", v, err)
	}
}
