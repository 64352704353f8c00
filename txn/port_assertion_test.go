package txn_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// Ports of client-go's integration_tests/assertion_test.go (scenario S39).
// client-go isolates the two places an assertion is checked (TiKV's
// prewrite, the client's comparison with the pessimistic locks' reads)
// with failpoints; these tests have no such hook and assert what the two
// checks together report, which is what a user of the API sees.

// assertionMode is how the transactions of assertionCase write their keys.
type assertionMode int

const (
	// assertOptimistic: an optimistic transaction.
	assertOptimistic assertionMode = iota
	// assertPessimistic: a pessimistic transaction that locks another key
	// (its primary), so the asserted keys are prewritten without locks.
	assertPessimistic
	// assertLockKeys: a pessimistic transaction that locks the asserted
	// keys, reading their existence (LockCtx.CheckExistence).
	assertLockKeys
)

func (m assertionMode) String() string {
	return [...]string{"optimistic", "pessimistic", "lock-keys"}[m]
}

// assertionWant is what the violating transactions of assertionCase end
// with: detected or not, and whether the error names the existing version.
type assertionWant int

const (
	// undetected: every transaction commits.
	undetected assertionWant = iota
	// detectedWithVersion: TiKV's prewrite fails them and names the
	// version it found (check_assertion).
	detectedWithVersion
	// detectedWithoutVersion: the client fails them from the locks'
	// existence reads, which carry no version (ts 0).
	detectedWithoutVersion
)

// assertionCase is client-go's testAssertionImpl: with k1, k3 and k7
// written, transactions assert existence on the last key they write; an
// assertion that holds commits, one that does not fails as want says.
func assertionCase(t *testing.T, grpc bool, mode assertionMode, level kvrpcpb.AssertionLevel, want assertionWant) {
	p := newPortCluster(t, grpc, nil)
	ctx := context.Background()
	k := func(i int) []byte { return fmt.Appendf(nil, "assertion_k_%d", i) }

	prepare := p.begin()
	for _, i := range []int{1, 3, 7} {
		if err := prepare.Set(k(i), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := prepare.Commit(ctx); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	prepStart, prepCommit := prepare.StartTS(), prepare.CommitTS()

	// doTxn writes keys, asserting exists on the last one, and commits.
	doTxn := func(exists bool, keys ...[]byte) (uint64, error) {
		t.Helper()
		opts := []txn.BeginOption{txn.WithAssertionLevel(level)}
		if mode != assertOptimistic {
			opts = append(opts, txn.WithPessimistic())
		}
		tx := p.begin(opts...)
		switch mode {
		case assertLockKeys:
			if err := tx.LockKeys(ctx, &txn.LockCtx{CheckExistence: true}, keys...); err != nil {
				t.Fatalf("lock keys: %v", err)
			}
		case assertPessimistic:
			if err := tx.LockKeys(ctx, &txn.LockCtx{}, []byte("assertion_primary")); err != nil {
				t.Fatalf("lock primary: %v", err)
			}
		}
		last := len(keys) - 1
		for _, key := range keys[:last] {
			if err := tx.Set(key, append([]byte("v"), key...)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.SetWithAssertion(keys[last], append([]byte("v"), keys[last]...), exists); err != nil {
			t.Fatal(err)
		}
		return tx.StartTS(), tx.Commit(ctx)
	}
	mustCommit := func(exists bool, keys ...[]byte) {
		t.Helper()
		if _, err := doTxn(exists, keys...); err != nil {
			t.Fatalf("assert exists=%v on %q: %v", exists, keys[len(keys)-1], err)
		}
	}
	// violate runs a transaction whose assertion does not hold; existStart
	// and existCommit name the key's version as TiKV would report it.
	violate := func(exists bool, existStart, existCommit uint64, keys ...[]byte) {
		t.Helper()
		start, err := doTxn(exists, keys...)
		key := keys[len(keys)-1]
		if want == undetected {
			if err != nil {
				t.Fatalf("assert exists=%v on %q: %v, want a commit (not checked)", exists, key, err)
			}
			return
		}
		if want == detectedWithoutVersion {
			existStart, existCommit = 0, 0
		}
		assertion := kvrpcpb.Assertion_NotExist
		if exists {
			assertion = kvrpcpb.Assertion_Exist
		}
		wantErr := kv.AssertionFailedError{StartTS: start, Key: key, Assertion: assertion,
			ExistingStartTS: existStart, ExistingCommitTS: existCommit}
		var af *kv.AssertionFailedError
		if !errors.As(err, &af) {
			t.Fatalf("assert exists=%v on %q: err %v, want %v", exists, key, err, &wantErr)
		}
		if af.StartTS != wantErr.StartTS || string(af.Key) != string(wantErr.Key) || af.Assertion != wantErr.Assertion ||
			af.ExistingStartTS != wantErr.ExistingStartTS || af.ExistingCommitTS != wantErr.ExistingCommitTS {
			t.Fatalf("got %v, want %v", af, &wantErr)
		}
		if !errors.Is(err, kv.ErrAssertionFailed) {
			t.Fatalf("%v does not wrap kv.ErrAssertionFailed", err)
		}
		// A failed commit leaves nothing behind: the key keeps its value.
		if exists {
			p.mustGet(string(key), "")
		} else {
			p.mustGet(string(key), fmt.Sprintf("v%s", strings.TrimPrefix(string(key), "assertion_k_")))
		}
	}

	// One key.
	mustCommit(true, k(1))
	mustCommit(false, k(2))
	violate(false, prepStart, prepCommit, k(3))
	violate(true, 0, 0, k(4))
	// Several keys, the assertion on the last.
	violate(false, prepStart, prepCommit, k(5), k(6), k(7))
	violate(true, 0, 0, k(8), k(9), k(10))
}

// TestPrewriteAssertion ports client-go's TestPrewriteAssertion: at Strict
// level TiKV checks every assertion at prewrite, in every kind of
// transaction, and names the version it found. (With the keys locked the
// client's own check finds the violation too, but its error only counts
// once the prewrite succeeded, and here the prewrite fails first.)
func TestPrewriteAssertion(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		for _, mode := range []assertionMode{assertOptimistic, assertPessimistic, assertLockKeys} {
			t.Run(mode.String(), func(t *testing.T) {
				assertionCase(t, grpc, mode, kvrpcpb.AssertionLevel_Strict, detectedWithVersion)
			})
		}
	})
}

// TestFastAssertion ports client-go's TestFastAssertion. At Fast level
// TiKV checks an assertion only when the prewrite's constraint check has
// already read the key (check_assertion in TiKV's prewrite.rs): it does
// for optimistic transactions, so they still fail with the version found
// (client-go's test hides this by sending level Off with a failpoint),
// and does not for pessimistic ones, whose keys skip the check. Keys
// locked with an existence read are checked by the client against that
// read, which has no version to name.
func TestFastAssertion(t *testing.T) {
	want := map[assertionMode]assertionWant{
		assertOptimistic:  detectedWithVersion,
		assertPessimistic: undetected,
		assertLockKeys:    detectedWithoutVersion,
	}
	bothWays(t, func(t *testing.T, grpc bool) {
		for _, mode := range []assertionMode{assertOptimistic, assertPessimistic, assertLockKeys} {
			t.Run(mode.String(), func(t *testing.T) {
				assertionCase(t, grpc, mode, kvrpcpb.AssertionLevel_Fast, want[mode])
			})
		}
	})
}

// pessimisticRollbackSplit shards a PessimisticRollbackRequest by key.
var pessimisticRollbackSplit = pipeline.ByKeys((*kvrpcpb.PessimisticRollbackRequest).GetKeys, func(k []byte) []byte { return k },
	func(r *kvrpcpb.PessimisticRollbackRequest, keys [][]byte) *kvrpcpb.PessimisticRollbackRequest {
		c := *r
		c.Keys = keys
		return &c
	}, pipeline.Limit[[]byte]{Keys: 256})

// TestAssertionErrorLessPriorToOtherError ports client-go's test of that
// name: a pessimistic transaction loses its lock (client-go lets it expire
// and another transaction resolve it; here a PessimisticRollback removes
// it), another transaction writes both keys, and the first one's commit
// must fail for the lost lock, not for the assertions the other write
// broke. Variants put the keys in one prewrite request or in two
// (client-go's batch limit; here a region split), and delay the primary's
// or the secondary's prewrite so that the other answers first; a last one
// reads the existence at lock time, so that the client's own check
// contradicts the assertion too.
func TestAssertionErrorLessPriorToOtherError(t *testing.T) {
	cases := []struct {
		name             string
		split            bool
		delay            string // "lock" or "other": the key whose prewrite is delayed
		checkExistence   bool
		assertLockExists bool
	}{
		{name: "one request"},
		{name: "two requests", split: true},
		{name: "primary late", split: true, delay: "lock"},
		{name: "secondary late", split: true, delay: "other"},
		{name: "stale existence read", checkExistence: true, assertLockExists: true},
	}
	bothWays(t, func(t *testing.T, grpc bool) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				p := newPortCluster(t, grpc, nil)
				ctx := context.Background()
				lockKey, otherKey := []byte("kr"), []byte("ki")
				if c.split {
					if _, err := p.mock.SplitTxn([]byte("kj")); err != nil {
						t.Fatal(err)
					}
				}

				tx := p.begin(txn.WithPessimistic(), txn.WithAssertionLevel(kvrpcpb.AssertionLevel_Strict))
				lc := &txn.LockCtx{CheckExistence: c.checkExistence}
				if err := tx.LockKeys(ctx, lc, lockKey); err != nil {
					t.Fatalf("lock: %v", err)
				}
				if c.checkExistence && lc.Values[string(lockKey)].Exists {
					t.Fatalf("lock read %q as existing", lockKey)
				}
				if err := tx.SetWithAssertion(lockKey, []byte("rv1"), c.assertLockExists); err != nil {
					t.Fatal(err)
				}
				if err := tx.SetWithAssertion(otherKey, []byte("iv1"), false); err != nil {
					t.Fatal(err)
				}

				env := p.cluster.EnvFor(kv.ModeTxn)
				plan := pipeline.Shard(env, pessimisticRollbackSplit, pipeline.Retry(env, plans.KvPessimisticRollback))
				if _, err := plan(ctx, &kvrpcpb.PessimisticRollbackRequest{
					StartVersion: tx.StartTS(), ForUpdateTs: lc.ForUpdateTS, Keys: [][]byte{lockKey},
				}); err != nil {
					t.Fatalf("pessimistic rollback: %v", err)
				}

				tx2 := p.begin(txn.WithPessimistic(), txn.WithAssertionLevel(kvrpcpb.AssertionLevel_Strict))
				if err := tx2.SetWithAssertion(lockKey, []byte("rv2"), false); err != nil {
					t.Fatal(err)
				}
				if err := tx2.SetWithAssertion(otherKey, []byte("iv2"), false); err != nil {
					t.Fatal(err)
				}
				if err := tx2.Commit(ctx); err != nil {
					t.Fatalf("second commit: %v", err)
				}

				// The first transaction locks one more key now, which raises
				// its for_update_ts past the second one's commit: TiKV's
				// constraint check then passes the unlocked key, whose
				// prewrite fails on the assertion alone, while the lost
				// lock's key fails with PessimisticLockNotFound.
				if err := tx.LockKeys(ctx, &txn.LockCtx{}, []byte("kz")); err != nil {
					t.Fatalf("lock kz: %v", err)
				}
				if c.delay != "" {
					key := lockKey
					if c.delay == "other" {
						key = otherKey
					}
					p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: key,
						Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Delay(200*time.Millisecond))}})
				}
				p.log.reset()
				err := tx.Commit(ctx)
				if err == nil {
					t.Fatal("commit after the lock was lost succeeded")
				}
				if errors.Is(err, kv.ErrAssertionFailed) || strings.Contains(strings.ToLower(err.Error()), "assertion") {
					t.Fatalf("commit error %v is an assertion error, want the lost lock's", err)
				}
				for _, pw := range p.log.prewrites() {
					if c.split && len(pw.Mutations) == 3 {
						t.Fatalf("one prewrite request has all keys, want one per region")
					}
				}
				if c.delay == "lock" && len(p.log.prewrites()) < 2 {
					t.Fatalf("%d prewrite requests, want the secondaries' sent while the primary's waits", len(p.log.prewrites()))
				}
				t.Logf("commit error: %v", err)
				p.mustGet(string(lockKey), "rv2")
				p.mustGet(string(otherKey), "iv2")
			})
		}
	})
}
