package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
)

// TestRunAgainstPDCountsFailedCommits drives a cluster the test owns
// through -pd (the real-cluster path) and makes three prewrites fail: the
// three transactions fail in the TXN and COMMIT rows (not in the UPDATE
// row, whose statements succeeded), the run line counts them, and
// -strict turns them into ErrOperationsFailed.
func TestRunAgainstPDCountsFailedCommits(t *testing.T) {
	mock := mocktikv.NewCluster(mocktikv.WithStores(2))
	if err := mock.Serve(); err != nil {
		t.Fatal(err)
	}
	defer mock.Close()
	h := mock.Inject(mocktikv.Fault{
		Cmd:   transport.CmdPrewrite,
		Steps: []mocktikv.Step{mocktikv.Times(3, mocktikv.KeyError(&kvrpcpb.KeyError{Abort: "injected by the test"}))},
	})
	defer h.Remove()

	s, err := runJSON(t, context.Background(), "-pd", strings.Join(mock.PDAddrs(), ","), "-mode", "txn", "-phase", "run",
		"-readprop", "0", "-updateprop", "1", "-operationcount", "20", "-threads", "1", "-strict")
	if !errors.Is(err, ErrOperationsFailed) {
		t.Fatalf("run = %v, want ErrOperationsFailed", err)
	}
	if h.Hits() != 3 {
		t.Fatalf("fault hit %d times, want 3", h.Hits())
	}
	if s.Config.Target != strings.Join(mock.PDAddrs(), ",") || s.Load != nil {
		t.Fatalf("target %q, load %+v", s.Config.Target, s.Load)
	}
	checkConsistent(t, s.Run)
	if s.Run.Ops != 20 || s.Run.Errors != 0 || s.Run.Txns != 20 || s.Run.FailedTxns != 3 {
		t.Fatalf("run: ops %d errors %d txns %d failed %d", s.Run.Ops, s.Run.Errors, s.Run.Txns, s.Run.FailedTxns)
	}
	for _, r := range s.Run.Transactions {
		if r.Errors != 3 || r.ErrorClasses["other"] == nil || !strings.Contains(r.ErrorClasses["other"].Sample, "injected by the test") {
			t.Fatalf("%s row: %+v", r.Name, r)
		}
	}
}
