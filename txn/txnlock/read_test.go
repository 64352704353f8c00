package txnlock_test

import (
	"slices"
	"sort"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/txnlock"
)

// TestResolveLocksForRead: a reader's classification of six locks:
// committed before the read (Committed), rolled back (Resolved), pushed
// past the reader (Resolved), async commit not expired (wait), async
// commit expired and all locked (Committed), committed after the read
// (Resolved). Ports client-go lock_test.go
// testLockSuite.TestResolveLocksForRead.
func TestResolveLocksForRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		var locks []*kv.Lock
		var wantResolved, wantCommitted []uint64
		lockKey := func(key, primary string, ttl uint64, commitPrimary, async bool) uint64 {
			start := f.ts()
			spec := txnSpec{primary: primary, keys: []string{primary, key}, ttlMs: ttl, minCommitTS: start + 1}
			if async {
				spec.async, spec.secondaries = true, []string{key}
			}
			f.prewrite(start, spec)
			if commitPrimary {
				f.commit(start, f.ts(), primary)
			}
			return start
		}

		// commit ts < read ts
		wantCommitted = append(wantCommitted, lockKey("k1", "k11", 3000, true, false))
		locks = append(locks, f.mustLock("k1"))
		// rolled back
		start := lockKey("k2", "k22", 3000, false, false)
		forced := f.mustLock("k22")
		forced.TTL = 0
		f.fresh().ResolveLocks(t.Context(), 0, []*kv.Lock{forced})
		wantResolved = append(wantResolved, start)
		locks = append(locks, f.mustLock("k2"))
		// pushed
		wantResolved = append(wantResolved, lockKey("k3", "k33", 3000, false, false))
		locks = append(locks, f.mustLock("k3"))
		// cannot be pushed (async commit) and not expired
		lockKey("k4", "k44", 3000, false, true)
		locks = append(locks, f.mustLock("k4"))
		// cannot be pushed but expired
		wantCommitted = append(wantCommitted, lockKey("k5", "k55", 1, false, true))
		locks = append(locks, f.mustLock("k5"))
		// commit ts > read ts
		start = f.ts()
		f.prewrite(start, txnSpec{primary: "k66", keys: []string{"k6", "k66"}, ttlMs: 3000, minCommitTS: start + 1})
		readTS := f.ts()
		f.commit(start, f.ts(), "k66")
		wantResolved = append(wantResolved, start)
		locks = append(locks, f.mustLock("k6"))

		time.Sleep(500 * time.Millisecond) // k5 expires
		res := f.resolve(readTS, txnlock.Options{ForRead: true}, locks...)
		if res.Live <= 0 {
			t.Fatalf("live %v, want k4's wait", res.Live)
		}
		if !slices.Equal(res.Resolved, wantResolved) || !slices.Equal(res.Committed, wantCommitted) {
			t.Fatalf("resolved %v committed %v, want %v and %v", res.Resolved, res.Committed, wantResolved, wantCommitted)
		}
	})
}

// TestWriterWaitsForPushedLock: a writer never reads past a live lock,
// pushed or not: it is told to wait (client-go's resolveLocks, !forRead).
func TestWriterWaitsForPushedLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		start := f.ts()
		f.prewrite(start, txnSpec{primary: "p", keys: []string{"p", "s"}, ttlMs: 3000, minCommitTS: start + 1})
		res := f.resolve(f.ts(), txnlock.Options{}, f.mustLock("s"))
		if res.Live <= 0 || res.Live > 3*time.Second {
			t.Fatalf("writer's result %+v, want a wait", res)
		}
	})
}

// TestBatchLiteResolveLocksByRegion: small txns' met keys are resolved in
// one key-list ResolveLock per region (two for a txn met on three keys in
// two regions, one for a single key); a large txn's lock is resolved
// region-wide (no keys); every lock is gone after. Ports client-go
// lock_test.go testLockSuite.TestBatchLiteResolveLocksByRegion (its write
// case; reads resolve inline here, see the report).
func TestBatchLiteResolveLocksByRegion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const threshold = 8
		f := newInProcess(t, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("multi_m"))}, txnlock.WithLiteThreshold(threshold))
		prepare := func(primary string, secondaries []string, size uint64) (uint64, uint64, []*kv.Lock) {
			start := f.ts()
			f.prewrite(start, txnSpec{primary: primary, keys: append([]string{primary}, secondaries...), ttlMs: 3000, txnSize: size})
			commit := f.ts()
			f.commit(start, commit, primary)
			var locks []*kv.Lock
			for _, k := range secondaries {
				locks = append(locks, f.mustLock(k))
			}
			return start, commit, locks
		}
		multiKeys := []string{"multi_a1", "multi_a2", "multi_z1"}
		multiTxn, multiCommit, multiLocks := prepare("multi_primary", multiKeys, threshold-1)
		singleTxn, singleCommit, singleLocks := prepare("single_primary", []string{"single_secondary"}, threshold-1)
		regionTxn, regionCommit, regionLocks := prepare("region_primary", []string{"region_secondary"}, threshold+1)
		f.rec.take(0)

		locks := slices.Concat(multiLocks, singleLocks, regionLocks)
		if res := f.resolve(0, txnlock.Options{}, locks...); res.Live != 0 {
			t.Fatalf("live %v", res.Live)
		}
		byTxn := map[uint64][]*kvrpcpb.ResolveLockRequest{}
		for _, m := range f.rec.take(transport.CmdResolveLock) {
			rl := m.(*kvrpcpb.ResolveLockRequest)
			byTxn[rl.StartVersion] = append(byTxn[rl.StartVersion], rl)
		}
		if len(byTxn) != 3 {
			t.Fatalf("ResolveLock for %d txns", len(byTxn))
		}
		var multiResolved []string
		for _, rl := range byTxn[multiTxn] {
			if rl.CommitVersion != multiCommit || len(rl.Keys) == 0 {
				t.Fatalf("multi-key txn: %v", rl)
			}
			for _, k := range rl.Keys {
				multiResolved = append(multiResolved, string(k))
			}
		}
		sort.Strings(multiResolved)
		if len(byTxn[multiTxn]) != 2 || !slices.Equal(multiResolved, multiKeys) {
			t.Fatalf("multi-key txn: %d requests for %v", len(byTxn[multiTxn]), multiResolved)
		}
		if rs := byTxn[singleTxn]; len(rs) != 1 || rs[0].CommitVersion != singleCommit || len(rs[0].Keys) != 1 || string(rs[0].Keys[0]) != "single_secondary" {
			t.Fatalf("single-key txn: %v", rs)
		}
		if rs := byTxn[regionTxn]; len(rs) != 1 || rs[0].CommitVersion != regionCommit || len(rs[0].Keys) != 0 {
			t.Fatalf("large txn: %v", rs)
		}
		for _, l := range locks {
			if f.lockOn(string(l.Key)) != nil {
				t.Fatalf("%q still locked", l.Key)
			}
		}
	})
}
