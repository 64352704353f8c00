package txn_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
	"github.com/tikvgo/tikv/txn/membuf"
	"github.com/tikvgo/tikv/txn/txnlock"
)

// requests returns the requests logged so far.
func (l *cmdLog) requests() []*transport.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*transport.Request(nil), l.reqs...)
}

// bothTransports runs f in-process and over gRPC, as subtests.
func bothTransports(t *testing.T, f func(t *testing.T, grpc bool)) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) { f(t, grpc) })
	}
}

// TestPortPessimisticPrewriteRequest ports client-go
// integration_tests/2pc_test.go TestPessimisticPrewriteRequest: every
// prewrite request of a pessimistic transaction carries its for_update_ts
// and one pessimistic action per mutation, a request holding only keys the
// transaction never locked included (SKIP_PESSIMISTIC_CHECK): TiKV pairs
// mutations with actions one to one, so a request without them would
// prewrite its keys with no check at all. (client-go builds the request
// for a committer whose for-update ts was set by hand; ours takes it from
// the transaction's LockKeys, and a pessimistic transaction that locked
// nothing prewrites as an optimistic one, checking every key.)
func TestPortPessimisticPrewriteRequest(t *testing.T) {
	bothTransports(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("t"))})
		tx := p.beginPessimistic()
		lc := &txn.LockCtx{}
		mustLock(t, tx, lc, "a")
		for _, k := range []string{"a", "b", "t1"} { // b shares a's region, t1 is alone in the other
			if err := tx.Set([]byte(k), []byte("v-"+k)); err != nil {
				t.Fatal(err)
			}
		}
		p.log.reset()
		if err := tx.Commit(context.Background()); err != nil {
			t.Fatalf("commit: %v", err)
		}
		want := map[string]kvrpcpb.PrewriteRequest_PessimisticAction{
			"a": kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK,
			"b": kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK, "t1": kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK,
		}
		seen := map[string]bool{}
		for _, req := range p.log.prewrites() {
			if req.ForUpdateTs != lc.ForUpdateTS {
				t.Fatalf("prewrite of %d keys: for_update_ts %d, want %d", len(req.Mutations), req.ForUpdateTs, lc.ForUpdateTS)
			}
			if len(req.PessimisticActions) != len(req.Mutations) {
				t.Fatalf("prewrite has %d mutations and %d pessimistic actions", len(req.Mutations), len(req.PessimisticActions))
			}
			for i, m := range req.Mutations {
				if a := req.PessimisticActions[i]; a != want[string(m.Key)] {
					t.Fatalf("action of %q = %v, want %v", m.Key, a, want[string(m.Key)])
				}
				seen[string(m.Key)] = true
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("prewritten keys %v, want %v", seen, want)
		}
		p.mustGet("t1", "v-t1")
	})
}

// TestPortResolvePessimisticLock ports client-go
// integration_tests/2pc_test.go TestResolvePessimisticLock. client-go's
// KV filter (TiDB's, not ported: txn-F2) marks a written key whose value
// need not be committed; a key the transaction locked is then still
// prewritten, as Op_Lock, so that its lock is committed away rather than
// left behind. Ours marks such keys with membuf's FlagIgnoredIn2PC: a
// locked, ignored key (with a value) and a locked key without value are
// both prewritten as Op_Lock, with no value (TiKV drops an Op_Lock's
// value), an ignored key not locked is not sent, and once the transaction
// committed no lock is left and the ignored value was not written. Both
// an optimistic transaction (the original) and a pessimistic one, whose
// lock would otherwise outlive it.
func TestPortResolvePessimisticLock(t *testing.T) {
	untouched, noValue, dropped := "t00000001_i000000001", "t00000001_i000000002", "t00000001_i000000003"
	for _, pess := range []bool{false, true} {
		t.Run(fmt.Sprintf("pessimistic=%v", pess), func(t *testing.T) {
			bothTransports(t, func(t *testing.T, grpc bool) {
				p := newPortCluster(t, grpc, nil)
				var opts []txn.BeginOption
				if pess {
					opts = append(opts, txn.WithPessimistic())
				}
				tx := p.begin(opts...)
				for _, k := range []string{untouched, dropped} {
					if err := tx.Set([]byte(k), []byte{0, 0, 0, 0, 0, 0, 0, 1, 49}); err != nil {
						t.Fatal(err)
					}
					if err := tx.MemBuffer().UpdateFlags([]byte(k), membuf.SetIgnoredIn2PC); err != nil {
						t.Fatal(err)
					}
				}
				mustLock(t, tx, &txn.LockCtx{Wait: txn.LockNoWait}, untouched, noValue)
				p.log.reset()
				if err := tx.Commit(context.Background()); err != nil {
					t.Fatalf("commit: %v", err)
				}
				pw := p.log.prewrites()
				if len(pw) != 1 || len(pw[0].Mutations) != 2 {
					t.Fatalf("prewrites %v, want one of two mutations", pw)
				}
				for i, k := range []string{untouched, noValue} {
					m := pw[0].Mutations[i]
					if string(m.Key) != k || m.Op != kvrpcpb.Op_Lock || len(m.Value) != 0 {
						t.Fatalf("mutation %d = %v %q (value %v), want Op_Lock %q without value", i, m.Op, m.Key, m.Value, k)
					}
				}
				for _, k := range []string{untouched, noValue, dropped} {
					if l := p.lockOf(k); l != nil {
						t.Fatalf("lock left on %q after the commit: %v", k, l)
					}
					p.mustGet(k, "")
				}
				t2 := p.beginPessimistic()
				mustLock(t, t2, &txn.LockCtx{Wait: txn.LockNoWait}, untouched, noValue)
				_ = t2.Rollback()
			})
		})
	}
}

// skewedPD is a PD whose clock runs ahead of the local one by skew: every
// timestamp's physical part is that much in the local future.
type skewedPD struct {
	pdclient.PD
	skew time.Duration
}

func (p skewedPD) GetTS(ctx context.Context) (int64, int64, error) {
	physical, logical, err := p.PD.GetTS(ctx)
	return physical + p.skew.Milliseconds(), logical, err
}

// newSkewedPortCluster is newPortCluster whose client's PD clock is skew
// ahead of the local clock (so are the timestamps mocktikv sees, which
// come from the client).
func newSkewedPortCluster(t *testing.T, grpc bool, skew time.Duration, opts ...txn.Option) *portCluster {
	t.Helper()
	log := &cmdLog{}
	var mock *mocktikv.Cluster
	var cluster *tikv.Cluster
	var err error
	if grpc {
		mock = mocktikv.Start(t)
		pd, perr := pdclient.Connect(t.Context(), mock.PDAddrs())
		if perr != nil {
			t.Fatalf("pd: %v", perr)
		}
		t.Cleanup(pd.Close)
		cluster, err = tikv.Connect(t.Context(), nil, tikv.WithPD(skewedPD{pd, skew}), tikv.WithMiddleware(log.middleware))
	} else {
		mock = mocktikv.NewCluster()
		cluster, err = tikv.Connect(context.Background(), nil, tikv.WithPD(skewedPD{mock.PD(), skew}),
			tikv.WithTransport(mock.Sender()), tikv.WithMiddleware(log.middleware))
	}
	return finishPortCluster(t, grpc, mock, log, cluster, err, opts...)
}

// TestPortElapsedTTLPessimistic ports client-go
// integration_tests/2pc_test.go TestElapsedTTL (scenario S27): a
// pessimistic lock's TTL is the managed TTL plus the time the transaction
// has lived by the local clock, even when the timestamps' physical time
// is ahead of it (here PD's clock runs 10 s ahead; client-go sets a start
// ts 10 s in the future, which our LockKeys, fetching its own for-update
// ts, cannot be given). Locking 100 ms after Begin, TTL - managed TTL is
// at least 100 ms and at most the time Begin to lock took: a TTL counted
// from the start ts's physical time would be 10 s off either way.
// In-process in a synctest bubble (exactly 100 ms), over gRPC in real time.
func TestPortElapsedTTLPessimistic(t *testing.T) {
	const managed = 3 * time.Second
	run := func(t *testing.T, grpc bool) {
		p := newSkewedPortCluster(t, grpc, 10*time.Second, txn.WithCommitOptions(txn.CommitOptions{ManagedLockTTL: managed}))
		before := time.Now()
		tx := p.beginPessimistic()
		if ahead := time.UnixMilli(pdclient.ExtractPhysical(tx.StartTS())).Sub(time.Now()); ahead < 9*time.Second {
			t.Fatalf("start ts only %v ahead of the local clock", ahead)
		}
		time.Sleep(100 * time.Millisecond)
		mustLock(t, tx, nil, "key")
		took := time.Since(before)
		l := p.lockOf("key")
		if l == nil || l.LockVersion != tx.StartTS() {
			t.Fatalf("lock of key = %v, want tx's", l)
		}
		extra := time.Duration(l.LockTtl)*time.Millisecond - managed
		if extra < 100*time.Millisecond || extra > took {
			t.Fatalf("lock ttl %d ms = managed %v + %v, want + [100ms, %v]", l.LockTtl, managed, extra, took)
		}
		_ = tx.Rollback()
	}
	t.Run("in-process", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) { run(t, false) })
	})
	t.Run("grpc", func(t *testing.T) { run(t, true) })
}

// retryPushTTL runs TestRetryPushTTL on p, whose managed lock TTL is
// managed: T1 locks k; T2 waits for it; after hold T1 rolls back and T2
// gets k. The lock T2 got must carry a TTL counted when it was granted
// (T2's age then, at least hold, plus managed), not when T2 first asked:
// with the old one it would expire hold early and be taken from T2. T3
// then waits for k for hold and must not get it; once T2 rolls back, T3
// gets it.
func retryPushTTL(t *testing.T, p *portCluster, managed, hold time.Duration) {
	ctx := context.Background()
	t1 := p.beginPessimistic()
	mustLock(t, t1, nil, "k")
	t2 := p.beginPessimistic()
	t2Began := time.Now()
	t2Got := make(chan error, 1)
	go func() { t2Got <- t2.LockKeys(ctx, &txn.LockCtx{}, []byte("k")) }()
	time.Sleep(hold)
	if err := t1.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-t2Got; err != nil {
		t.Fatalf("T2 lock after T1's rollback: %v", err)
	}
	waited := time.Since(t2Began)
	l := p.lockOf("k")
	if l == nil || l.LockVersion != t2.StartTS() {
		t.Fatalf("lock of k = %v, want T2's", l)
	}
	if ttl := time.Duration(l.LockTtl) * time.Millisecond; ttl < hold+managed || ttl > waited+managed {
		t.Fatalf("T2's lock ttl %v, want its age when granted plus %v: within [%v, %v]", ttl, managed, hold+managed, waited+managed)
	}
	t3 := p.beginPessimistic()
	t3Got := make(chan error, 1)
	go func() { t3Got <- t3.LockKeys(ctx, &txn.LockCtx{}, []byte("k")) }()
	select {
	case err := <-t3Got:
		t.Fatalf("T3 got k while T2 held it (err %v)", err)
	case <-time.After(hold):
	}
	if err := t2.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-t3Got; err != nil {
		t.Fatalf("T3 lock after T2's rollback: %v", err)
	}
	if l := p.lockOf("k"); l == nil || l.LockVersion != t3.StartTS() {
		t.Fatalf("lock of k = %v, want T3's", l)
	}
	_ = t3.Rollback()
}

// TestPortRetryPushTTL ports client-go integration_tests/2pc_test.go
// TestRetryPushTTL (scenario S27): a lock granted after a wait carries a
// fresh TTL, so a third transaction keeps waiting for it instead of
// resolving it as expired. In-process in a synctest bubble with the
// original's figures (managed TTL 3 s, 2 s waits); over gRPC in real time,
// scaled down (1 s, 700 ms).
func TestPortRetryPushTTL(t *testing.T) {
	t.Run("in-process", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := newPortCluster(t, false, nil, txn.WithCommitOptions(txn.CommitOptions{ManagedLockTTL: 3 * time.Second}))
			retryPushTTL(t, p, 3*time.Second, 2*time.Second)
		})
	})
	t.Run("grpc", func(t *testing.T) {
		p := newPortCluster(t, true, nil, txn.WithCommitOptions(txn.CommitOptions{ManagedLockTTL: time.Second}))
		retryPushTTL(t, p, time.Second, 700*time.Millisecond)
	})
}

// TestPortResolveMixed ports client-go integration_tests/2pc_test.go
// TestResolveMixed: a big transaction (more keys than the resolver's
// lite threshold) left optimistic prewrite locks and a pessimistic lock
// behind, and its primary's lock is gone (heartbeats stopped, primary
// rolled back). Resolving one optimistic lock rolls the transaction back
// by resolving its whole region (KvResolveLock without keys), which
// clears the pessimistic lock too: another transaction then locks that
// key without waiting.
func TestPortResolveMixed(t *testing.T) {
	bothTransports(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil, txn.WithCommitOptions(txn.CommitOptions{ManagedLockTTL: 100 * time.Millisecond}))
		ctx := context.Background()
		t1 := p.beginPessimistic()
		lc := &txn.LockCtx{}
		mustLock(t, t1, lc, "pk")
		// The optimistic keys, prewritten as the commit would and
		// left there: client-go prewrites them through its committer.
		n := int(txnlock.DefaultLiteThreshold) + 4
		var muts []*kvrpcpb.Mutation
		var acts []kvrpcpb.PrewriteRequest_PessimisticAction
		for i := range n {
			muts = append(muts, &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: fmt.Appendf(nil, "optimisticLockKey%04d", i), Value: fmt.Appendf(nil, "v%d", i)})
			acts = append(acts, kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK)
		}
		plan := pipeline.Shard(p.env, prewriteSplit, pipeline.Retry(p.env, plans.KvPrewrite))
		_, err := plan(ctx, &kvrpcpb.PrewriteRequest{
			Mutations: muts, PrimaryLock: []byte("pk"), StartVersion: t1.StartTS(), ForUpdateTs: lc.ForUpdateTS,
			LockTtl: 100, TxnSize: uint64(n), MinCommitTs: lc.ForUpdateTS + 1, PessimisticActions: acts,
		})
		if err != nil {
			t.Fatalf("prewrite: %v", err)
		}
		mustLock(t, t1, lc, "pessimisticLockKey")
		if l := p.lockOf("pessimisticLockKey"); l == nil || l.LockType != kvrpcpb.Op_PessimisticLock || string(l.PrimaryLock) != "pk" {
			t.Fatalf("pessimisticLockKey: %v, want a pessimistic lock with primary pk", l)
		}
		optimistic := p.lockOf("optimisticLockKey0000")
		if optimistic == nil || optimistic.LockType != kvrpcpb.Op_Put || string(optimistic.PrimaryLock) != "pk" {
			t.Fatalf("optimisticLockKey0000: %v, want a prewrite lock with primary pk", optimistic)
		}
		// Stop T1's heartbeats without rolling anything back, then roll
		// back its primary alone.
		t1.KeepPessimisticLocks()
		_ = t1.Rollback()
		rb := pipeline.ShardEach(p.env, pipeline.ByKey(func(r *kvrpcpb.PessimisticRollbackRequest) []byte { return r.Keys[0] }),
			pipeline.Retry(p.env, plans.KvPessimisticRollback))
		if _, err := rb(ctx, &kvrpcpb.PessimisticRollbackRequest{StartVersion: t1.StartTS(), ForUpdateTs: lc.ForUpdateTS, Keys: [][]byte{[]byte("pk")}}); err != nil {
			t.Fatalf("pessimistic rollback of pk: %v", err)
		}
		if l := p.lockOf("pk"); l != nil {
			t.Fatalf("pk still locked: %v", l)
		}
		time.Sleep(150 * time.Millisecond) // the locks' TTLs pass
		p.log.reset()
		if _, err := p.client.Resolver().ResolveLocks(ctx, p.now(), []*kv.Lock{plans.LockFromInfo(optimistic)}); err != nil {
			t.Fatalf("resolve: %v", err)
		}
		whole := false
		for _, r := range p.log.requests() {
			if rl, ok := r.Msg.(*kvrpcpb.ResolveLockRequest); ok && len(rl.Keys) == 0 && rl.StartVersion == t1.StartTS() && rl.CommitVersion == 0 {
				whole = true
			}
		}
		if !whole {
			t.Fatalf("the resolver sent %v: no whole-region rollback of T1", p.log.take())
		}
		for _, k := range []string{"pessimisticLockKey", "optimisticLockKey0000", fmt.Sprintf("optimisticLockKey%04d", n-1)} {
			if l := p.lockOf(k); l != nil {
				t.Fatalf("%s still locked after the whole-region resolve: %v", k, l)
			}
		}
		t2 := p.beginPessimistic()
		mustLock(t, t2, &txn.LockCtx{Wait: txn.LockNoWait}, "pessimisticLockKey")
		_ = t2.Rollback()
		p.mustGet("optimisticLockKey0000", "")
	})
}

// TestPortDeleteAllYourWritesWithSFU ports client-go
// integration_tests/2pc_test.go TestDeleteAllYourWritesWithSFU: T1
// inserts and deletes a (nothing to write) and locks b and c (SELECT ...
// FOR UPDATE), each key in its own region. Its primary is b, a locked
// key, not the deleted insert: once b is committed (c's commit held), a
// writer of c meets c's lock, asks b for T1's status, finds it committed
// and commits. The original's T1 is optimistic (its locks are taken at
// prewrite); the pessimistic form locks b and c in TiKV first.
func TestPortDeleteAllYourWritesWithSFU(t *testing.T) {
	for _, pess := range []bool{false, true} {
		t.Run(fmt.Sprintf("pessimistic=%v", pess), func(t *testing.T) {
			bothTransports(t, func(t *testing.T, grpc bool) {
				p := newPortCluster(t, grpc, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("b"), []byte("c"), []byte("d"))})
				ctx := context.Background()
				gate := mocktikv.NewGate()
				t.Cleanup(gate.Open) // before the client's Close, which waits for c's commit
				p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Key: []byte("c"),
					Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(gate))}})
				var opts []txn.BeginOption
				if pess {
					opts = append(opts, txn.WithPessimistic())
				}
				t1 := p.begin(opts...)
				if err := t1.Insert([]byte("a"), []byte{0}); err != nil {
					t.Fatal(err)
				}
				if err := t1.Delete([]byte("a")); err != nil {
					t.Fatal(err)
				}
				mustLock(t, t1, nil, "b", "c")
				if err := t1.Commit(ctx); err != nil {
					t.Fatalf("T1 commit: %v", err)
				}
				if pr := t1.CommitDetails().Primary; string(pr) != "b" {
					t.Fatalf("T1's primary %q, want b", pr)
				}
				<-gate.Arrived()
				t2 := p.begin()
				if err := t2.Set([]byte("c"), []byte{33}); err != nil {
					t.Fatal(err)
				}
				p.log.reset()
				if err := t2.Commit(ctx); err != nil {
					t.Fatalf("T2 commit over T1's committed lock on c: %v", err)
				}
				var asked []string
				for _, r := range p.log.requests() {
					if cs, ok := r.Msg.(*kvrpcpb.CheckTxnStatusRequest); ok && cs.LockTs == t1.StartTS() {
						asked = append(asked, string(cs.PrimaryKey))
					}
				}
				if len(asked) == 0 || asked[0] != "b" {
					t.Fatalf("T2 asked T1's status at %q, want b", asked)
				}
				gate.Open()
				p.mustGet("a", "")
				p.mustGet("b", "")
				p.mustGet("c", "\x21")
			})
		})
	}
}

// checkTxnStatusSentToSecondary runs scenario S32 on p (keys k1, k2 in
// one region, k3 in the next; managed lock TTL managed). wait lets the
// stale locks' TTLs pass.
func checkTxnStatusSentToSecondary(t *testing.T, p *portCluster, managed time.Duration, wait func()) {
	ctx := context.Background()
	// X holds k3, so that T's first LockKeys fails there.
	x := p.beginPessimistic()
	mustLock(t, x, nil, "k3")

	tx := p.beginPessimistic()
	tx.KeepPessimisticLocks()
	// k3's lock request waits at a gate until k2's, sent alongside it
	// to the other region, has locked k2.
	gate := mocktikv.NewGate()
	t.Cleanup(gate.Open)
	p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPessimisticLock, Key: []byte("k3"),
		Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(gate))}})
	failed := make(chan error, 1)
	go func() {
		failed <- tx.LockKeys(ctx, &txn.LockCtx{Wait: txn.LockNoWait}, []byte("k1"), []byte("k2"), []byte("k3"))
	}()
	<-gate.Arrived()
	for deadline := time.Now().Add(5 * time.Second); p.lockOf("k2") == nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			gate.Open()
			t.Fatalf("k2 not locked in 5s (the first LockKeys returned %v)", <-failed)
		}
	}
	gate.Open()
	if err := <-failed; !isNoWait(err) {
		t.Fatalf("first LockKeys = %v, want a no-wait failure on k3", err)
	}
	for k, primary := range map[string]string{"k1": "k1", "k2": "k1"} {
		if l := p.lockOf(k); l == nil || l.LockVersion != tx.StartTS() || string(l.PrimaryLock) != primary {
			t.Fatalf("stale lock of %s = %v, want T's with primary %s", k, l, primary)
		}
	}

	_ = x.Rollback()
	mustLock(t, tx, &txn.LockCtx{Wait: 5 * time.Second}, "k3") // k3 becomes the primary
	mustLock(t, tx, nil, "k1")
	if l := p.lockOf("k1"); l == nil || string(l.PrimaryLock) != "k3" {
		t.Fatalf("k1's lock %v, want primary k3", l)
	}
	if l := p.lockOf("k2"); l == nil || string(l.PrimaryLock) != "k1" {
		t.Fatalf("k2's stale lock %v, want primary k1", l)
	}
	_ = tx.Set([]byte("k1"), []byte("v1-1"))
	_ = tx.Set([]byte("k3"), []byte("v3-1"))
	// The secondaries are never committed by T.
	secondaries := mocktikv.NewGate()
	t.Cleanup(secondaries.Open)
	p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Key: []byte("k1"),
		Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Block(secondaries))}})
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("T commit: %v", err)
	}
	if pr := tx.CommitDetails().Primary; string(pr) != "k3" {
		t.Fatalf("T's primary %q, want k3", pr)
	}
	<-secondaries.Arrived()
	wait()

	// k2's stale lock names k1, now a secondary of the committed T: its
	// resolution must not treat k1's lock as T's primary (and roll it
	// back), but roll back k2 alone.
	t2 := p.beginPessimistic()
	start := time.Now()
	mustLock(t, t2, &txn.LockCtx{Wait: 5 * time.Second}, "k2")
	if d := time.Since(start); d > managed+time.Second {
		t.Fatalf("T2 got k2 after %v: it waited for k1's lock", d)
	}
	_ = t2.Rollback()
	p.mustGet("k3", "v3-1")
	p.mustGet("k2", "")
	p.mustGet("k1", "v1-1")
	secondaries.Open()
}

// TestPortCheckTxnStatusSentToSecondary ports client-go
// integration_tests/lock_test.go TestCheckTxnStatusSentToSecondary
// (scenario S32): T's LockKeys(k1, k2, k3) fails on k3 and its pessimistic
// rollback is suppressed (Txn.KeepPessimisticLocks, the
// beforeAsyncPessimisticRollback failpoint), leaving stale locks on k1
// (primary) and k2 (primary k1). T then locks k3 (its new primary) and k1
// again (primary k3), writes k1 and k3 and commits, its secondary k1
// never committed. Another transaction locking k2 resolves the stale lock
// through k1: it must learn that k1 is not T's primary (TiKV's
// PrimaryMismatch) and roll k2 back alone. k3 and k1 then read T's
// values, k2 nothing. The original fails T's lock on a write conflict,
// which our LockKeys retries at a fresh for-update ts; here another
// transaction's lock on k3 fails a no-wait call. In-process in a synctest
// bubble waiting past every lock's TTL (a resolver taking k1 for the
// primary would then roll it back), over gRPC waiting past k2's TTL only
// (such a resolver would wait for k1's lock to expire).
func TestPortCheckTxnStatusSentToSecondary(t *testing.T) {
	split := []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("k3"))}
	t.Run("in-process", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := newPortCluster(t, false, split, txn.WithCommitOptions(txn.CommitOptions{ManagedLockTTL: 500 * time.Millisecond}))
			checkTxnStatusSentToSecondary(t, p, 500*time.Millisecond, func() { time.Sleep(4 * time.Second) })
		})
	})
	t.Run("grpc", func(t *testing.T) {
		p := newPortCluster(t, true, split, txn.WithCommitOptions(txn.CommitOptions{ManagedLockTTL: 500 * time.Millisecond}))
		checkTxnStatusSentToSecondary(t, p, 500*time.Millisecond, func() { time.Sleep(700 * time.Millisecond) })
	})
}
