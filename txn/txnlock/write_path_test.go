package txnlock_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/txn/txnlock"
)

// TestCleanLock: 26 keys each locked by its own uncommitted txn (primary
// itself, TTL 3s); a new txn's prewrite through the resolve-lock stage
// waits for them to expire (virtual time), rolls them back and succeeds;
// its commit is readable. Ports client-go lock_test.go
// testLockSuite.TestCleanLock.
func TestCleanLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInProcess(t, asyncSplits)
		var keys []string
		for ch := 'a'; ch <= 'z'; ch++ {
			k := string(ch)
			keys = append(keys, k)
			f.prewrite(f.ts(), txnSpec{primary: k, keys: []string{k}, ttlMs: 3000})
		}
		began := time.Now()
		start := f.ts()
		muts := make([]*kvrpcpb.Mutation, len(keys))
		for i, k := range keys {
			muts[i] = &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: []byte(fmt.Sprint(i))}
		}
		prewrite := pipeline.Shard(f.env, pipeline.ByKeys((*kvrpcpb.PrewriteRequest).GetMutations, (*kvrpcpb.Mutation).GetKey,
			func(r *kvrpcpb.PrewriteRequest, m []*kvrpcpb.Mutation) *kvrpcpb.PrewriteRequest {
				c := clone(r)
				c.Mutations = m
				return c
			}, pipeline.Limit[*kvrpcpb.Mutation]{}),
			pipeline.ResolveLocks(f.env, f.r.With(txnlock.Options{PessimisticRegion: true}), (*kvrpcpb.PrewriteRequest).GetStartVersion, nil,
				pipeline.Retry(f.env, plans.KvPrewrite)), pipeline.FinishInFlight())
		if _, err := prewrite(context.Background(), &kvrpcpb.PrewriteRequest{PrimaryLock: []byte("a"), StartVersion: start,
			LockTtl: 3000, Mutations: muts}); err != nil {
			t.Fatalf("prewrite over expired locks: %v", err)
		}
		if waited := time.Since(began); waited < 2*time.Second {
			t.Fatalf("prewrite took %v: it did not wait for the live locks", waited)
		}
		commit := f.ts()
		f.commit(start, commit, keys...)
		for i, k := range keys {
			if v, c := f.mustRead(k); string(v) != fmt.Sprint(i) || c != commit {
				t.Fatalf("%s = %q at %d", k, v, c)
			}
		}
	})
}
