package twopc_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// wantContext is what the request-context fields of one request must be.
type wantContext struct {
	pri       kvrpcpb.CommandPri
	syncLog   bool
	source    string
	tag       string
	group     string
	diskFull  kvrpcpb.DiskFullOpt
	txnSource uint64
	maxExecMs uint64
}

func checkContext(t *testing.T, what string, c *kvrpcpb.Context, w wantContext) {
	t.Helper()
	got := wantContext{
		pri: c.GetPriority(), syncLog: c.GetSyncLog(), source: c.GetRequestSource(), tag: string(c.GetResourceGroupTag()),
		group: c.GetResourceControlContext().GetResourceGroupName(), diskFull: c.GetDiskFullOpt(),
		txnSource: c.GetTxnSource(), maxExecMs: c.GetMaxExecutionDurationMs(),
	}
	if got != w {
		t.Errorf("%s context = %+v, want %+v", what, got, w)
	}
	if c.GetRegionId() == 0 {
		t.Errorf("%s context lost its routing fields: %+v", what, c)
	}
}

// The request context reaches every prewrite, commit (primary and
// secondaries) and heartbeat of a transaction: the Request's fields over
// the committer's defaults (Options.Context), field by field
// (client-go's committer copies the transaction's priority, sync log,
// resource group, disk-full option and txn source into the Context of
// each prewrite and commit).
func TestRequestContextOnWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, setup{splits: []string{"b"}, opts: twopc.Options{
			HeartbeatTxnSize: 1,
			Context: twopc.RequestContext{
				Priority: kvrpcpb.CommandPri_Low, RequestSource: "client-default", ResourceGroupName: "rg-default",
				MaxExecution: 7 * time.Second,
			},
		}})
		gate := mocktikv.NewGate()
		f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Match: primaryCommit, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.Block(gate)),
		}})
		req := twopc.Request{StartTS: f.ts(), Mutations: []twopc.Mutation{put("a", "1"), put("c", "3")},
			Context: twopc.RequestContext{
				Priority: kvrpcpb.CommandPri_High, SyncLog: true, ResourceGroupTag: []byte("tag"),
				DiskFullOpt: kvrpcpb.DiskFullOpt_AllowedOnAlmostFull, TxnSource: 42,
			}}
		done := make(chan error, 1)
		go func() {
			_, err := f.committer.Commit(context.Background(), req)
			done <- err
		}()
		<-gate.Arrived()
		time.Sleep(11 * time.Second) // one heartbeat, at 10 s
		synctest.Wait()
		gate.Open()
		if err := <-done; err != nil {
			t.Fatalf("commit: %v", err)
		}
		f.settle()
		want := wantContext{pri: kvrpcpb.CommandPri_High, syncLog: true, source: "client-default", tag: "tag",
			group: "rg-default", diskFull: kvrpcpb.DiskFullOpt_AllowedOnAlmostFull, txnSource: 42, maxExecMs: 7000}
		seen := map[string]int{}
		for _, e := range f.log.take() {
			m, ok := e.msg.(interface{ GetContext() *kvrpcpb.Context })
			if !ok {
				continue
			}
			seen[e.what]++
			checkContext(t, e.what, m.GetContext(), want)
		}
		for _, cmd := range []transport.Cmd{transport.CmdPrewrite, transport.CmdCommit, transport.CmdTxnHeartBeat} {
			if seen[cmd.String()] == 0 {
				t.Errorf("no %s request seen: %v", cmd, seen)
			}
		}
		if seen[transport.CmdCommit.String()] < 2 {
			t.Errorf("%d commits, want the primary's and the secondary's", seen[transport.CmdCommit.String()])
		}
	})
}

// A failed commit's rollback carries the request context but for
// disk_full_opt and txn_source, which client-go's cleanup does not send;
// without any setting a write carries only the pipeline's default
// execution limit (client-go's MaxWriteExecutionTime, 20 s).
func TestRequestContextOnRollback(t *testing.T) {
	f := newFixture(t, setup{noResolve: true})
	older := f.ts()
	if _, err := f.commit(put("a", "new")); err != nil {
		t.Fatal(err)
	}
	for _, e := range f.log.take() {
		if m, ok := e.msg.(interface{ GetContext() *kvrpcpb.Context }); ok && e.what != "TSO" {
			checkContext(t, e.what, m.GetContext(), wantContext{maxExecMs: 20000})
		}
	}
	_, err := f.committer.Commit(context.Background(), twopc.Request{StartTS: older,
		Mutations: []twopc.Mutation{put("a", "old")},
		Context: twopc.RequestContext{Priority: kvrpcpb.CommandPri_Low, RequestSource: "src", ResourceGroupTag: []byte("tag"),
			ResourceGroupName: "rg", DiskFullOpt: kvrpcpb.DiskFullOpt_AllowedOnAlreadyFull, TxnSource: 7, SyncLog: true}})
	if !errors.Is(err, kv.ErrWriteConflict) {
		t.Fatalf("commit below a newer write = %v, want a write conflict", err)
	}
	f.settle()
	rollbacks := 0
	for _, e := range f.log.take() {
		switch m := e.msg.(type) {
		case *kvrpcpb.PrewriteRequest:
			checkContext(t, e.what, m.Context, wantContext{pri: kvrpcpb.CommandPri_Low, syncLog: true, source: "src", tag: "tag",
				group: "rg", diskFull: kvrpcpb.DiskFullOpt_AllowedOnAlreadyFull, txnSource: 7, maxExecMs: 20000})
		case *kvrpcpb.BatchRollbackRequest:
			rollbacks++
			checkContext(t, e.what, m.Context, wantContext{pri: kvrpcpb.CommandPri_Low, syncLog: true, source: "src", tag: "tag",
				group: "rg", maxExecMs: 20000})
		}
	}
	if rollbacks == 0 {
		t.Fatal("the failed commit sent no rollback")
	}
}
