package txn_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// holdCommits blocks every Commit RPC until the returned gate opens (at
// the latest when the test ends): client-go's asyncCommitDoNothing.
func (p *portCluster) holdCommits() *mocktikv.Gate {
	gate := mocktikv.NewGate()
	h := p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Block(gate))}})
	p.t.Cleanup(func() {
		h.Remove()
		gate.Open()
	})
	return gate
}

// setAll buffers "k1", "v1", ... in tx.
func setAll(t *testing.T, tx *txn.Txn, pairs ...string) {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := tx.Set([]byte(pairs[i]), []byte(pairs[i+1])); err != nil {
			t.Fatal(err)
		}
	}
}

// snapGet reads key at ts ("" when not found).
func (p *portCluster) snapGet(ts uint64, key string) string {
	p.t.Helper()
	v, err := p.client.Snapshot(ts).Get(context.Background(), []byte(key))
	if errors.Is(err, kv.ErrNotFound) {
		return ""
	}
	if err != nil {
		p.t.Fatalf("get %q at %d: %v", key, ts, err)
	}
	return string(v)
}

// TestTxnAsyncCommitAnd1PCProtocolMinimum: issue #12's acceptance, seen by
// a request recorder middleware: a one-region 1PC commit sends one
// Prewrite after Begin's TSO and the min commit ts TSO (none with causal
// consistency); an async commit over two regions sends the two Prewrites
// and Commit returns while every Commit RPC is held, so before any is
// answered; the background commit then lands the values. In process and
// over gRPC.
func TestTxnAsyncCommitAnd1PCProtocolMinimum(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(t *testing.T) { protocolMinimum(t, grpc) })
	}
}

// protocolMinimum is TestTxnAsyncCommitAnd1PCProtocolMinimum in one mode.
func protocolMinimum(t *testing.T, grpc bool) {
	p := newPortCluster(t, grpc, nil)
	if _, err := p.mock.SplitTxn([]byte("m")); err != nil {
		t.Fatal(err)
	}
	for _, causal := range []bool{false, true} {
		tx := p.begin(txn.WithOnePC(true), txn.WithCausalConsistency(causal))
		setAll(t, tx, "b", "1", "c", "2")
		p.log.take()
		if err := tx.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		d := tx.CommitDetails()
		wantTSO := 1
		if causal {
			wantTSO = 0
		}
		if cmds := p.log.take(); !slices.Equal(cmds, []transport.Cmd{transport.CmdPrewrite}) || d.Protocol != txn.ProtocolOnePC ||
			d.TSOCalls != wantTSO || tx.CommitTS() <= tx.StartTS() {
			t.Fatalf("causal %v: 1PC sent %v, details %+v", causal, cmds, d)
		}
	}

	gate := p.holdCommits()
	tx := p.begin(txn.WithAsyncCommit(true))
	setAll(t, tx, "a", "3", "z", "4")
	p.log.take()
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	cmds := p.log.take()
	d := tx.CommitDetails()
	if len(cmds) < 2 || !slices.Equal(cmds[:2], []transport.Cmd{transport.CmdPrewrite, transport.CmdPrewrite}) ||
		slices.Contains(cmds[2:], transport.CmdPrewrite) || d.Protocol != txn.ProtocolAsyncCommit || d.TSOCalls != 1 || d.CommitRPCs != 0 {
		t.Fatalf("async commit sent %v, details %+v", cmds, d)
	}
	if gate.Waiting() > 2 {
		t.Fatalf("%d commits held, want at most one per region", gate.Waiting())
	}
	gate.Open()
	p.mustGet("a", "3")
	p.mustGet("z", "4")
	if got := p.snapGet(tx.CommitTS()-1, "z"); got != "" {
		t.Fatalf("z at commit ts - 1 = %q", got)
	}
}

// TestCommitProtocolOptions ports client-go 1pc_test.go Test1PC's switch
// cases: 2PC by default; the client's CommitOptions turn a protocol on for
// every transaction, a Begin option overrides it either way.
func TestCommitProtocolOptions(t *testing.T) {
	p := newPortCluster(t, false, nil, txn.WithCommitOptions(txn.CommitOptions{OnePC: true}))
	plain := newPortCluster(t, false, nil)
	for _, tc := range []struct {
		p    *portCluster
		opts []txn.BeginOption
		want txn.Protocol
	}{
		{plain, nil, txn.ProtocolTwoPC},
		{plain, []txn.BeginOption{txn.WithOnePC(true)}, txn.ProtocolOnePC},
		{plain, []txn.BeginOption{txn.WithAsyncCommit(true)}, txn.ProtocolAsyncCommit},
		{p, nil, txn.ProtocolOnePC},
		{p, []txn.BeginOption{txn.WithOnePC(false)}, txn.ProtocolTwoPC},
		{p, []txn.BeginOption{txn.WithOnePC(false), txn.WithAsyncCommit(true)}, txn.ProtocolAsyncCommit},
	} {
		tx := tc.p.begin(tc.opts...)
		setAll(t, tx, "k", "v")
		if err := tx.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		if d := tx.CommitDetails(); d.Protocol != tc.want || tx.CommitTS() <= tx.StartTS() {
			t.Fatalf("%d options: protocol %v, want %v", len(tc.opts), d.Protocol, tc.want)
		}
		tc.p.mustGet("k", "v")
	}
}

// ports client-go 1pc_test.go Test1PCIsolation and async_commit_test.go
// TestRepeatableRead (optimistic; S01): a transaction that began before a
// 1PC or async commit (and after its start) keeps reading the old value
// after it; the new value is at the commit ts, the old one just below; a
// transaction begun after the commit reads the new one.
func TestOnePCAndAsyncCommitIsolation(t *testing.T) {
	p := newPortCluster(t, false, nil)
	for _, opt := range []txn.BeginOption{txn.WithOnePC(true), txn.WithAsyncCommit(true)} {
		first := p.begin(opt)
		setAll(t, first, "k", "v1")
		if err := first.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		writer := p.begin(opt)
		if v, err := writer.Get(t.Context(), []byte("k")); err != nil || string(v) != "v1" {
			t.Fatalf("writer reads %q, %v", v, err)
		}
		setAll(t, writer, "k", "v2")
		// Make a wrong commit ts (below the reader's start) likely if the
		// commit ts were not taken above every ts handed out.
		for range 10 {
			p.now()
		}
		reader := p.begin()
		if v, err := reader.Get(t.Context(), []byte("k")); err != nil || string(v) != "v1" {
			t.Fatalf("reader reads %q, %v", v, err)
		}
		if err := writer.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		if d := writer.CommitDetails(); d.Protocol == txn.ProtocolTwoPC || writer.CommitTS() <= reader.StartTS() {
			t.Fatalf("details %+v, reader start %d", d, reader.StartTS())
		}
		if v, err := reader.Get(t.Context(), []byte("k")); err != nil || string(v) != "v1" {
			t.Fatalf("reader re-reads %q, %v", v, err)
		}
		_ = reader.Rollback()
		p.mustGet("k", "v2")
		if got := p.snapGet(writer.CommitTS(), "k"); got != "v2" {
			t.Fatalf("at commit ts %q", got)
		}
		if got := p.snapGet(writer.CommitTS()-1, "k"); got != "v1" {
			t.Fatalf("below commit ts %q", got)
		}
	}
}

// ports client-go 1pc_test.go Test1PCLinearizability and
// async_commit_test.go TestAsyncCommitLinearizability (S06): of two
// transactions begun together, the one that commits later gets the larger
// commit ts, with 1PC and with async commit (linearizable by default).
func TestOnePCAndAsyncCommitLinearizability(t *testing.T) {
	p := newPortCluster(t, false, nil)
	for _, opt := range []txn.BeginOption{txn.WithOnePC(true), txn.WithAsyncCommit(true)} {
		t1, t2 := p.begin(opt), p.begin(opt)
		setAll(t, t1, "linear_a", "a1")
		setAll(t, t2, "linear_b", "b1")
		if err := t2.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := t1.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		if t2.CommitTS() >= t1.CommitTS() || t1.CommitDetails().Protocol == txn.ProtocolTwoPC {
			t.Fatalf("commit ts %d (first) >= %d (second)", t2.CommitTS(), t1.CommitTS())
		}
	}
}

// ports client-go 1pc_test.go Test1PCDisallowMultiRegion: a 1PC
// transaction over two regions commits with 2PC, and every value lands.
func TestOnePCDisallowMultiRegionTxn(t *testing.T) {
	p := newPortCluster(t, false, nil)
	tx := p.begin(txn.WithOnePC(true))
	setAll(t, tx, "k0", "v0", "k3", "v3")
	if err := tx.Commit(t.Context()); err != nil || tx.CommitDetails().Protocol != txn.ProtocolOnePC {
		t.Fatalf("one region: %v, %+v", err, tx.CommitDetails())
	}
	if _, err := p.mock.SplitTxn([]byte("k2")); err != nil {
		t.Fatal(err)
	}
	tx = p.begin(txn.WithOnePC(true))
	setAll(t, tx, "k1", "v1", "k2", "v2")
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := tx.CommitDetails(); d.Protocol != txn.ProtocolTwoPC || d.OnePCFallback || tx.CommitTS() <= tx.StartTS() {
		t.Fatalf("two regions: details %+v", d)
	}
	for _, k := range []string{"k0", "k1", "k2", "k3"} {
		p.mustGet(k, "v"+k[1:])
	}
}

// ports client-go async_commit_test.go TestResolveTxnFallbackFromAsyncCommit
// (S16): a transaction's two keys are prewritten with async commit by hand
// (lock TTL 1 ms), one, the other or both with max_commit_ts 1 so that
// TiKV falls back to a normal lock; the primary is never committed.
// Readers with a 1 s deadline, reading the primary or the secondary first,
// find the transaction rolled back and read the values committed before.
func TestResolveTxnFallbackFromAsyncCommit(t *testing.T) {
	p := newPortCluster(t, false, nil)
	keys := []string{"k0", "k1"}
	env := p.cluster.EnvFor(kv.ModeTxn)
	plan := pipeline.Shard(env, prewriteSplit, pipeline.Retry(env, plans.KvPrewrite))
	n := 0
	for _, fallback := range [][2]bool{{true, false}, {false, true}, {true, true}} {
		for _, readPrimaryFirst := range []bool{true, false} {
			n++
			p.commit("k0", "v00", "k1", "v10")
			start := p.now()
			for i, k := range keys {
				req := &kvrpcpb.PrewriteRequest{
					Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: []byte("new")}},
					PrimaryLock: []byte("k0"), StartVersion: start, LockTtl: 1, TxnSize: 2,
					MinCommitTs: start + 1, UseAsyncCommit: true,
				}
				if i == 0 {
					req.Secondaries = [][]byte{[]byte("k1")}
				}
				if fallback[i] {
					req.MaxCommitTs = 1
				}
				if _, err := plan(context.Background(), req); err != nil {
					t.Fatalf("prewrite %s: %v", k, err)
				}
			}
			order := []int{0, 1}
			if !readPrimaryFirst {
				order = []int{1, 0}
			}
			for _, i := range order {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				v, err := p.begin().Get(ctx, []byte(keys[i]))
				cancel()
				want := []string{"v00", "v10"}[i]
				if err != nil || string(v) != want {
					t.Fatalf("case %d: %s = %q, %v; want %q", n, keys[i], v, err, want)
				}
			}
		}
	}
}

// ports client-go async_commit_fail_test.go TestPointGetWithAsyncCommit
// (S13): an async-commit transaction whose prewrites all succeeded is
// committed even though its commit phase never runs: a read at MaxUint64
// resolves its locks to the new values (and, reading at MaxUint64, does not
// push max_ts past the commit ts), and so does a later transaction.
func TestPointGetWithAsyncCommit(t *testing.T) {
	t.Parallel()
	p := newPortCluster(t, false, nil)
	p.commit("a", "a", "b", "b")
	p.holdCommits()
	tx := p.begin(txn.WithAsyncCommit(true))
	setAll(t, tx, "a", "v1", "b", "v2")
	if got := p.snapGet(math.MaxUint64, "a"); got != "a" {
		t.Fatalf("before commit a = %q", got)
	}
	if err := tx.Commit(t.Context()); err != nil || tx.CommitDetails().Protocol != txn.ProtocolAsyncCommit {
		t.Fatalf("commit: %v, %+v", err, tx.CommitDetails())
	}
	if a, b := p.snapGet(math.MaxUint64, "a"), p.snapGet(math.MaxUint64, "b"); a != "v1" || b != "v2" {
		t.Fatalf("latest reads a=%q b=%q", a, b)
	}
	p.mustGet("a", "v1")
	p.mustGet("b", "v2")
}

// ports client-go async_commit_fail_test.go
// TestFailAsyncCommitPrewriteRpcErrors end to end (S34d), in process and
// over gRPC: every prewrite answer is lost until the caller's deadline:
// the commit is kv.ErrUndetermined, the transaction can no longer be
// rolled back, and it is in fact committed: a later transaction reads its
// value (resolving its async-commit lock once the TTL ran out).
func TestTxnAsyncCommitPrewriteUndetermined(t *testing.T) {
	t.Parallel()
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(t *testing.T) {
			t.Parallel()
			asyncPrewriteUndetermined(t, grpc)
		})
	}
}

// asyncPrewriteUndetermined is TestTxnAsyncCommitPrewriteUndetermined in one mode.
func asyncPrewriteUndetermined(t *testing.T, grpc bool) {
	p := newPortCluster(t, grpc, nil)
	h := p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Steps: []mocktikv.Step{
		mocktikv.Always(mocktikv.LoseResponse(status.Error(codes.Unavailable, "response lost"))),
	}})
	tx := p.begin(txn.WithAsyncCommit(true))
	setAll(t, tx, "a", "a1")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := tx.Commit(ctx)
	cancel()
	if !errors.Is(err, kv.ErrUndetermined) {
		t.Fatalf("grpc %v: commit = %v, want undetermined", grpc, err)
	}
	if err := tx.Rollback(); !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("rollback after commit: %v", err)
	}
	h.Remove()
	p.mustGet("a", "a1")
}
