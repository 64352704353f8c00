package txn_test

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/txn"
)

// alphabetLocks builds client-go lock_test.go's putAlphabets and
// prepareAlphabetLocks: a..z committed with the letter as value, then
// leftover locks: c (value "c") a secondary of a transaction whose primary
// z1 is committed, after c = "cc" was committed; d ("dd") and foo locked by
// live transactions (primaries z2, z3 never written; TTL a minute, far
// beyond the test's deadline); bar committed and then deleted by a
// transaction whose primary z4 is committed.
func alphabetLocks(p *portCluster) {
	var pairs []string
	for ch := 'a'; ch <= 'z'; ch++ {
		pairs = append(pairs, string(ch), string(ch))
	}
	p.write(pairs...)
	p.write("c", "cc")
	start := p.lockMin(time.Minute, "z1", "z1", "c", "c")
	p.commitKeys(start, [][]byte{[]byte("z1")})
	p.lockMin(time.Minute, "z2", "z2", "d", "dd")
	p.lockMin(time.Minute, "z3", "z3", "foo", "foo")
	p.write("bar", "bar")
	start = p.lockMin(time.Minute, "z4", "z4", "bar", "")
	p.commitKeys(start, [][]byte{[]byte("z4")})
}

// alphabetCluster is the cluster of the TestScanLockResolveWith* ports,
// its regions split inside the alphabet so reads cross regions.
func alphabetCluster(t *testing.T) *portCluster {
	p := newPortCluster(t, false, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("b"), []byte("d"), []byte("m"))})
	alphabetLocks(p)
	return p
}

// shortCtx bounds a read far below the leftover locks' TTL: a read that
// waited for one to expire fails with the deadline.
func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestPortScanLockResolveWithGet ports client-go
// integration_tests/lock_test.go TestScanLockResolveWithGet (scenario S09):
// point reads resolve the committed transaction's secondary (c reads "c")
// and pass the live locks without waiting for them (d reads its old "d").
func TestPortScanLockResolveWithGet(t *testing.T) {
	p := alphabetCluster(t)
	ctx := shortCtx(t)
	tx := p.begin()
	for ch := 'a'; ch <= 'z'; ch++ {
		v, err := tx.Get(ctx, []byte{byte(ch)})
		if err != nil || string(v) != string(ch) {
			t.Fatalf("%c = %q, %v", ch, v, err)
		}
	}
	if _, err := tx.Get(ctx, []byte("bar")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("bar (deleted by a committed txn) = %v, want not found", err)
	}
}

// scanAlphabet reads the first 26 pairs of an Iter from "a" and checks
// they are a..z with the letters as values (empty values when keyOnly).
func scanAlphabet(t *testing.T, seq func(func(kv.KeyValue, error) bool), keyOnly bool) {
	t.Helper()
	ch := byte('a')
	for pair, err := range seq {
		if err != nil {
			t.Fatalf("scan at %c: %v", ch, err)
		}
		want := string(ch)
		if keyOnly {
			want = ""
		}
		if string(pair.Key) != string(ch) || string(pair.Value) != want {
			t.Fatalf("pair %q=%q, want %c=%q", pair.Key, pair.Value, ch, want)
		}
		if ch == 'z' {
			return
		}
		ch++
	}
	t.Fatalf("scan ended before %c", ch)
}

// TestPortScanLockResolveWithSeek ports client-go
// integration_tests/lock_test.go TestScanLockResolveWithSeek (scenario S09):
// the same leftover locks met by a scan.
func TestPortScanLockResolveWithSeek(t *testing.T) {
	p := alphabetCluster(t)
	ctx := shortCtx(t)
	scanAlphabet(t, p.begin().Iter(ctx, []byte("a"), nil), false)
}

// TestPortScanLockResolveWithSeekKeyOnly ports client-go
// integration_tests/lock_test.go TestScanLockResolveWithSeekKeyOnly
// (scenario S09): a key-only scan still checks and resolves the locks.
func TestPortScanLockResolveWithSeekKeyOnly(t *testing.T) {
	p := alphabetCluster(t)
	ctx := shortCtx(t)
	tx := p.begin(txn.WithTxnSnapshotOptions(txn.WithKeyOnly()))
	scanAlphabet(t, tx.Iter(ctx, []byte("a"), nil), true)
}

// TestPortScanLockResolveWithBatchGet ports client-go
// integration_tests/lock_test.go TestScanLockResolveWithBatchGet (scenario
// S09).
func TestPortScanLockResolveWithBatchGet(t *testing.T) {
	p := alphabetCluster(t)
	ctx := shortCtx(t)
	var keys [][]byte
	for ch := byte('a'); ch <= 'z'; ch++ {
		keys = append(keys, []byte{ch})
	}
	vals, err := p.begin().BatchGet(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if string(v) != string(keys[i]) {
			t.Fatalf("%s = %q", keys[i], v)
		}
	}
}

// TestPortGetTxnStatus ports client-go integration_tests/lock_test.go
// TestGetTxnStatus (scenario S20) with the transaction committed through a
// Txn: the client's resolver reports it committed at the Txn's commit ts;
// a transaction committed by its primary only is committed too; a live one
// is not, with a TTL, and a status check from a later reader pushes its
// min commit ts instead of rolling it back.
func TestPortGetTxnStatus(t *testing.T) {
	p := newPortCluster(t, false, nil)
	ctx := t.Context()
	r := p.client.Resolver()
	tx := p.commit("a", "a")
	st, err := r.GetTxnStatus(ctx, tx.StartTS(), []byte("a"), tx.StartTS(), p.now(), false)
	if err != nil || !st.IsCommitted() || st.CommitTS != tx.CommitTS() {
		t.Fatalf("committed txn: %v, %v; want committed at %d", st, err, tx.CommitTS())
	}

	start := p.lockMin(3*time.Second, "a", "a")
	commit := p.commitKeys(start, [][]byte{[]byte("a")})
	st, err = r.GetTxnStatus(ctx, start, []byte("a"), start, p.now(), false)
	if err != nil || !st.IsCommitted() || st.CommitTS != commit {
		t.Fatalf("primary-committed txn: %v, %v; want committed at %d", st, err, commit)
	}

	start = p.lockMin(3*time.Second, "a", "a")
	st, err = r.GetTxnStatus(ctx, start, []byte("a"), start, p.now(), false)
	if err != nil || st.IsDetermined() || st.TTL <= 0 {
		t.Fatalf("live txn: %v, %v; want undetermined with a TTL", st, err)
	}
	st, err = r.GetTxnStatus(ctx, start, []byte("a"), p.now(), p.now(), false)
	if err != nil || st.IsDetermined() || st.Action != kvrpcpb.Action_MinCommitTSPushed {
		t.Fatalf("live txn checked by a later reader: %v, %v; want min commit ts pushed", st, err)
	}
}

// heartbeat sends one KvTxnHeartBeat for the primary of startTS and
// returns the TTL TiKV reports.
func heartbeat(p *portCluster, primary string, startTS uint64, ttl time.Duration) (uint64, error) {
	plan := pipeline.Single(pipeline.Shard(p.env,
		pipeline.ByKey(func(r *kvrpcpb.TxnHeartBeatRequest) []byte { return r.PrimaryLock }),
		pipeline.Retry(p.env, plans.KvTxnHeartBeat)))
	resp, err := plan(context.Background(), &kvrpcpb.TxnHeartBeatRequest{
		PrimaryLock: []byte(primary), StartVersion: startTS, AdviseLockTtl: uint64(ttl.Milliseconds()),
	})
	if err != nil {
		return 0, err
	}
	return resp.GetLockTtl(), nil
}

// TestPortTxnHeartBeat ports client-go integration_tests/lock_test.go
// TestTxnHeartBeat (scenario S21): a heartbeat only extends the primary's
// TTL (6666 ms, then 5555 ms leaves 6666); once the transaction is rolled
// back by a forced resolution (the resolver's status check at the largest
// current ts, which expires any lock), a heartbeat fails.
func TestPortTxnHeartBeat(t *testing.T) {
	p := newPortCluster(t, false, nil)
	ctx := t.Context()
	start := p.lockMin(3*time.Second, "key", "value")
	for _, c := range []struct {
		advise time.Duration
		want   uint64
	}{{6666 * time.Millisecond, 6666}, {5555 * time.Millisecond, 6666}} {
		ttl, err := heartbeat(p, "key", start, c.advise)
		if err != nil || ttl != c.want {
			t.Fatalf("heartbeat %v: ttl %d, %v; want %d", c.advise, ttl, err, c.want)
		}
	}
	st, err := p.client.Resolver().GetTxnStatus(ctx, start, []byte("key"), 0, math.MaxUint64, true)
	if err != nil || !st.IsRolledBack() {
		t.Fatalf("forced status check: %v, %v; want rolled back", st, err)
	}
	if ttl, err := heartbeat(p, "key", start, 6666*time.Millisecond); err == nil || ttl != 0 {
		t.Fatalf("heartbeat after rollback: ttl %d, %v; want an error", ttl, err)
	}
}

// TestPortBatchResolveLocks ports the optimistic part of client-go
// integration_tests/lock_test.go TestBatchResolveLocks (scenario S22): a
// GC-style sweep settles every lock below a safe point whatever its TTL,
// each as its transaction ended: a live transaction (k1, k2; TTL a minute)
// is rolled back, a transaction whose primary k3 is committed has its
// secondary k4 committed, and an async-commit transaction whose keys (k5,
// k6) are all prewritten is committed (its secondaries prove it). The
// sweep is the resolver's BatchResolveLocks over the scanned locks.
func TestPortBatchResolveLocks(t *testing.T) {
	p := newPortCluster(t, false, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("k3"), []byte("k6"))})
	ctx := t.Context()
	p.lockMin(time.Minute, "k1", "v1", "k2", "v2")
	start := p.lockMin(time.Minute, "k3", "v3", "k4", "v4")
	p.commitKeys(start, [][]byte{[]byte("k3")})
	p.lockAsync(time.Minute, "k5", "v5", "k6", "v6")

	safePoint := p.now()
	var locks []*kv.Lock
	for _, li := range scanLocks(t, p.cluster, safePoint) {
		locks = append(locks, plans.LockFromInfo(li))
	}
	if len(locks) != 5 {
		t.Fatalf("scanned %d locks, want k1, k2, k4, k5, k6", len(locks))
	}
	if err := p.client.Resolver().BatchResolveLocks(ctx, locks); err != nil {
		t.Fatal(err)
	}
	if locks := scanLocks(t, p.cluster, p.now()); len(locks) != 0 {
		t.Fatalf("locks left after the sweep: %v", locks)
	}
	p.mustGet("k1", "")
	p.mustGet("k2", "")
	p.mustGet("k3", "v3")
	p.mustGet("k4", "v4")
	p.mustGet("k5", "v5")
	p.mustGet("k6", "v6")
}

// TestPortCleanLockThroughTxn ports client-go
// integration_tests/lock_test.go TestCleanLock (scenario S18) through the
// public Txn: each of 26 keys is locked by its own uncommitted transaction
// (itself the primary, TTL 300 ms); a transaction writing all 26 waits for
// the locks to expire, rolls them back and commits.
func TestPortCleanLockThroughTxn(t *testing.T) {
	p := newPortCluster(t, false, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("h"), []byte("p"))})
	ctx := shortCtx(t)
	for ch := byte('a'); ch <= 'z'; ch++ {
		p.lockMin(300*time.Millisecond, string(ch), "locked")
	}
	tx := p.begin()
	for ch := byte('a'); ch <= 'z'; ch++ {
		_ = tx.Set([]byte{ch}, []byte{ch, ch})
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for ch := byte('a'); ch <= 'z'; ch++ {
		p.mustGet(string(ch), string([]byte{ch, ch}))
	}
}

// TestPortWritersResolveAbandonedLocks covers client-go lock_test.go's
// resolution by writers (TestCleanLock, TestPrewriteEncountersLargerTsLock's
// companions) with concurrent writers: two transactions were abandoned
// mid-commit, one after committing its primary (its secondary c = "20"
// still locked), one before (its lock on d, TTL 300 ms, never committed).
// Workers increment c and d with Update; their prewrites meet the locks,
// commit the first transaction's and roll back the second's; every
// increment lands exactly once on top of that.
func TestPortWritersResolveAbandonedLocks(t *testing.T) {
	p := newPortCluster(t, false, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("d"), []byte("p"))})
	p.write("c", "10", "d", "0") // all keys committed before the raw prewrites below
	start := p.lockMin(time.Minute, "p1", "x", "c", "20")
	p.commitKeys(start, [][]byte{[]byte("p1")})
	p.lockMin(300*time.Millisecond, "p2", "x", "d", "99")

	const workers, each = 3, 3
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				err := p.client.Update(context.Background(), func(ctx context.Context, tx *txn.Txn) error {
					for _, k := range []string{"c", "d"} {
						v, err := tx.Get(ctx, []byte(k))
						if err != nil {
							return err
						}
						n, err := strconv.Atoi(string(v))
						if err != nil {
							return err
						}
						if err := tx.Set([]byte(k), []byte(strconv.Itoa(n+1))); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	p.mustGet("c", strconv.Itoa(20+workers*each))
	p.mustGet("d", strconv.Itoa(workers*each))
	// The last transactions' secondaries (and the readers' cleanup of
	// the abandoned locks) finish in the background: wait until no lock is
	// left, failing if one stays.
	deadline := time.Now().Add(5 * time.Second)
	for {
		locks := scanLocks(t, p.cluster, p.now())
		if len(locks) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("locks left: %v", locks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
