package twopc_test

import (
	"context"
	"math"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// A region split the client does not know of yet sends the prewrite back
// with EpochNotMatch: the batch is split again by the new regions and
// resent, marked as a retry, with txn_size MaxUint64 (client-go's
// actionPrewrite{retry: true}); ports client-go prewrite_test.go
// TestIsRetryRequestFlagWithRegionError.
func TestPrewriteAfterSplit(t *testing.T) {
	f := newFixture(t, setup{})
	if _, err := f.commit(put("a", "0"), put("z", "0")); err != nil {
		t.Fatal(err)
	}
	f.settle()
	if _, err := f.mock.SplitTxn([]byte("m")); err != nil {
		t.Fatal(err)
	}
	f.log.take()
	d, err := f.commit(put("a", "1"), put("z", "2"))
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	var pws []*kvrpcpb.PrewriteRequest
	for _, e := range f.log.take() {
		if pw, ok := e.msg.(*kvrpcpb.PrewriteRequest); ok {
			pws = append(pws, pw)
		}
	}
	if len(pws) != 3 || pws[0].TxnSize != 2 || pws[0].Context.GetIsRetryRequest() {
		t.Fatalf("prewrites %v", pws)
	}
	for _, pw := range pws[1:] {
		if pw.TxnSize != math.MaxUint64 || !pw.Context.GetIsRetryRequest() || len(pw.Mutations) != 1 {
			t.Fatalf("re-split prewrite %v", pw)
		}
	}
	if d.PrewriteBatches != 3 || d.PrewriteRegions != 1 {
		t.Fatalf("details %+v", d)
	}
	f.settle()
	f.mustGet("a", "1")
	f.mustGet("z", "2")
}

// A split between prewrite and commit narrows the primary's batch to the
// primary's new region; the keys that left it are committed as
// secondaries, after the primary (client-go's commit relocates the
// primary batch and commits the primary first again).
func TestCommitPrimaryAfterSplit(t *testing.T) {
	f := newFixture(t, setup{})
	if _, err := f.commit(put("a", "0"), put("z", "0")); err != nil {
		t.Fatal(err)
	}
	f.settle()
	var once sync.Once
	split := func(req *transport.Request) {
		if req.Cmd == transport.CmdPrewrite {
			once.Do(func() {
				if _, err := f.mock.SplitTxn([]byte("m")); err != nil {
					t.Error(err)
				}
			})
		}
	}
	f.log.after.Store(&split)
	f.log.take()
	d, err := f.commit(put("a", "1"), put("z", "2"))
	f.log.after.Store(nil)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	if d.PrimaryBatchKeys != 1 || d.SecondaryKeys != 1 || !d.SecondariesQueued {
		t.Fatalf("details %+v", d)
	}
	f.settle()
	commits := f.commitRequests()
	last := commits[len(commits)-1]
	if len(commits) != 3 || len(commits[0].Keys) != 2 || string(commits[1].Keys[0]) != "a" || len(commits[1].Keys) != 1 ||
		commits[1].CommitRole != kvrpcpb.CommitRole_Primary || string(last.Keys[0]) != "z" || last.CommitRole != kvrpcpb.CommitRole_Secondary {
		t.Fatalf("commits %v", commits)
	}
	f.mustGet("a", "1")
	f.mustGet("z", "2")
}

// Batches close at Options.BatchSize bytes: key and value bytes for a
// prewrite, key bytes for a commit; the primary's batch is the one of its
// region holding the primary, committed alone first.
func TestBatchSizes(t *testing.T) {
	f := newFixture(t, setup{opts: twopc.Options{BatchSize: 32}})
	f.log.take()
	muts := puts(10) // 8-byte keys, 10-byte values: 18 bytes each
	d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: f.ts(), Primary: []byte(keyN(5)), Mutations: muts})
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	f.settle()
	if d.PrewriteBatches != 10 || d.PrimaryBatchKeys != 4 || d.SecondaryKeys != 6 {
		t.Fatalf("details %+v", d)
	}
	commits := f.commitRequests()
	first := commits[0]
	if first.CommitRole != kvrpcpb.CommitRole_Primary || len(first.Keys) != 4 || string(first.Keys[0]) != keyN(4) || string(first.Keys[3]) != keyN(7) {
		t.Fatalf("primary batch %q", first.Keys)
	}
	if len(commits) != 3 { // the primary batch, then keys 0-3 and 8-9 (batches of up to 4 keys)
		t.Fatalf("%d commit requests", len(commits))
	}
	for i := range 10 {
		f.mustGet(keyN(i), valN(i))
	}
}
