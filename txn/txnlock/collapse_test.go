package txnlock_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/txnlock"
)

// TestLockResolverCache: once a txn is settled, its other locks are
// resolved from the cache, without asking its primary or (async commit)
// its secondaries again. Ports client-go txnlock/lock_resolver_test.go
// TestLockResolverCache (TiDB issue 59494: a cached async-commit txn
// must not be checked again).
func TestLockResolverCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, asyncSplits)
		start := f.asyncTxn([]string{"a", "x"}, "p", "a", "x")
		lock := f.mustLock("a")
		stale := *f.mustLock("x")
		time.Sleep(100 * time.Millisecond)
		f.resolve(f.ts(), txnlock.Options{}, lock)
		_, commit := f.mustRead("x")
		f.rec.take(0)

		res := f.resolve(f.ts(), txnlock.Options{ForRead: true}, &stale)
		if len(res.Committed) != 1 || res.Committed[0] != start {
			t.Fatalf("cached result %+v", res)
		}
		if n, m := f.rec.count(transport.CmdCheckTxnStatus), f.rec.count(transport.CmdCheckSecondaryLocks); n+m != 0 {
			t.Fatalf("%d status checks and %d secondary checks for a cached txn", n, m)
		}
		s, err := f.r.GetTxnStatus(context.Background(), start, []byte("p"), 0, 0, false)
		if err != nil || s.CommitTS != commit {
			t.Fatalf("cached status %v, %v; want commit %d", s, err, commit)
		}
	})
}

// TestConcurrentResolutionsCollapse: callers resolving the same txn's lock
// at once share one status check (core row 22; client-go collapses
// identical requests in its client).
func TestConcurrentResolutionsCollapse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		start := f.ts()
		f.prewrite(start, txnSpec{primary: "p", keys: []string{"p", "s"}, ttlMs: 3000})
		f.commit(start, f.ts(), "p")
		lock := f.mustLock("s")
		gate := mocktikv.NewGate()
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCheckTxnStatus, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(gate))}})
		f.rec.take(0)

		const callers = 4
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for range callers {
			wg.Go(func() {
				_, err := f.r.ResolveLocks(context.Background(), 0, []*kv.Lock{lock})
				errs <- err
			})
		}
		synctest.Wait() // the leader is held at the gate, the others wait for it
		if got := len(f.r.Resolving()); got != callers {
			t.Fatalf("%d locks being resolved, want %d", got, callers)
		}
		gate.Open()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := f.rec.count(transport.CmdCheckTxnStatus); n != 1 {
			t.Fatalf("%d status checks, want 1", n)
		}
		if f.lockOn("s") != nil {
			t.Fatal("lock left")
		}
	})
}

// TestResolving: the locks being resolved are listed while the
// resolution runs, with who met them, and forgotten after (client-go's
// Resolving, RecordResolvingLocks and ResolveLocksDone).
func TestResolving(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		start := f.ts()
		f.prewrite(start, txnSpec{primary: "p", keys: []string{"p", "s"}, ttlMs: 3000})
		lock := f.mustLock("s")
		gate := mocktikv.NewGate()
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCheckTxnStatus, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(gate))}})
		done := make(chan struct{})
		go func() {
			defer close(done)
			f.r.ResolveLocks(context.Background(), 42, []*kv.Lock{lock})
		}()
		synctest.Wait()
		got := f.r.Resolving()
		if len(got) != 1 || got[0].CallerStartTS != 42 || got[0].LockStartTS != start || string(got[0].Key) != "s" || string(got[0].Primary) != "p" {
			t.Fatalf("resolving %+v", got)
		}
		gate.Open()
		<-done
		if got := f.r.Resolving(); len(got) != 0 {
			t.Fatalf("resolving after done: %+v", got)
		}
	})
}

// TestResolveSurvivesRegionErrors: stale routing answered to the status
// check and to ResolveLock is retried by the pipeline (re-split after
// EpochNotMatch), and the lock is resolved.
func TestResolveSurvivesRegionErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		start := f.ts()
		f.prewrite(start, txnSpec{primary: "p", keys: []string{"p", "s"}, ttlMs: 3000})
		f.commit(start, f.ts(), "p")
		stale := mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}}))
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCheckTxnStatus, Steps: []mocktikv.Step{stale}})
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdResolveLock, Steps: []mocktikv.Step{stale}})
		f.rec.take(0)
		f.resolve(0, txnlock.Options{}, f.mustLock("s"))
		if n, m := f.rec.count(transport.CmdCheckTxnStatus), f.rec.count(transport.CmdResolveLock); n != 2 || m != 2 {
			t.Fatalf("%d status checks, %d resolves; want each retried once", n, m)
		}
		if f.lockOn("s") != nil {
			t.Fatal("lock left")
		}
	})
}

// TestResolveErrors: a key error from the status check fails the
// resolution with its typed error and leaves the lock; a shared lock is
// refused; a primary that never answers is waited for only as long as the
// caller's context allows.
func TestResolveErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		start := f.ts()
		f.prewrite(start, txnSpec{primary: "p", keys: []string{"p", "s"}, ttlMs: 3000})
		lock := f.mustLock("s")

		h := f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCheckTxnStatus, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.KeyError(&kvrpcpb.KeyError{Abort: "boom"}))}})
		_, err := f.r.ResolveLocks(context.Background(), 0, []*kv.Lock{lock})
		var abort *kv.AbortError
		if !errors.As(err, &abort) {
			t.Fatalf("error %v, want the abort", err)
		}
		h.Remove()
		if f.lockOn("s") == nil {
			t.Fatal("lock removed after a failed status check")
		}

		shared := *lock
		shared.Type = kvrpcpb.Op_SharedLock
		if _, err := f.r.ResolveLocks(context.Background(), 0, []*kv.Lock{&shared}); !errors.Is(err, txnlock.ErrSharedLock) || !errors.Is(err, kv.ErrInvalidArgument) {
			t.Fatalf("resolving a shared lock as a whole = %v, want txnlock.ErrSharedLock", err)
		}
		if err := f.r.BatchResolveLocks(context.Background(), []*kv.Lock{lock, &shared}); !errors.Is(err, txnlock.ErrSharedLock) {
			t.Fatalf("batch-resolving a shared lock as a whole = %v, want txnlock.ErrSharedLock", err)
		}
		if f.lockOn("s") == nil {
			t.Fatal("lock removed by a refused resolution")
		}

		// A secondary whose primary never comes, still alive: TxnNotFound
		// backoff until the caller's deadline.
		start2 := f.ts()
		f.prewrite(start2, txnSpec{primary: "absent", keys: []string{"t"}, ttlMs: 20000})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err = f.r.ResolveLocks(ctx, 0, []*kv.Lock{f.mustLock("t")})
		var nf *kv.TxnNotFoundError
		if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &nf) {
			t.Fatalf("error %v, want the deadline with TxnNotFound as cause", err)
		}
	})
}

// TestReadThroughResolveLockStage: a read plan wrapped in
// pipeline.ResolveLocks with the Resolver's read view meets a committed
// txn's leftover secondary and returns its value; a rolled-back txn's is
// skipped. Ports the resolution part of client-go lock_test.go
// testLockSuite.TestScanLockResolveWithGet.
func TestReadThroughResolveLockStage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		start := f.ts()
		f.prewrite(start, txnSpec{primary: "z1", keys: []string{"c", "z1"}, ttlMs: 3000})
		f.commit(start, f.ts(), "z1")
		start2 := f.ts()
		f.prewrite(start2, txnSpec{primary: "z2", keys: []string{"d", "z2"}, ttlMs: 50})
		time.Sleep(100 * time.Millisecond)

		get := pipeline.Single(pipeline.Shard(f.env, pipeline.ByKey((*kvrpcpb.GetRequest).GetKey),
			pipeline.ResolveLocks(f.env, f.r.With(txnlock.Options{ForRead: true}), (*kvrpcpb.GetRequest).GetVersion,
				func(req *kvrpcpb.GetRequest, res pipeline.ResolveResult) *kvrpcpb.GetRequest {
					c := clone(req)
					if c.Context == nil {
						c.Context = &kvrpcpb.Context{}
					}
					c.Context.ResolvedLocks = append(c.Context.ResolvedLocks, res.Resolved...)
					c.Context.CommittedLocks = append(c.Context.CommittedLocks, res.Committed...)
					return c
				},
				pipeline.Retry(f.env, plans.KvGet), pipeline.ForReads())))
		ts := f.ts()
		resp, err := get(context.Background(), &kvrpcpb.GetRequest{Key: []byte("c"), Version: ts})
		if err != nil || string(resp.Value) != "v-c" {
			t.Fatalf("get c: %v, %v", resp, err)
		}
		resp, err = get(context.Background(), &kvrpcpb.GetRequest{Key: []byte("d"), Version: ts})
		if err != nil || !resp.NotFound {
			t.Fatalf("get d: %v, %v", resp, err)
		}
	})
}

// TestBatchGetAcrossRegionsResolvesConcurrently: a BatchGet split over
// two regions meets locks in both; its pieces call the one Resolver at
// once (run under -race), and every value is read. Ports client-go
// lock_test.go testLockSuite.TestScanLockResolveWithBatchGet.
func TestBatchGetAcrossRegionsResolvesConcurrently(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("m"))})
		keys := []string{"a", "b", "x", "y"}
		for _, k := range keys {
			start := f.ts()
			f.prewrite(start, txnSpec{primary: "p" + k, keys: []string{k, "p" + k}, ttlMs: 3000})
			f.commit(start, f.ts(), "p"+k)
		}
		batchGet := pipeline.Shard(f.env, byKeys(func(r *kvrpcpb.BatchGetRequest) *[][]byte { return &r.Keys }),
			pipeline.ResolveLocks(f.env, f.r.With(txnlock.Options{ForRead: true}), (*kvrpcpb.BatchGetRequest).GetVersion,
				func(req *kvrpcpb.BatchGetRequest, res pipeline.ResolveResult) *kvrpcpb.BatchGetRequest {
					c := clone(req)
					if c.Context == nil {
						c.Context = &kvrpcpb.Context{}
					}
					c.Context.ResolvedLocks = append(c.Context.ResolvedLocks, res.Resolved...)
					c.Context.CommittedLocks = append(c.Context.CommittedLocks, res.Committed...)
					return c
				},
				pipeline.Retry(f.env, plans.KvBatchGet), pipeline.ForReads()))
		parts, err := batchGet(context.Background(), &kvrpcpb.BatchGetRequest{Keys: keyList(keys), Version: f.ts()})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, p := range parts {
			for _, kv := range p.Resp.Pairs {
				got[string(kv.Key)] = string(kv.Value)
			}
		}
		for _, k := range keys {
			if got[k] != "v-"+k {
				t.Fatalf("read %v", got)
			}
		}
	})
}
