package txnlock_test

import (
	"testing"

	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/txnlock"
)

// TestResolveOverGRPC: the resolver over mocktikv served on gRPC, through
// the real PD client and connection pool: a committed txn's leftover
// secondaries in two regions are committed (one region-wide resolve each
// for a large txn), and a live txn's lock is waited for.
func TestResolveOverGRPC(t *testing.T) {
	f := newGRPC(t, asyncSplits)
	start := f.ts()
	f.prewrite(start, txnSpec{primary: "p", keys: []string{"p", "a", "b", "x"}, ttlMs: 3000, txnSize: 1000})
	commit := f.ts()
	f.commit(start, commit, "p")
	f.rec.take(0)

	res := f.resolve(f.ts(), txnlock.Options{}, f.mustLock("a"), f.mustLock("b"), f.mustLock("x"))
	if res.Live != 0 || len(res.Committed) != 3 {
		t.Fatalf("result %+v", res)
	}
	// a and b share a region: one region-wide resolve covers both.
	if n := f.rec.count(transport.CmdResolveLock); n != 2 {
		t.Fatalf("%d ResolveLock requests, want one per region", n)
	}
	for _, k := range []string{"a", "b", "x"} {
		if v, c := f.mustRead(k); string(v) != "v-"+k || c != commit {
			t.Fatalf("%s = %q at %d", k, v, c)
		}
	}

	start2 := f.ts()
	f.prewrite(start2, txnSpec{primary: "q", keys: []string{"q", "r"}, ttlMs: 20000})
	if res := f.resolve(f.ts(), txnlock.Options{}, f.mustLock("r")); res.Live <= 0 {
		t.Fatalf("live lock: %+v", res)
	}
}
