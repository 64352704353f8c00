package txnlock_test

import (
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/txnlock"
)

// TestPessimisticLockOfExpiredTxnRolledBack: a pessimistic lock of an
// expired txn is removed with KvPessimisticRollback (its key and
// for_update_ts), never committed or resolved; other pessimistic locks of
// the txn stay unless the region-wide option is set, which removes all of
// the txn's pessimistic locks in the region at once. Ports client-go
// lock_test.go testLockWithTiKVSuite.TestPessimisticRollbackWithRead and
// the inventory's H4 rules.
func TestPessimisticLockOfExpiredTxnRolledBack(t *testing.T) {
	for _, region := range []bool{false, true} {
		name := map[bool]string{false: "key", true: "region"}[region]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newInProcess(t, nil)
				start := f.ts()
				forUpdate := f.ts()
				f.pessimisticLock(start, forUpdate, 50, "p", "p", "k1", "k2")
				lock := f.mustLock("k1")
				if lock.Type != kvrpcpb.Op_PessimisticLock || lock.ForUpdateTS != forUpdate {
					t.Fatalf("lock %v", lock)
				}
				time.Sleep(100 * time.Millisecond)
				f.rec.take(0)

				res := f.resolve(start+100, txnlock.Options{PessimisticRegion: region}, lock)
				if res.Live != 0 {
					t.Fatalf("live %v", res.Live)
				}
				checks := f.rec.take(transport.CmdPessimisticRollback)
				if len(checks) != 1 {
					t.Fatalf("%d pessimistic rollbacks", len(checks))
				}
				pr := checks[0].(*kvrpcpb.PessimisticRollbackRequest)
				if pr.StartVersion != start || pr.ForUpdateTs != forUpdate {
					t.Fatalf("rollback %v", pr)
				}
				if region != (len(pr.Keys) == 0) {
					t.Fatalf("rollback keys %q (region-wide %v)", pr.Keys, region)
				}
				if f.lockOn("k1") != nil || f.lockOn("p") != nil {
					t.Fatal("k1 or the primary still locked")
				}
				if k2 := f.lockOn("k2"); (k2 == nil) != region {
					t.Fatalf("k2 lock %v with region-wide %v", k2, region)
				}
			})
		})
	}
}

// TestPessimisticLockStatusSent: the status check of a pessimistic lock
// says so (resolving_pessimistic_lock) and asks TiKV to verify the
// primary; a lock with for_update_ts 0 is rolled back with for_update_ts
// MaxUint64 (client-go's resolvePessimisticLock).
func TestPessimisticLockStatusSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		start := f.ts()
		f.pessimisticLock(start, start, 50, "p", "p", "k")
		lock := f.mustLock("k")
		lock.ForUpdateTS = 0
		time.Sleep(100 * time.Millisecond)
		f.rec.take(0)
		f.resolve(0, txnlock.Options{}, lock)
		var cts []transport.Message
		f.rec.mu.Lock()
		for _, s := range f.rec.sent {
			if s.cmd == transport.CmdCheckTxnStatus {
				cts = append(cts, s.msg)
			}
		}
		f.rec.mu.Unlock()
		if len(cts) == 0 {
			t.Fatal("no status check")
		}
		if c := cts[0].(*kvrpcpb.CheckTxnStatusRequest); !c.ResolvingPessimisticLock || !c.VerifyIsPrimary {
			t.Fatalf("status check %v", c)
		}
		prs := f.rec.take(transport.CmdPessimisticRollback)
		if len(prs) != 1 || prs[0].(*kvrpcpb.PessimisticRollbackRequest).ForUpdateTs != math.MaxUint64 {
			t.Fatalf("rollbacks %v", prs)
		}
	})
}

// TestPessimisticLockTxnNotFoundIsAlive: a pessimistic lock whose primary
// has no trace of the txn is taken as alive while the lock's TTL lasts
// (its owner may lock again), without backing off or rolling anything
// back (client-go's getTxnStatusFromLock).
func TestPessimisticLockTxnNotFoundIsAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		start := f.ts()
		f.pessimisticLock(start, start, 20000, "absent", "k")
		f.rec.take(0)
		res := f.resolve(0, txnlock.Options{}, f.mustLock("k"))
		if res.Live <= 0 {
			t.Fatalf("live %v", res.Live)
		}
		if n := f.rec.count(transport.CmdCheckTxnStatus); n != 1 {
			t.Fatalf("%d status checks", n)
		}
		if f.lockOn("k") == nil {
			t.Fatal("live pessimistic lock removed")
		}
	})
}

// TestPessimisticLockPrimaryMismatchRolledBack: a pessimistic lock whose
// named primary is locked by its txn with another primary (the primary
// moved) cannot be committed by anyone: TiKV answers PrimaryMismatch and
// the lock is rolled back while the real primary stays. Ports client-go
// lock_test.go testLockWithTiKVSuite.TestCheckTxnStatusSentToSecondary.
func TestPessimisticLockPrimaryMismatchRolledBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, nil)
		start := f.ts()
		f.pessimisticLock(start, start, 20000, "b", "b", "a")
		f.pessimisticLock(start, start, 20000, "a", "s")
		res := f.resolve(0, txnlock.Options{}, f.mustLock("s"))
		if res.Live != 0 {
			t.Fatalf("live %v", res.Live)
		}
		if f.lockOn("s") != nil {
			t.Fatal("stale pessimistic lock left")
		}
		if f.lockOn("a") == nil || f.lockOn("b") == nil {
			t.Fatal("the txn's live locks were removed")
		}
	})
}
