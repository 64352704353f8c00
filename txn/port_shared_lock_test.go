package txn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
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

// Shared locks (LockCtx.InShareMode), ported from client-go's
// integration_tests/shared_lock_test.go (testSharedLockSuite) and the
// shared-lock cases of txnkv/transaction/txn_test.go, run over both
// transports against mocktikv's SharedLocks.
//
// One difference runs through them: client-go's LockKeys returns the write
// conflict TiKV answers a woken lock request with (TiDB retries the
// statement), so its tests expect an error once a blocked lock is
// released; our LockKeys locks again at a fresh for-update ts, so ours
// expect the lock to be taken, and check that it was not before the
// release.

// shareMode is the LockCtx of a share-mode lock that waits as long as the
// call's ctx lasts.
func shareMode() *txn.LockCtx { return &txn.LockCtx{InShareMode: true} }

// beginWithPrimary starts a pessimistic transaction and locks pk
// exclusively, making it the primary (a shared-locked key never is one).
func (p *portCluster) beginWithPrimary(pk string, opts ...txn.BeginOption) *txn.Txn {
	p.t.Helper()
	tx := p.beginPessimistic(opts...)
	mustLock(p.t, tx, nil, pk)
	if l := p.lockOf(pk); l == nil || l.LockType != kvrpcpb.Op_PessimisticLock || !bytes.Equal(l.PrimaryLock, []byte(pk)) {
		p.t.Fatalf("lock of %q = %v, want txn %d's pessimistic primary", pk, l, tx.StartTS())
	}
	return tx
}

// locksOn scans key's locks at or below maxTS, a shared lock as its
// holders' locks (plans.LocksFromInfo; client-go's StoreProbe.ScanLocks
// expands them the same way).
func (p *portCluster) locksOn(key string, maxTS uint64) []*kv.Lock {
	p.t.Helper()
	plan := pipeline.Single(pipeline.Shard(p.env, pipeline.ByKey(func(r *kvrpcpb.ScanLockRequest) []byte { return r.StartKey }),
		pipeline.Retry(p.env, plans.KvScanLock)))
	resp, err := plan(context.Background(), &kvrpcpb.ScanLockRequest{StartKey: []byte(key), EndKey: append([]byte(key), 0), MaxVersion: maxTS})
	if err != nil {
		p.t.Fatalf("scan lock %q: %v", key, err)
	}
	var out []*kv.Lock
	for _, li := range resp.Locks {
		out = append(out, plans.LocksFromInfo(li)...)
	}
	return out
}

// waitLocks waits until key holds n locks (some are released by the
// client's background work: the commit of secondaries, rollbacks) and
// returns them; it fails the test after 5 s.
func (p *portCluster) waitLocks(key string, n int) []*kv.Lock {
	p.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		locks := p.locksOn(key, math.MaxUint64)
		if len(locks) == n {
			return locks
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%q holds %d locks (%v), want %d", key, len(locks), locks, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lockSent reports whether the transaction startTS sent at least n lock
// requests for key.
func (p *portCluster) lockSent(startTS uint64, key string, n int) bool {
	sent := 0
	for _, r := range p.log.lockRequests() {
		if r.StartVersion != startTS {
			continue
		}
		for _, m := range r.Mutations {
			if string(m.Key) == key {
				sent++
			}
		}
	}
	return sent >= n
}

// holders returns the start ts of locks.
func holders(locks []*kv.Lock) []uint64 {
	out := make([]uint64, len(locks))
	for i, l := range locks {
		out[i] = l.StartTS
	}
	return out
}

// end commits or rolls back tx.
func end(t *testing.T, tx *txn.Txn, commit bool) {
	t.Helper()
	var err error
	if commit {
		err = tx.Commit(context.Background())
	} else {
		err = tx.Rollback()
	}
	if err != nil {
		t.Fatalf("end txn %d (commit %v): %v", tx.StartTS(), commit, err)
	}
}

// lockAsync runs a LockKeys in the background; its result arrives on the
// channel.
func lockAsync(tx *txn.Txn, lc *txn.LockCtx, key string) <-chan error {
	done := make(chan error, 1)
	go func() { done <- tx.LockKeys(context.Background(), lc, []byte(key)) }()
	return done
}

// TestPortSharedLockBlockExclusiveLock ports client-go's
// TestSharedLockBlockExclusiveLock (integration_tests/shared_lock_test.go):
// T1 and T2 both lock a key in share mode (each after its exclusive
// primary; T2's buffer marks the key locked in share mode); T3's
// exclusive lock of the key blocks until both committed (or rolled back),
// then takes it.
func TestPortSharedLockBlockExclusiveLock(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		for _, commit := range []bool{true, false} {
			t.Run(fmt.Sprintf("commit=%v", commit), func(t *testing.T) {
				p := newPortCluster(t, grpc, nil)
				const key = "shared_key"
				t1 := p.beginWithPrimary("pk1")
				mustLock(t, t1, shareMode(), key)
				t2 := p.beginWithPrimary("pk2")
				mustLock(t, t2, shareMode(), key)
				if f, _ := t2.MemBuffer().GetFlags([]byte(key)); !f.HasLocked() || !f.HasLockedInShareMode() {
					t.Fatalf("t2's flags of %q = %b, want locked in share mode", key, f)
				}
				if got := holders(p.locksOn(key, math.MaxUint64)); len(got) != 2 {
					t.Fatalf("holders of %q = %v, want t1 and t2", key, got)
				}

				t3 := p.beginWithPrimary("pk3")
				done := lockAsync(t3, nil, key)
				// T3's first request fails at once (TiKV makes the shared
				// lock shrink-only); the second waits in TiKV.
				for !p.lockSent(t3.StartTS(), key, 2) {
					time.Sleep(time.Millisecond)
				}
				select {
				case err := <-done:
					t.Fatalf("t3's exclusive lock returned (%v) while t1 and t2 hold the shared lock", err)
				default:
				}
				end(t, t1, commit)
				select {
				case err := <-done:
					t.Fatalf("t3's exclusive lock returned (%v) while t2 holds the shared lock", err)
				case <-time.After(50 * time.Millisecond):
				}
				end(t, t2, commit)
				if err := <-done; err != nil {
					t.Fatalf("t3's exclusive lock after release: %v", err)
				}
				locks := p.locksOn(key, math.MaxUint64)
				if len(locks) != 1 || locks[0].StartTS != t3.StartTS() || locks[0].Type != kvrpcpb.Op_PessimisticLock {
					t.Fatalf("locks of %q = %v, want t3's pessimistic lock", key, locks)
				}
				end(t, t3, false)
			})
		}
	})
}

// TestPortExclusiveLockBlockSharedLock ports client-go's
// TestExclusiveLockBlockSharedLock (integration_tests/shared_lock_test.go):
// with T1 holding a key exclusively, the share-mode locks of T2 and T3
// block until T1 commits (or rolls back), then both take the shared lock.
func TestPortExclusiveLockBlockSharedLock(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		for _, commit := range []bool{true, false} {
			t.Run(fmt.Sprintf("commit=%v", commit), func(t *testing.T) {
				p := newPortCluster(t, grpc, nil)
				const key = "shared_key"
				t1 := p.beginWithPrimary("pk1")
				mustLock(t, t1, nil, key)
				t2 := p.beginWithPrimary("pk2")
				t3 := p.beginWithPrimary("pk3")
				done2 := lockAsync(t2, shareMode(), key)
				done3 := lockAsync(t3, shareMode(), key)
				for !p.lockSent(t2.StartTS(), key, 1) || !p.lockSent(t3.StartTS(), key, 1) {
					time.Sleep(time.Millisecond)
				}
				time.Sleep(50 * time.Millisecond) // let both reach TiKV's wait queue
				for i, done := range []<-chan error{done2, done3} {
					select {
					case err := <-done:
						t.Fatalf("t%d's shared lock returned (%v) while t1 holds the key exclusively", i+2, err)
					default:
					}
				}
				end(t, t1, commit)
				for i, done := range []<-chan error{done2, done3} {
					if err := <-done; err != nil {
						t.Fatalf("t%d's shared lock after release: %v", i+2, err)
					}
				}
				got := holders(p.waitLocks(key, 2))
				if got[0] != t2.StartTS() || got[1] != t3.StartTS() {
					t.Fatalf("holders of %q = %v, want t2 %d and t3 %d", key, got, t2.StartTS(), t3.StartTS())
				}
				end(t, t2, false)
				end(t, t3, false)
				p.waitLocks(key, 0)
			})
		}
	})
}

// TestPortResolveSharedLock ports client-go's TestResolveSharedLock
// (integration_tests/shared_lock_test.go): T1 commits with a key locked in
// share mode in another region, whose commit is held back (client-go's
// beforeCommitSecondaries failpoint; here a held KvCommit), leaving a
// prewritten shared sub-lock (Op_Lock, primary pk). T2 then locks the key
// exclusively: it meets the shared lock, resolves T1's holder (committed)
// and takes the key.
func TestPortResolveSharedLock(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		const pk, key = "pk", "shared_key"
		for _, k := range []string{pk, key} {
			if _, err := p.mock.SplitTxn([]byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		gate := mocktikv.NewGate()
		defer gate.Open() // let the held commit of T1's secondary end before the client closes
		held := p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Key: []byte(key), Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Block(gate))}})
		defer held.Remove()

		t1 := p.beginWithPrimary(pk)
		mustLock(t, t1, shareMode(), key)
		end(t, t1, true)
		locks := p.locksOn(key, math.MaxUint64)
		if len(locks) != 1 {
			t.Fatalf("locks of %q = %v, want t1's prewritten shared lock", key, locks)
		}
		if l := locks[0]; !bytes.Equal(l.Key, []byte(key)) || !bytes.Equal(l.Primary, []byte(pk)) || l.StartTS != t1.StartTS() || l.Type != kvrpcpb.Op_Lock {
			t.Fatalf("lock of %q = %v, want t1's Op_Lock with primary %q", key, l, pk)
		}

		t2 := p.beginWithPrimary(pk)
		mustLock(t, t2, nil, key)
		locks = p.locksOn(key, math.MaxUint64)
		if len(locks) != 1 || locks[0].StartTS != t2.StartTS() || locks[0].Type != kvrpcpb.Op_PessimisticLock || !bytes.Equal(locks[0].Primary, []byte(pk)) {
			t.Fatalf("locks of %q = %v, want t2's pessimistic lock", key, locks)
		}
		end(t, t2, false)
		p.waitLocks(key, 0)
	})
}

// TestPortScanSharedLock ports client-go's TestScanSharedLock
// (integration_tests/shared_lock_test.go): three transactions lock a key
// in share mode; a lock scan at max version v reports the holders that
// started at or before v, each as its own lock of the key.
func TestPortScanSharedLock(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		const key = "shared_key"
		var txns []*txn.Txn
		for i := 1; i <= 3; i++ {
			tx := p.beginWithPrimary(fmt.Sprintf("pk_%d", i))
			mustLock(t, tx, shareMode(), key)
			txns = append(txns, tx)
		}
		want := map[uint64]int{
			txns[0].StartTS() - 1: 0,
			txns[0].StartTS():     1,
			txns[1].StartTS():     2,
			txns[2].StartTS():     3,
		}
		for maxTS, n := range want {
			locks := p.locksOn(key, maxTS)
			if len(locks) != n {
				t.Fatalf("scan at %d: %d locks (%v), want %d", maxTS, len(locks), locks, n)
			}
			for _, l := range locks {
				if !bytes.Equal(l.Key, []byte(key)) || l.StartTS > maxTS || l.IsShared() {
					t.Fatalf("scan at %d: lock %v", maxTS, l)
				}
			}
		}
		for _, tx := range txns {
			end(t, tx, false)
		}
		p.waitLocks(key, 0)
	})
}

// TestPortGCSharedLock ports client-go's TestGCSharedLock
// (integration_tests/shared_lock_test.go): of three holders of a shared
// lock, two stop their heartbeats (client-go closes their TTL managers;
// here their client is closed) and their locks expire; resolving the
// three holders' locks rolls back the two expired ones and leaves the
// live one's.
func TestPortGCSharedLock(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		const key = "shared_key"
		short := txn.NewClient(p.cluster, txn.WithCommitOptions(txn.CommitOptions{ManagedLockTTL: 500 * time.Millisecond}))
		var expiring []*txn.Txn
		for i := 1; i <= 2; i++ {
			tx, err := short.Begin(context.Background(), txn.WithPessimistic())
			if err != nil {
				t.Fatal(err)
			}
			mustLock(t, tx, nil, fmt.Sprintf("pk%d", i))
			mustLock(t, tx, shareMode(), key)
			expiring = append(expiring, tx)
		}
		t3 := p.beginWithPrimary("pk3")
		mustLock(t, t3, shareMode(), key)
		locks := p.waitLocks(key, 3)
		for _, l := range locks {
			if l.Type != kvrpcpb.Op_PessimisticLock || !bytes.Equal(l.Key, []byte(key)) {
				t.Fatalf("lock %v, want a pessimistic shared holder of %q", l, key)
			}
		}
		// Stop the heartbeats of T1 and T2, and wait for their primaries
		// to expire as TiKV judges it (from the start ts's physical time).
		if err := short.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 2; i++ {
			l := p.lockOf(fmt.Sprintf("pk%d", i))
			time.Sleep(time.Until(time.UnixMilli(int64(l.LockVersion>>18)+int64(l.LockTtl))) + 50*time.Millisecond)
		}

		if n := len(p.locksOn(key, math.MaxUint64)); n != 3 {
			t.Fatalf("%q holds %d locks before the resolution, want 3", key, n)
		}
		// Live is not checked: client-go's result (TTL 0) is the smallest
		// wait of the locks it did not remove, and the expired holders'
		// count as zero there, as here.
		if _, err := p.client.Resolver().ResolveLocks(context.Background(), 0, locks); err != nil {
			t.Fatalf("resolve the holders' locks: %v", err)
		}
		left := p.waitLocks(key, 1)
		if left[0].StartTS != t3.StartTS() {
			t.Fatalf("lock left on %q: %v, want t3's (%d)", key, left[0], t3.StartTS())
		}
		end(t, t3, false)
		p.waitLocks(key, 0)
	})
}

// TestPortSharedLockCommitAndRollback ports client-go's
// TestSharedLockCommitAndRollback (integration_tests/shared_lock_test.go):
// three holders of a shared lock commit (or roll back) one by one; each
// end removes that holder's lock only, and the last one's removes the
// shared lock.
func TestPortSharedLockCommitAndRollback(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		for _, commit := range []bool{true, false} {
			t.Run(fmt.Sprintf("commit=%v", commit), func(t *testing.T) {
				p := newPortCluster(t, grpc, nil)
				const key = "shared_key"
				var txns []*txn.Txn
				for i := 1; i <= 3; i++ {
					txns = append(txns, p.beginWithPrimary(fmt.Sprintf("pk%d", i)))
				}
				for _, tx := range txns {
					mustLock(t, tx, shareMode(), key)
				}
				p.waitLocks(key, 3)
				for i, tx := range txns {
					end(t, tx, commit)
					left := p.waitLocks(key, 2-i)
					for _, l := range left {
						if l.StartTS == tx.StartTS() || !bytes.Equal(l.Key, []byte(key)) {
							t.Fatalf("after txn %d ended: lock %v left", i+1, l)
						}
					}
				}
				if commit {
					// A shared lock commits no value.
					p.mustGet(key, "")
				}
			})
		}
	})
}

// TestPortPrewriteResolveExpiredSharedLock ports client-go's
// TestPrewriteResolveExpiredSharedLock (integration_tests/shared_lock_test.go):
// T1's shared lock expires (its heartbeats stopped); an optimistic T2
// writing the key meets it at prewrite, resolves the expired holder and
// commits; the value is readable and no lock is left.
func TestPortPrewriteResolveExpiredSharedLock(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		const pk, key = "pk", "key"
		short := txn.NewClient(p.cluster, txn.WithCommitOptions(txn.CommitOptions{ManagedLockTTL: 500 * time.Millisecond}))
		t1, err := short.Begin(context.Background(), txn.WithPessimistic())
		if err != nil {
			t.Fatal(err)
		}
		mustLock(t, t1, nil, pk)
		mustLock(t, t1, shareMode(), key)
		p.waitLocks(key, 1)
		if err := short.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		l := p.lockOf(pk)
		time.Sleep(time.Until(time.UnixMilli(int64(l.LockVersion>>18)+int64(l.LockTtl))) + 50*time.Millisecond)
		if locks := p.locksOn(key, math.MaxUint64); len(locks) != 1 || locks[0].StartTS != t1.StartTS() {
			t.Fatalf("locks of %q = %v, want t1's expired shared lock", key, locks)
		}

		t2 := p.begin()
		if err := t2.Set([]byte(key), []byte("value_from_txn2")); err != nil {
			t.Fatal(err)
		}
		if err := t2.Commit(context.Background()); err != nil {
			t.Fatalf("optimistic commit over an expired shared lock: %v", err)
		}
		if t2.CommitDetails().LocksMet == 0 {
			t.Fatal("t2's prewrite met no lock")
		}
		v, err := p.client.Snapshot(t2.CommitTS()).Get(context.Background(), []byte(key))
		if err != nil || string(v) != "value_from_txn2" {
			t.Fatalf("read at t2's commit ts = %q, %v", v, err)
		}
		p.waitLocks(key, 0)
	})
}

// TestPortLockKeysShareMode ports the shared-lock variants of client-go's
// TestLockKeys (txnkv/transaction/txn_test.go), with the requests sent
// checked against mocktikv instead of a scripted client:
//   - OptimisticExclusive: an optimistic LockKeys sends nothing and marks
//     the key locked, not in share mode;
//   - OptimisticShared: client-go silently locks exclusively; ours refuses
//     share mode with ErrSharedLockOptimistic;
//   - PessimisticExclusive: one Op_PessimisticLock mutation, the flags say
//     exclusive;
//   - PessimisticShared: share mode before any exclusive lock fails with
//     ErrSharedLockNoPrimary (nothing sent); after an exclusive lock of k2
//     it sends Op_SharedPessimisticLock and marks k1 locked in share mode;
//   - PessimisticSharedRejectsPipelinedTxn: a pipelined transaction
//     refuses it (*txn.PipelinedUnsupportedError), sending nothing;
//   - UpgradeSharedToExclusive: an exclusive LockKeys of a key locked in
//     share mode fails with ErrSharedLockUpgrade, sends nothing, and the
//     transaction stays usable.
//
// PessimisticSharedRejectsAggressiveLocking is not ported: aggressive
// locking (txn-D6) is not in this tree.
func TestPortLockKeysShareMode(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		lockOps := func(startTS uint64) []kvrpcpb.Op {
			var ops []kvrpcpb.Op
			for _, r := range p.log.lockRequests() {
				if r.StartVersion == startTS {
					for _, m := range r.Mutations {
						ops = append(ops, m.Op)
					}
				}
			}
			return ops
		}
		flags := func(tx *txn.Txn, key string) (locked, shared bool) {
			f, _ := tx.MemBuffer().GetFlags([]byte(key))
			return f.HasLocked(), f.HasLockedInShareMode()
		}

		t.Run("OptimisticExclusive", func(t *testing.T) {
			tx := p.begin()
			mustLock(t, tx, nil, "k")
			if locked, shared := flags(tx, "k"); !locked || shared {
				t.Fatalf("flags: locked %v, shared %v", locked, shared)
			}
			if ops := lockOps(tx.StartTS()); len(ops) != 0 {
				t.Fatalf("optimistic LockKeys sent %v", ops)
			}
		})
		t.Run("OptimisticShared", func(t *testing.T) {
			tx := p.begin()
			err := tx.LockKeys(context.Background(), shareMode(), []byte("k"))
			if !errors.Is(err, txn.ErrSharedLockOptimistic) || !errors.Is(err, kv.ErrInvalidArgument) {
				t.Fatalf("optimistic share-mode LockKeys = %v, want ErrSharedLockOptimistic", err)
			}
			if locked, _ := flags(tx, "k"); locked {
				t.Fatal("the refused key is marked locked")
			}
		})
		t.Run("PessimisticExclusive", func(t *testing.T) {
			tx := p.beginPessimistic()
			mustLock(t, tx, &txn.LockCtx{Wait: txn.LockNoWait}, "k")
			if ops := lockOps(tx.StartTS()); len(ops) != 1 || ops[0] != kvrpcpb.Op_PessimisticLock {
				t.Fatalf("lock mutations %v, want [PessimisticLock]", ops)
			}
			if locked, shared := flags(tx, "k"); !locked || shared {
				t.Fatalf("flags: locked %v, shared %v", locked, shared)
			}
			end(t, tx, false)
		})
		t.Run("PessimisticShared", func(t *testing.T) {
			tx := p.beginPessimistic()
			lc := &txn.LockCtx{Wait: txn.LockNoWait, InShareMode: true}
			if err := tx.LockKeys(context.Background(), lc, []byte("k1")); !errors.Is(err, txn.ErrSharedLockNoPrimary) {
				t.Fatalf("share-mode LockKeys without a primary = %v, want ErrSharedLockNoPrimary", err)
			}
			if ops := lockOps(tx.StartTS()); len(ops) != 0 {
				t.Fatalf("the refused LockKeys sent %v", ops)
			}
			mustLock(t, tx, &txn.LockCtx{Wait: txn.LockNoWait}, "k2")
			mustLock(t, tx, lc, "k1")
			if ops := lockOps(tx.StartTS()); len(ops) != 2 || ops[0] != kvrpcpb.Op_PessimisticLock || ops[1] != kvrpcpb.Op_SharedPessimisticLock {
				t.Fatalf("lock mutations %v, want [PessimisticLock SharedPessimisticLock]", ops)
			}
			if locked, shared := flags(tx, "k1"); !locked || !shared {
				t.Fatalf("k1 flags: locked %v, shared %v", locked, shared)
			}
			if l := p.lockOf("k1"); l == nil || l.LockType != kvrpcpb.Op_SharedLock || len(l.SharedLockInfos) != 1 || l.SharedLockInfos[0].LockVersion != tx.StartTS() {
				t.Fatalf("TiKV's lock of k1 = %v, want a shared lock held by %d", l, tx.StartTS())
			}
			end(t, tx, false)
			p.waitLocks("k1", 0)
		})
		t.Run("PessimisticSharedRejectsPipelinedTxn", func(t *testing.T) {
			tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
			err := tx.LockKeys(context.Background(), shareMode(), []byte("k"))
			var unsupported *txn.PipelinedUnsupportedError
			if !errors.As(err, &unsupported) {
				t.Fatalf("pipelined share-mode LockKeys = %v, want *txn.PipelinedUnsupportedError", err)
			}
			if ops := lockOps(tx.StartTS()); len(ops) != 0 {
				t.Fatalf("the refused LockKeys sent %v", ops)
			}
			end(t, tx, false)
		})
		t.Run("UpgradeSharedToExclusive", func(t *testing.T) {
			tx := p.beginPessimistic()
			mustLock(t, tx, &txn.LockCtx{Wait: txn.LockNoWait}, "k2")
			mustLock(t, tx, &txn.LockCtx{Wait: txn.LockNoWait, InShareMode: true}, "k1")
			sent := len(lockOps(tx.StartTS()))
			err := tx.LockKeys(context.Background(), &txn.LockCtx{Wait: txn.LockNoWait}, []byte("k1"))
			if !errors.Is(err, txn.ErrSharedLockUpgrade) || !errors.Is(err, kv.ErrInvalidArgument) {
				t.Fatalf("exclusive LockKeys of a shared-locked key = %v, want ErrSharedLockUpgrade", err)
			}
			if n := len(lockOps(tx.StartTS())); n != sent {
				t.Fatalf("the refused upgrade sent %d lock mutations", n-sent)
			}
			// Still usable: the shared lock is held, and the buffer
			// accepts writes of other keys.
			if locked, shared := flags(tx, "k1"); !locked || !shared {
				t.Fatalf("k1 flags after the refused upgrade: locked %v, shared %v", locked, shared)
			}
			if err := tx.Set([]byte("k3"), []byte("v3")); err != nil {
				t.Fatal(err)
			}
			end(t, tx, true)
			p.mustGet("k3", "v3")
			p.waitLocks("k1", 0)
		})
	})
}

// TestPortSharedLockCommitterIncompatibilities ports client-go's
// TestSharedLockCommitterIncompatibilities (txnkv/transaction/txn_test.go)
// through the public API:
//   - DisableAsyncCommitAndOnePC: a pessimistic transaction that asks for
//     async commit and 1PC commits them when it holds no shared lock, and
//     commits with two-phase commit (no prewrite asks for either) when it
//     does;
//   - RejectSharedLockPrimaryKey: client-go sets a shared-locked key as
//     the committer's primary and expects initKeysAndMutations to fail;
//     LockKeys never lets that happen here, so the committer's own check
//     is tested in package twopc (TestSharedLockPrimaryRefused); here,
//     writing a key locked in share mode fails the commit with
//     ErrSharedLockUpgrade before any prewrite, and releases the locks;
//   - RejectPipelinedFlush: a pipelined transaction cannot lock in share
//     mode at all (TestPortLockKeysShareMode), so no flush can carry one.
func TestPortSharedLockCommitterIncompatibilities(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		t.Run("DisableAsyncCommitAndOnePC", func(t *testing.T) {
			for _, shared := range []bool{false, true} {
				p := newPortCluster(t, grpc, nil)
				tx := p.beginPessimistic(txn.WithAsyncCommit(true), txn.WithOnePC(true))
				mustLock(t, tx, nil, "primary-key")
				if shared {
					mustLock(t, tx, shareMode(), "shared-key")
				}
				if err := tx.Set([]byte("primary-key"), []byte("v")); err != nil {
					t.Fatal(err)
				}
				p.log.reset()
				if err := tx.Commit(context.Background()); err != nil {
					t.Fatalf("commit (shared %v): %v", shared, err)
				}
				proto := tx.CommitDetails().Protocol
				if shared && proto != txn.ProtocolTwoPC || !shared && proto == txn.ProtocolTwoPC {
					t.Fatalf("shared %v: committed with %v", shared, proto)
				}
				for _, pw := range p.log.prewrites() {
					if shared && (pw.UseAsyncCommit || pw.TryOnePc) {
						t.Fatalf("prewrite of a txn holding a shared lock asks for async commit %v / 1PC %v", pw.UseAsyncCommit, pw.TryOnePc)
					}
					for i, m := range pw.Mutations {
						if string(m.Key) == "shared-key" && (m.Op != kvrpcpb.Op_SharedLock || pw.PessimisticActions[i] != kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK) {
							t.Fatalf("shared-key prewritten as %v / %v, want SharedLock with DO_PESSIMISTIC_CHECK", m.Op, pw.PessimisticActions[i])
						}
					}
				}
				p.mustGet("primary-key", "v")
				if shared {
					p.waitLocks("shared-key", 0)
				}
			}
		})
		t.Run("RejectWriteOfSharedLockedKey", func(t *testing.T) {
			p := newPortCluster(t, grpc, nil)
			tx := p.beginWithPrimary("pk")
			mustLock(t, tx, shareMode(), "shared-key")
			if err := tx.Set([]byte("shared-key"), []byte("v")); err != nil {
				t.Fatal(err)
			}
			p.log.reset()
			err := tx.Commit(context.Background())
			if !errors.Is(err, txn.ErrSharedLockUpgrade) {
				t.Fatalf("commit writing a shared-locked key = %v, want ErrSharedLockUpgrade", err)
			}
			if n := len(p.log.prewrites()); n != 0 {
				t.Fatalf("%d prewrites sent", n)
			}
			p.waitLocks("shared-key", 0)
			p.waitLocks("pk", 0)
		})
	})
}
