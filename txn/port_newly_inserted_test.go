package txn_test

import (
	"testing"

	"github.com/tikvgo/tikv/txn"
	"github.com/tikvgo/tikv/txn/membuf"
)

// TestPortNewlyInsertedMemDBFlag ports client-go's
// TestNewlyInsertedMemDBFlag (integration_tests/2pc_test.go): in a
// pessimistic transaction the newly-inserted flag is only what a write says
// it is: a set after a delete does not carry it, a locked key set with
// SetNewlyInserted does, and a locked key deleted then set does not; the
// transaction commits, writing what was set. Both transports.
func TestPortNewlyInsertedMemDBFlag(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		tx := p.beginPessimistic()
		buf := tx.MemBuffer()
		flags := func(k string) membuf.Flags {
			f, ok := buf.GetFlags([]byte(k))
			if !ok {
				t.Fatalf("%s has no entry", k)
			}
			return f
		}

		if err := tx.Delete([]byte("k0")); err != nil {
			t.Fatal(err)
		}
		setAll(t, tx, "k0", "v0")
		if flags("k0").HasNewlyInserted() {
			t.Fatal("k0, set after a delete, is marked newly inserted")
		}

		mustLock(t, tx, &txn.LockCtx{}, "k1")
		if err := buf.SetWithFlags([]byte("k1"), []byte("v1"), membuf.SetNewlyInserted); err != nil {
			t.Fatal(err)
		}
		if !flags("k1").HasNewlyInserted() {
			t.Fatal("k1, locked then set as newly inserted, is not marked")
		}

		mustLock(t, tx, &txn.LockCtx{}, "k2")
		if err := tx.Delete([]byte("k2")); err != nil {
			t.Fatal(err)
		}
		if flags("k2").HasNewlyInserted() {
			t.Fatal("k2, locked then deleted, is marked newly inserted")
		}
		setAll(t, tx, "k2", "v2")
		if flags("k2").HasNewlyInserted() {
			t.Fatal("k2, deleted then set, is marked newly inserted")
		}

		if err := tx.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		p.mustGet("k0", "v0")
		p.mustGet("k1", "v1")
		p.mustGet("k2", "v2")
	})
}
