package txnlock_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/txnlock"
)

// committedLeftovers makes txns whose primary committed and whose
// secondaries are left locked; size sets TxnSize (lite or region-wide).
func (f *fixture) committedLeftovers(size uint64, txns ...[]string) []*kv.Lock {
	f.t.Helper()
	var locks []*kv.Lock
	for _, keys := range txns {
		start := f.ts()
		f.prewrite(start, txnSpec{primary: keys[0], keys: keys, ttlMs: 3000, txnSize: size})
		f.commit(start, f.ts(), keys[0])
		for _, k := range keys[1:] {
			locks = append(locks, f.mustLock(k))
		}
	}
	return locks
}

// TestBackgroundReadCleanup: with WithBackgroundReadCleanup a reader gets
// its answer while the ResolveLock requests are still held, and the
// cleanups finish in the background (Close waits for them). Ports client-go
// lock_test.go testLockSuite.TestBatchLiteResolveLocksByRegion (its
// for_read case).
func TestBackgroundReadCleanup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("m"))},
			txnlock.WithBackgroundReadCleanup(16), txnlock.WithLiteThreshold(8))
		defer f.r.Close()
		lite := f.committedLeftovers(2, []string{"p1", "a1", "a2", "z1"})
		region := f.committedLeftovers(100, []string{"p2", "b1"})
		gate := mocktikv.NewGate()
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdResolveLock, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Block(gate))}})
		f.rec.take(0)

		res := f.resolve(f.ts(), txnlock.Options{ForRead: true}, append(lite, region...)...)
		if res.Live != 0 || len(res.Committed) != 4 {
			t.Fatalf("result %+v", res)
		}
		synctest.Wait() // the cleanups reach the gate
		if n := f.rec.count(transport.CmdResolveLock); n != 3 {
			t.Fatalf("%d ResolveLock requests held, want 3 (two regions of lite keys, one region-wide)", n)
		}
		if f.lockOn("a1") == nil {
			t.Fatal("cleanup finished before the gate opened")
		}
		gate.Open()
		f.r.Close()
		for _, l := range append(lite, region...) {
			if f.lockOn(string(l.Key)) != nil {
				t.Fatalf("%q still locked after the background cleanup", l.Key)
			}
		}
	})
}

// TestBackgroundReadCleanupLimit: beyond the limit, and after Close, a
// cleanup runs in the reader's goroutine. Ports client-go
// txnlock/lock_resolver_test.go TestTryAsyncResolve (its semaphore and
// closed-pool rules).
func TestBackgroundReadCleanupLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil, txnlock.WithBackgroundReadCleanup(1), txnlock.WithLiteThreshold(8))
		defer f.r.Close()
		locks := f.committedLeftovers(100, []string{"p1", "a"}, []string{"p2", "b"})
		gate := mocktikv.NewGate()
		h := f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdResolveLock, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Block(gate))}})

		done := make(chan cleanupResult, 1)
		go func() {
			res, err := f.r.ResolveLocksWith(context.Background(), f.ts(), locks, txnlock.Options{ForRead: true})
			done <- cleanupResult{len(res.Committed), err}
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("the second cleanup did not run inline")
		default:
		}
		if h.Hits() != 2 {
			t.Fatalf("%d ResolveLock requests held, want 2", h.Hits())
		}
		gate.Open()
		if r := <-done; r.err != nil || r.committed != 2 {
			t.Fatalf("resolution: %+v", r)
		}
		f.r.Close()
		h.Remove()

		more := f.committedLeftovers(100, []string{"p3", "c"})
		f.resolve(f.ts(), txnlock.Options{ForRead: true}, more...)
		if f.lockOn("c") != nil {
			t.Fatal("cleanup after Close did not run inline")
		}
	})
}

type cleanupResult struct {
	committed int
	err       error
}

// TestBatchLiteResolveLocksForReadIgnoresInlineCleanupError: a reader's
// cleanup that fails (key-list or region-wide) does not fail the read (it
// knows the txn is committed); a writer's does. Ports client-go lock_test.go
// testLockSuite.TestBatchLiteResolveLocksForReadIgnoresInlineCleanupError.
func TestBatchLiteResolveLocksForReadIgnoresInlineCleanupError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		locks := f.committedLeftovers(1, []string{"p", "a", "b"})
		locks = append(locks, f.committedLeftovers(1000, []string{"q", "c"})...) // region-wide
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdResolveLock, Steps: []mocktikv.Step{
			mocktikv.Always(mocktikv.KeyError(&kvrpcpb.KeyError{Abort: "injected"}))}})
		res, err := f.r.ResolveLocksWith(context.Background(), f.ts(), locks, txnlock.Options{ForRead: true})
		if err != nil || len(res.Committed) != 3 {
			t.Fatalf("reader: %+v, %v", res, err)
		}
		_, err = f.r.ResolveLocksWith(context.Background(), f.ts(), locks, txnlock.Options{})
		var abort *kv.AbortError
		if !errors.As(err, &abort) {
			t.Fatalf("writer: %v, want the cleanup's error", err)
		}
	})
}
