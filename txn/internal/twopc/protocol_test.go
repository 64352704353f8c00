package twopc_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// holdCommits blocks every Commit RPC until the returned gate is opened
// (opened again at the test's end): it suppresses an async commit's
// background commit phase (client-go's asyncCommitDoNothing failpoint).
func (f *fixture) holdCommits() *mocktikv.Gate {
	gate := mocktikv.NewGate()
	h := f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Block(gate))}})
	f.t.Cleanup(func() {
		h.Remove()
		gate.Open()
	})
	return gate
}

// mustMiss fails unless key has no value at ts.
func (f *fixture) mustMiss(key string, ts uint64) {
	f.t.Helper()
	if v, err := f.get(key, ts); err != nil || v != nil {
		f.t.Fatalf("get %q at %d = %q, %v; want none", key, ts, v, err)
	}
}

// mustGetAt fails unless key reads want at ts.
func (f *fixture) mustGetAt(key, want string, ts uint64) {
	f.t.Helper()
	if v, err := f.get(key, ts); err != nil || string(v) != want {
		f.t.Fatalf("get %q at %d = %q, %v; want %q", key, ts, v, err, want)
	}
}

// TestAsyncCommitProtocolMinimum: issue #12's acceptance for async commit:
// an async commit costs one TSO (min commit ts) and the prewrites, all
// batches at once, and Commit returns before any Commit RPC is answered:
// here every Commit RPC is held, and Commit still returns. The primary's
// prewrite lists the secondaries, the others list none (S14, client-go
// TestPrewriteSecondaryKeys); the commit ts is the largest min_commit_ts
// TiKV answered. Once released, the background commit commits every key
// at that ts.
func TestAsyncCommitProtocolMinimum(t *testing.T) {
	f := newFixture(t, setup{splits: []string{"m"}, opts: twopc.Options{AsyncCommit: true}})
	gate := f.holdCommits()
	f.log.take()
	d, err := f.commit(put("a", "1"), put("b", "2"), put("z", "3"))
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	events := f.log.take()
	if got := names(events); !slices.Equal(got, []string{"TSO", prewriteCmd, prewriteCmd}) {
		t.Fatalf("protocol %v, want TSO then two prewrites", got)
	}
	if d.Protocol != twopc.ProtocolAsyncCommit || d.TSOCalls != 1 || d.CommitRPCs != 0 || !d.SecondariesQueued || d.SecondaryKeys != 3 {
		t.Fatalf("details %+v", d)
	}
	var maxMin uint64
	for _, pw := range prewrites(events) {
		if !pw.UseAsyncCommit || pw.TryOnePc || pw.MaxCommitTs <= pw.MinCommitTs || pw.MinCommitTs <= d.StartTS+1 {
			t.Fatalf("prewrite %+v", pw)
		}
		maxMin = max(maxMin, pw.MinCommitTs)
		var want [][]byte
		if holdsKey(pw, "a") {
			want = [][]byte{[]byte("b"), []byte("z")}
		}
		if !slices.EqualFunc(pw.Secondaries, want, bytes.Equal) {
			t.Fatalf("prewrite of %q lists secondaries %q, want %q", pw.Mutations[0].Key, pw.Secondaries, want)
		}
	}
	if d.CommitTS < maxMin {
		t.Fatalf("commit ts %d below a requested min commit ts %d", d.CommitTS, maxMin)
	}
	if l := f.locksNow(); len(l) != 3 {
		t.Fatalf("%d locks while the commit phase is held, want 3", len(l))
	}
	gate.Open()
	f.settle()
	if l := f.locksNow(); len(l) != 0 {
		t.Fatalf("locks left: %v", l)
	}
	for _, c := range commitsOf(f.log.take()) {
		if c.CommitVersion != d.CommitTS || !c.UseAsyncCommit {
			t.Fatalf("background commit %+v, want commit ts %d", c, d.CommitTS)
		}
	}
	f.mustGetAt("z", "3", d.CommitTS)
	f.mustMiss("z", d.CommitTS-1)
}

// prewriteCmd names a prewrite event.
var prewriteCmd = transport.CmdPrewrite.String()

// locksNow is locks with a ScanLock at a fresh ts: locks' max_version
// (MaxInt64) would push the store's max_ts that far (TiKV's ScanLock
// updates it), and every later async-commit prewrite would fall back.
func (f *fixture) locksNow() []*kvrpcpb.LockInfo {
	f.t.Helper()
	plan := pipeline.Collect(pipeline.Shard(f.env,
		pipeline.ByRange(func(r *kvrpcpb.ScanLockRequest) ([]byte, []byte) { return r.StartKey, r.EndKey },
			func(r *kvrpcpb.ScanLockRequest, start, end []byte) *kvrpcpb.ScanLockRequest {
				c := *r
				c.StartKey, c.EndKey = start, end
				return &c
			}),
		pipeline.Retry(f.env, plans.KvScanLock)), (*kvrpcpb.ScanLockResponse).GetLocks)
	locks, err := plan(context.Background(), &kvrpcpb.ScanLockRequest{MaxVersion: f.ts(), Limit: 10000})
	if err != nil {
		f.t.Fatalf("scan locks: %v", err)
	}
	return locks
}

func holdsKey(pw *kvrpcpb.PrewriteRequest, key string) bool {
	return slices.ContainsFunc(pw.Mutations, func(m *kvrpcpb.Mutation) bool { return string(m.Key) == key })
}

func commitsOf(es []event) []*kvrpcpb.CommitRequest {
	var out []*kvrpcpb.CommitRequest
	for _, e := range es {
		if c, ok := e.msg.(*kvrpcpb.CommitRequest); ok {
			out = append(out, c)
		}
	}
	return out
}

// TestOnePCProtocolMinimum: issue #12's acceptance for 1PC, and client-go
// 1pc_test.go Test1PC: a one-region transaction costs the min commit ts
// TSO and one Prewrite (none with causal consistency); every key is
// committed at one commit ts above the start ts, nothing at commit ts - 1,
// no lock is left and no heartbeat ran; overwriting keeps the old version
// readable below the new commit ts.
func TestOnePCProtocolMinimum(t *testing.T) {
	for _, causal := range []bool{false, true} {
		f := newFixture(t, setup{opts: twopc.Options{OnePC: true, CausalConsistency: causal}})
		f.log.take()
		d, err := f.commit(put("k3", "v3"), put("k4", "v4"), put("k5", "v5"))
		if err != nil {
			t.Fatalf("commit: %v", err)
		}
		want := []string{"TSO", prewriteCmd}
		if causal {
			want = want[1:]
		}
		events := f.log.take()
		if got := names(events); !slices.Equal(got, want) {
			t.Fatalf("causal %v: protocol %v, want %v", causal, got, want)
		}
		if pw := prewrites(events)[0]; !pw.TryOnePc || pw.UseAsyncCommit || pw.MaxCommitTs == 0 {
			t.Fatalf("prewrite %+v", pw)
		}
		if d.Protocol != twopc.ProtocolOnePC || d.CommitTS <= d.StartTS || d.CommitRPCs != 0 || d.HeartbeatRPCs != 0 || d.SecondariesQueued {
			t.Fatalf("details %+v", d)
		}
		if l := f.locksNow(); len(l) != 0 {
			t.Fatalf("locks left: %v", l)
		}
		for _, k := range []string{"k3", "k4", "k5"} {
			f.mustGetAt(k, "v"+k[1:], d.CommitTS)
			f.mustMiss(k, d.CommitTS-1)
		}
		d2, err := f.commit(put("k5", "v5new"))
		if err != nil || d2.Protocol != twopc.ProtocolOnePC {
			t.Fatalf("overwrite: %v, details %+v", err, d2)
		}
		f.mustGetAt("k5", "v5new", d2.CommitTS)
		f.mustGetAt("k5", "v5", d2.CommitTS-1)
	}
}

// ports client-go 1pc_test.go Test1PCDisallowMultiRegion: a transaction
// over two regions does not try 1PC (no prewrite carries try_one_pc) and
// commits with 2PC; with async commit also on, it commits with async
// commit instead.
func TestOnePCDisallowMultiRegion(t *testing.T) {
	for _, async := range []bool{false, true} {
		f := newFixture(t, setup{splits: []string{"k2"}, opts: twopc.Options{OnePC: true, AsyncCommit: async}})
		f.log.take()
		d, err := f.commit(put("k1", "v1"), put("k2", "v2"))
		if err != nil {
			t.Fatalf("commit: %v", err)
		}
		want := twopc.ProtocolTwoPC
		if async {
			want = twopc.ProtocolAsyncCommit
		}
		if d.Protocol != want || d.OnePCFallback || d.CommitTS <= d.StartTS {
			t.Fatalf("async %v: details %+v", async, d)
		}
		for _, pw := range prewrites(f.log.take()) {
			if pw.TryOnePc {
				t.Fatalf("prewrite tried 1PC: %+v", pw)
			}
		}
		f.settle()
		f.mustGet("k1", "v1")
		f.mustGet("k2", "v2")
	}
}

// pushMaxTS makes the store's max_ts pass every ts of the current
// millisecond of startTS and the next few: a read at a fresh ts whose
// physical part is past them (TiKV's concurrency manager takes max_ts from
// reads), so that a prewrite with max_commit_ts just above startTS falls
// back.
func (f *fixture) pushMaxTS(startTS uint64) {
	f.t.Helper()
	for {
		ts := f.ts()
		if pdclient.ExtractPhysical(ts) > pdclient.ExtractPhysical(startTS)+5 {
			if _, err := f.get("pushed", ts); err != nil {
				f.t.Fatal(err)
			}
			return
		}
	}
}

// S16 (client-go async_commit_test.go TestAsyncCommitFallBack family):
// TiKV cannot commit under max_commit_ts (its max_ts already passed it),
// answers min_commit_ts 0 and writes normal locks: the transaction falls
// back to two-phase commit, commits its primary with a TSO commit ts, and
// every value lands. The same for 1PC (one_pc_commit_ts 0), which also
// turns async commit off (client-go's handleSingleBatchSucceed).
func TestProtocolFallbackTo2PC(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts twopc.Options
	}{
		{"async", twopc.Options{AsyncCommit: true}},
		{"1pc", twopc.Options{OnePC: true}},
		{"1pc+async", twopc.Options{OnePC: true, AsyncCommit: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.CausalConsistency = true
			tc.opts.SafeWindow = 1 // ns: max_commit_ts = start ts (+ the txn's age, none here)
			f := newFixture(t, setup{opts: tc.opts})
			startTS := f.ts()
			f.pushMaxTS(startTS)
			d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: startTS, Mutations: []twopc.Mutation{put("a", "1"), put("b", "2")}})
			if err != nil {
				t.Fatalf("commit: %v", err)
			}
			wantAsyncFallback := tc.opts.AsyncCommit && !tc.opts.OnePC
			if d.Protocol != twopc.ProtocolTwoPC || d.AsyncCommitFallback != wantAsyncFallback ||
				d.OnePCFallback != tc.opts.OnePC || d.CommitRPCs == 0 || d.TSOCalls != 1 {
				t.Fatalf("details %+v", d)
			}
			f.settle()
			f.mustGetAt("a", "1", d.CommitTS)
			f.mustGetAt("b", "2", d.CommitTS)
			f.mustMiss("a", d.CommitTS-1)
			if l := f.locksNow(); len(l) != 0 {
				t.Fatalf("locks left: %v", l)
			}
		})
	}
}

// S14 (client-go async_commit_fail_test.go TestSecondaryListInPrimaryLock):
// over regions split at h, o and u, the async-commit primary's lock lists
// exactly the other keys (none for a one-key transaction), and no other
// lock lists any; the background commit is held so the locks stay.
func TestSecondaryListInPrimaryLock(t *testing.T) {
	f := newFixture(t, setup{splits: []string{"h", "o", "u"}, opts: twopc.Options{AsyncCommit: true}})
	gate := f.holdCommits()
	for n, names := range [][]string{{"a"}, {"a", "b"}, {"a", "b", "d"}, {"a", "b", "h", "i", "u"}, {"i", "a", "z", "u", "b"}} {
		// Keys of each case are its own: the held locks of a case must
		// not be met by the next.
		keys := make([]string, len(names))
		muts := make([]twopc.Mutation, len(names))
		for i, k := range names {
			keys[i] = fmt.Sprintf("%s_%d", k, n)
			muts[i] = put(keys[i], "v")
		}
		// The first key is the primary, in the order given.
		d, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: f.ts(), Mutations: muts})
		if err != nil || d.Protocol != twopc.ProtocolAsyncCommit {
			t.Fatalf("%v: commit %v, details %+v", keys, err, d)
		}
		want := slices.Clone(keys[1:])
		sort.Strings(want)
		for _, l := range f.locksNow() {
			if l.LockVersion != d.StartTS {
				continue
			}
			var got []string
			for _, s := range l.Secondaries {
				got = append(got, string(s))
			}
			sort.Strings(got)
			isPrimary := string(l.Key) == keys[0]
			if !l.UseAsyncCommit || isPrimary && !slices.Equal(got, want) || !isPrimary && len(got) != 0 {
				t.Fatalf("%v: lock of %q lists %v (async %v)", keys, l.Key, got, l.UseAsyncCommit)
			}
		}
	}
	gate.Open()
	f.settle()
}

// Async commit eligibility (client-go's checkAsyncCommit): at most
// AsyncCommitKeys mutations (256 by default) of at most
// AsyncCommitKeySize key bytes (4 KiB); a larger transaction commits with
// 2PC. 1PC has no such limit, only its one batch. Ports client-go's
// TestAsyncCommitCheck (integration_tests/2pc_test.go).
func TestAsyncCommitLimits(t *testing.T) {
	if w := (twopc.Options{}).SchemaChangeWait(); w != 2500*time.Millisecond {
		t.Fatalf("schema change wait %v", w)
	}
	f := newFixture(t, setup{opts: twopc.Options{AsyncCommit: true}})
	for _, tc := range []struct {
		muts []twopc.Mutation
		want twopc.Protocol
	}{
		{puts(twopc.DefaultAsyncCommitKeys), twopc.ProtocolAsyncCommit},
		{puts(twopc.DefaultAsyncCommitKeys + 1), twopc.ProtocolTwoPC},
		{[]twopc.Mutation{put(strings.Repeat("k", twopc.DefaultAsyncCommitKeySize), "v")}, twopc.ProtocolAsyncCommit},
		{[]twopc.Mutation{put(strings.Repeat("k", twopc.DefaultAsyncCommitKeySize+1), "v")}, twopc.ProtocolTwoPC},
	} {
		d, err := f.commit(tc.muts...)
		if err != nil || d.Protocol != tc.want {
			t.Fatalf("%d keys of %d bytes: %v, protocol %v, want %v", len(tc.muts), len(tc.muts[0].Key), err, d.Protocol, tc.want)
		}
		f.settle()
	}
	small := newFixture(t, setup{opts: twopc.Options{AsyncCommit: true, AsyncCommitKeys: 2, AsyncCommitKeySize: 9}})
	for _, tc := range []struct {
		muts []twopc.Mutation
		want twopc.Protocol
	}{
		{[]twopc.Mutation{put("a", "1"), put("b", "2")}, twopc.ProtocolAsyncCommit},
		{[]twopc.Mutation{put("a", "1"), put("b", "2"), put("c", "3")}, twopc.ProtocolTwoPC},
		{[]twopc.Mutation{put("aaaaa", "1"), put("bbbbb", "2")}, twopc.ProtocolTwoPC},
	} {
		if d, err := small.commit(tc.muts...); err != nil || d.Protocol != tc.want {
			t.Fatalf("%d keys: %v, protocol %v, want %v", len(tc.muts), err, d.Protocol, tc.want)
		}
		small.settle()
	}
}

// ports client-go 2pc_test.go TestPrewriteSecondaryKeys (S14): 70 keys of
// 1 KiB values over two regions make several batches; the primary's batch
// lists the other 69 keys once each and never the primary, every other
// batch lists none, and the transaction commits with async commit.
func TestPrewriteSecondaryKeys(t *testing.T) {
	f := newFixture(t, setup{splits: []string{keyN(40)}, opts: twopc.Options{AsyncCommit: true}})
	muts := puts(70)
	for i := range muts {
		muts[i].Value = make([]byte, 1024)
	}
	f.log.take()
	d, err := f.commit(muts...)
	if err != nil || d.Protocol != twopc.ProtocolAsyncCommit || d.PrewriteBatches < 4 {
		t.Fatalf("commit: %v, details %+v", err, d)
	}
	primaryBatches := 0
	for _, pw := range prewrites(f.log.take()) {
		if !pw.UseAsyncCommit {
			t.Fatalf("prewrite without async commit: %+v", pw)
		}
		if !holdsKey(pw, keyN(0)) {
			if len(pw.Secondaries) != 0 {
				t.Fatalf("secondary batch lists %d secondaries", len(pw.Secondaries))
			}
			continue
		}
		primaryBatches++
		seen := map[string]bool{}
		for _, k := range pw.Secondaries {
			if string(k) == keyN(0) || seen[string(k)] {
				t.Fatalf("secondary %q listed twice or is the primary", k)
			}
			seen[string(k)] = true
		}
		if len(seen) != 69 {
			t.Fatalf("primary batch lists %d secondaries, want 69", len(seen))
		}
	}
	if primaryBatches != 1 {
		t.Fatalf("%d primary batches", primaryBatches)
	}
	f.settle()
	f.mustGet(keyN(69), string(make([]byte, 1024)))
}
