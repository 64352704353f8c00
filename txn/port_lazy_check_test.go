package txn_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
)

// Lazy uniqueness checks (inventory row D8): InsertLazy in a pessimistic
// transaction leaves the key unlocked and has TiKV check it at prewrite
// with DO_CONSTRAINT_CHECK (client-go's prewrite.go, TiKV's
// actions/prewrite.rs).

// prewriteActions returns the pessimistic action each logged prewrite
// sent for each key.
func (p *portCluster) prewriteActions() map[string]kvrpcpb.PrewriteRequest_PessimisticAction {
	out := map[string]kvrpcpb.PrewriteRequest_PessimisticAction{}
	for _, req := range p.log.prewrites() {
		for i, m := range req.Mutations {
			if i < len(req.PessimisticActions) {
				out[string(m.Key)] = req.PessimisticActions[i]
			}
		}
	}
	return out
}

// lockedKeys returns every key a logged pessimistic lock request named.
func (p *portCluster) lockedKeys() map[string]bool {
	out := map[string]bool{}
	for _, req := range p.log.lockRequests() {
		for _, m := range req.Mutations {
			out[string(m.Key)] = true
		}
	}
	return out
}

// lazyInsert begins a pessimistic transaction that locks and writes "row"
// and lazily inserts "uk" (asking LockKeys to lock it too, which it must
// not), as TiDB writes a row and its unique index entry.
func (p *portCluster) lazyInsert(ukValue string) func() error {
	p.t.Helper()
	tx := p.beginPessimistic()
	if err := tx.InsertLazy([]byte("uk"), []byte(ukValue)); err != nil {
		p.t.Fatal(err)
	}
	mustLock(p.t, tx, nil, "row", "uk")
	if err := tx.Set([]byte("row"), []byte("r")); err != nil {
		p.t.Fatal(err)
	}
	if p.lockedKeys()["uk"] {
		p.t.Fatal("LockKeys sent a lock request for the lazily inserted key")
	}
	if l := p.lockOf("uk"); l != nil {
		p.t.Fatalf("lazily inserted key holds lock %v before commit", l)
	}
	return func() error { return tx.Commit(context.Background()) }
}

// TestLazyCheckExistingKeyFailsAtCommit: a lazily inserted key that has a
// value fails the commit at prewrite with a typed already-exist error, and
// no lock of the transaction is left behind.
func TestLazyCheckExistingKeyFailsAtCommit(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			p := newPortCluster(t, grpc, nil)
			p.commit("uk", "old")
			commit := p.lazyInsert("new")
			err := commit()
			var exist *kv.AlreadyExistError
			if !errors.As(err, &exist) || string(exist.Key) != "uk" || !errors.Is(err, kv.ErrKeyExists) {
				t.Fatalf("commit = %v, want *kv.AlreadyExistError for %q", err, "uk")
			}
			acts := p.prewriteActions()
			if acts["uk"] != kvrpcpb.PrewriteRequest_DO_CONSTRAINT_CHECK || acts["row"] != kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK {
				t.Fatalf("prewrite actions %v, want uk DO_CONSTRAINT_CHECK, row DO_PESSIMISTIC_CHECK", acts)
			}
			p.mustGet("uk", "old")
			p.mustGet("row", "")
			// Close waits for the background rollback of the row's lock.
			if err := p.client.Close(context.Background()); err != nil {
				t.Fatalf("close: %v", err)
			}
			for _, k := range []string{"uk", "row"} {
				if l := p.lockOf(k); l != nil {
					t.Fatalf("lock left on %q: %v", k, l)
				}
			}
		})
	}
}

// TestLazyCheckAbsentKeyCommits: a lazily inserted key without value
// commits, checked at prewrite with DO_CONSTRAINT_CHECK.
func TestLazyCheckAbsentKeyCommits(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			p := newPortCluster(t, grpc, nil)
			if err := p.lazyInsert("new")(); err != nil {
				t.Fatalf("commit: %v", err)
			}
			if a := p.prewriteActions()["uk"]; a != kvrpcpb.PrewriteRequest_DO_CONSTRAINT_CHECK {
				t.Fatalf("uk prewritten with %v, want DO_CONSTRAINT_CHECK", a)
			}
			p.mustGet("uk", "new")
			p.mustGet("row", "r")
		})
	}
}

// TestLazyCheckDeletedKeyCommits: a key whose last version is a
// delete does not exist, so the lazy check passes.
func TestLazyCheckDeletedKeyCommits(t *testing.T) {
	p := newPortCluster(t, false, nil)
	p.commit("uk", "old")
	tx := p.begin()
	if err := tx.Delete([]byte("uk")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.lazyInsert("new")(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	p.mustGet("uk", "new")
}

// TestLazyCheckClearedBySet: a Set of the key after InsertLazy drops the
// postponed check (client-go's memdb clears NeedConstraintCheckInPrewrite
// on a value write): the key is locked by LockKeys again and prewritten
// with DO_PESSIMISTIC_CHECK, and the lock request carries the insert's
// existence check.
func TestLazyCheckClearedBySet(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			p := newPortCluster(t, grpc, nil)
			tx := p.beginPessimistic()
			if err := tx.InsertLazy([]byte("uk"), []byte("v1")); err != nil {
				t.Fatal(err)
			}
			if err := tx.Set([]byte("uk"), []byte("v2")); err != nil {
				t.Fatal(err)
			}
			mustLock(t, tx, nil, "uk")
			if !p.lockedKeys()["uk"] {
				t.Fatal("LockKeys did not lock the key after Set cleared its lazy check")
			}
			if err := tx.Commit(context.Background()); err != nil {
				t.Fatalf("commit: %v", err)
			}
			if a := p.prewriteActions()["uk"]; a != kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK {
				t.Fatalf("uk prewritten with %v, want DO_PESSIMISTIC_CHECK", a)
			}
			p.mustGet("uk", "v2")
		})
	}
}

// TestLazyCheckNewerWriteConflicts: a lazily inserted key written (even
// deleted) by another transaction after this one began fails the commit
// with a write conflict (TiKV's LazyUniquenessCheck reason), not silently.
func TestLazyCheckNewerWriteConflicts(t *testing.T) {
	p := newPortCluster(t, false, nil)
	tx := p.beginPessimistic()
	if err := tx.InsertLazy([]byte("uk"), []byte("mine")); err != nil {
		t.Fatal(err)
	}
	mustLock(t, tx, nil, "row")
	other := p.begin()
	if err := other.Delete([]byte("uk")); err != nil {
		t.Fatal(err)
	}
	if err := other.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := tx.Commit(context.Background())
	var conflict *kv.WriteConflictError
	if !errors.As(err, &conflict) || conflict.Reason != kvrpcpb.WriteConflict_LazyUniquenessCheck {
		t.Fatalf("commit = %v, want *kv.WriteConflictError for the lazy uniqueness check", err)
	}
	p.mustGet("uk", "")
}

// TestLazyCheckWithoutLocks: a pessimistic transaction that locked nothing
// prewrites optimistically (no for_update_ts), where TiKV checks every
// Op_Insert, so a lazily inserted existing key still fails the commit.
func TestLazyCheckWithoutLocks(t *testing.T) {
	p := newPortCluster(t, false, nil)
	p.commit("uk", "old")
	tx := p.beginPessimistic()
	if err := tx.InsertLazy([]byte("uk"), []byte("new")); err != nil {
		t.Fatal(err)
	}
	err := tx.Commit(context.Background())
	var exist *kv.AlreadyExistError
	if !errors.As(err, &exist) || string(exist.Key) != "uk" {
		t.Fatalf("commit = %v, want *kv.AlreadyExistError for %q", err, "uk")
	}
	for _, req := range p.log.prewrites() {
		if req.ForUpdateTs != 0 || len(req.PessimisticActions) != 0 {
			t.Fatalf("prewrite for_update_ts %d, actions %v: want an optimistic prewrite", req.ForUpdateTs, req.PessimisticActions)
		}
	}
	p.mustGet("uk", "old")
}

// TestPessimisticInsertUnlockedIsChecked: a plain Insert in a pessimistic
// transaction that never locks its key is still checked at prewrite
// (DO_CONSTRAINT_CHECK): an existing key fails the commit with the typed
// already-exist error instead of being overwritten.
func TestPessimisticInsertUnlockedIsChecked(t *testing.T) {
	p := newPortCluster(t, false, nil)
	ctx := context.Background()
	p.commit("uk", "old", "row", "r0")
	tx := p.beginPessimistic()
	if err := tx.LockKeys(ctx, nil, []byte("row")); err != nil {
		t.Fatal(err)
	}
	_ = tx.Set([]byte("row"), []byte("r1"))
	if err := tx.Insert([]byte("uk"), []byte("new")); err != nil {
		t.Fatal(err)
	}
	var exists *kv.AlreadyExistError
	if err := tx.Commit(ctx); !errors.As(err, &exists) {
		t.Fatalf("commit = %v, want *kv.AlreadyExistError", err)
	}
	p.mustGet("uk", "old")
	p.mustGet("row", "r0")
}
