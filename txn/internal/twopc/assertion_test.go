package twopc_test

import (
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// TestPrewriteAssertionYieldsToOtherFailure: a batch's assertion failure
// neither cancels the other batches nor hides their failure (client-go's
// batchExecutor: an assertion may be a false alarm of a lost pessimistic
// lock, whose batch fails with the true cause). The other batch answers
// late, so that the assertion failure arrives first.
func TestPrewriteAssertionYieldsToOtherFailure(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		for _, otherFails := range []bool{false, true} {
			f := newFixture(t, setup{grpc: grpc, splits: []string{"m"}})
			if _, err := f.commit(put("a", "old")); err != nil {
				t.Fatalf("write a: %v", err)
			}
			f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: []byte("z"),
				Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Delay(100*time.Millisecond))}})
			if otherFails {
				f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Key: []byte("z"),
					Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.KeyError(&kvrpcpb.KeyError{Abort: "injected"}))}})
			}
			a := put("a", "new")
			a.Assertion = kvrpcpb.Assertion_NotExist
			_, err := f.committer.Commit(t.Context(), twopc.Request{StartTS: f.ts(), AssertionLevel: kvrpcpb.AssertionLevel_Strict,
				Mutations: []twopc.Mutation{a, put("z", "1")}})
			var abort *kv.AbortError
			switch {
			case otherFails && (errors.Is(err, kv.ErrAssertionFailed) || !errors.As(err, &abort)):
				t.Fatalf("grpc %v: commit = %v, want the injected abort", grpc, err)
			case !otherFails && !errors.Is(err, kv.ErrAssertionFailed):
				t.Fatalf("grpc %v: commit = %v, want the assertion failure", grpc, err)
			}
			f.settle()
			if locks := f.locks(); len(locks) != 0 {
				t.Fatalf("grpc %v: %d locks left after the failed prewrite", grpc, len(locks))
			}
			f.mustGet("a", "old")
			f.mustGet("z", "")
		}
	}
}
