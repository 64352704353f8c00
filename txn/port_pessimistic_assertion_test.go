package txn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/txn"
)

// TestPessimisticAssertionByLockResults (inventory row D9, client-go's
// checkAssertionByPessimisticLockResults): in a pessimistic transaction
// whose locks read the keys' existence, a write whose existence assertion
// the read contradicts fails the commit with *kv.AssertionFailedError
// once the prewrite succeeded (async commit asked for is not used: it
// would commit at prewrite), and nothing is written; an assertion the
// read confirms commits.
func TestPessimisticAssertionByLockResults(t *testing.T) {
	p := newPortCluster(t, false, nil)
	p.commit("present", "v")
	begin := func() *txn.Txn {
		return p.beginPessimistic(txn.WithAssertionLevel(kvrpcpb.AssertionLevel_Strict), txn.WithAsyncCommit(true))
	}

	tx := begin()
	mustLock(t, tx, &txn.LockCtx{CheckExistence: true}, "absent", "present")
	if err := tx.SetWithAssertion([]byte("absent"), []byte("x"), true); err != nil {
		t.Fatal(err)
	}
	p.log.reset()
	err := tx.Commit(context.Background())
	var af *kv.AssertionFailedError
	if !errors.As(err, &af) || string(af.Key) != "absent" || af.Assertion != kvrpcpb.Assertion_Exist {
		t.Fatalf("commit = %v, want *kv.AssertionFailedError on absent", err)
	}
	pw := p.log.prewrites()
	if len(pw) == 0 || pw[0].UseAsyncCommit {
		t.Fatalf("prewrites %v: want one, without async commit", pw)
	}
	p.mustGet("absent", "")
	// The prewritten locks are rolled back in the background.
	tx2 := p.beginPessimistic()
	mustLock(t, tx2, &txn.LockCtx{Wait: 5 * time.Second}, "absent", "present")
	_ = tx2.Rollback()

	tx = begin()
	mustLock(t, tx, &txn.LockCtx{CheckExistence: true}, "absent", "present")
	if err := tx.SetWithAssertion([]byte("absent"), []byte("x"), false); err != nil {
		t.Fatal(err)
	}
	if err := tx.SetWithAssertion([]byte("present"), []byte("y"), true); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatalf("commit with confirmed assertions: %v", err)
	}
	p.mustGet("absent", "x")
	p.mustGet("present", "y")
}
