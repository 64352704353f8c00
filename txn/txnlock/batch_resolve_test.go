package txnlock_test

import (
	"context"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
)

// TestBatchResolveLocksSettlesEveryKind: the GC sweep decides each
// transaction as expired, whatever its TTL (client-go's
// LockResolver.BatchResolveLocks; lock_test.go TestBatchResolveLocks'
// companions): a live 2PC transaction is rolled back; an async-commit one
// whose secondary was never prewritten is rolled back (its secondaries
// decide, not the primary's TTL); one that fell back to 2PC is decided by
// its primary under force_sync_commit; a live pessimistic lock is rolled
// back with KvPessimisticRollback; a lock whose primary was never written
// leaves a rollback record. Nothing stays locked and nothing reads back.
func TestBatchResolveLocksSettlesEveryKind(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(t *testing.T) {
			f := newInProcess(t, nil)
			if grpc {
				f = newGRPC(t, nil)
			}
			const ttl = 60_000 // a minute: alive for any check at the current ts

			live := f.ts()
			f.prewrite(live, txnSpec{primary: "a1", keys: []string{"a1", "a2"}, ttlMs: ttl})

			async := f.ts()
			f.prewrite(async, txnSpec{primary: "b1", keys: []string{"b1"}, ttlMs: ttl, async: true,
				secondaries: []string{"b2"}, minCommitTS: async + 1})

			fellBack := f.ts()
			f.prewrite(fellBack, txnSpec{primary: "c1", keys: []string{"c1"}, ttlMs: ttl, async: true,
				secondaries: []string{"c2"}, minCommitTS: fellBack + 1})
			f.prewrite(fellBack, txnSpec{primary: "c1", keys: []string{"c2"}, ttlMs: ttl})

			pess := f.ts()
			f.pessimisticLock(pess, pess, ttl, "d1", "d1", "d2")

			orphan := f.ts()
			f.prewrite(orphan, txnSpec{primary: "e0", keys: []string{"e1"}, ttlMs: ttl})

			var locks []*kv.Lock
			for _, k := range []string{"a1", "a2", "b1", "c1", "c2", "d1", "d2", "e1"} {
				locks = append(locks, f.mustLock(k))
			}
			f.rec.take(0)
			if err := f.r.BatchResolveLocks(context.Background(), locks); err != nil {
				t.Fatal(err)
			}
			if f.rec.count(transport.CmdCheckSecondaryLocks) == 0 || f.rec.count(transport.CmdPessimisticRollback) == 0 {
				t.Fatal("no CheckSecondaryLocks or no PessimisticRollback sent")
			}
			statusChecks := f.rec.take(transport.CmdCheckTxnStatus)
			for _, k := range []string{"a1", "a2", "b1", "b2", "c1", "c2", "d1", "d2", "e0", "e1"} {
				if l := f.lockOn(k); l != nil {
					t.Fatalf("%s still locked by txn %d", k, l.StartTS)
				}
				if v, _ := f.mustRead(k); v != nil {
					t.Fatalf("%s = %q after the sweep, want nothing", k, v)
				}
			}
			forced, maxTS := false, true
			for _, m := range statusChecks {
				r := m.(*kvrpcpb.CheckTxnStatusRequest)
				forced = forced || (r.LockTs == fellBack && r.ForceSyncCommit)
				maxTS = maxTS && r.CurrentTs == ^uint64(0) && r.RollbackIfNotExist
			}
			if !forced || !maxTS {
				t.Fatalf("status checks: force_sync_commit for the fallen-back txn %v, all at max ts with rollback_if_not_exist %v", forced, maxTS)
			}
			if err := f.r.BatchResolveLocks(context.Background(), nil); err != nil {
				t.Fatalf("empty sweep: %v", err)
			}
		})
	}
}
