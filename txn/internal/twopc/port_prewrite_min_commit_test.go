package twopc_test

import (
	"context"
	"testing"

	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// TestSetMinCommitTSInAsyncCommit ports client-go's
// TestSetMinCommitTSInAsyncCommit (integration_tests/prewrite_test.go): an
// async-commit prewrite asks for min_commit_ts start_ts + 1 when nothing
// else bounds it (causal consistency: no TSO fetch), for_update_ts + 1
// for a pessimistic transaction whose for_update_ts is later, and the
// fetched min commit ts (above both) when the commit is linearizable.
func TestSetMinCommitTSInAsyncCommit(t *testing.T) {
	minCommit := func(f *fixture, req twopc.Request) uint64 {
		t.Helper()
		f.log.take()
		if _, err := f.committer.Commit(context.Background(), req); err != nil {
			t.Fatalf("commit: %v", err)
		}
		f.settle()
		pws := prewrites(f.log.take())
		if len(pws) != 1 || !pws[0].UseAsyncCommit {
			t.Fatalf("prewrites %+v, want one async-commit prewrite", pws)
		}
		return pws[0].MinCommitTs
	}

	causal := newFixture(t, setup{opts: twopc.Options{AsyncCommit: true, CausalConsistency: true}})
	start := causal.ts()
	if got := minCommit(causal, twopc.Request{StartTS: start, Mutations: []twopc.Mutation{put("k1", "v")}}); got != start+1 {
		t.Fatalf("no for_update_ts: min_commit_ts %d, want start ts + 1 = %d", got, start+1)
	}
	start = causal.ts()
	forUpdate := start + 5<<18
	if got := minCommit(causal, twopc.Request{StartTS: start, ForUpdateTS: forUpdate, Mutations: []twopc.Mutation{put("k2", "v")}}); got != forUpdate+1 {
		t.Fatalf("for_update_ts %d: min_commit_ts %d, want %d", forUpdate, got, forUpdate+1)
	}

	linear := newFixture(t, setup{opts: twopc.Options{AsyncCommit: true}})
	start = linear.ts()
	before := linear.ts()
	got := minCommit(linear, twopc.Request{StartTS: start, Mutations: []twopc.Mutation{put("k3", "v")}})
	if got <= before+1 {
		t.Fatalf("linearizable: min_commit_ts %d, want a fetched ts + 1 above %d", got, before+1)
	}
}
