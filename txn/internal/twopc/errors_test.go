package twopc_test

import (
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// TestPrewriteErrorRules: a failed prewrite never reads as undetermined
// (the primary was not committed), even when a batch's RPC outcome was
// unknown; it is retryable when its decisive failure is a conflict or an
// unknown outcome, not when it is, say, an existing key; As finds the
// decisive failure's type.
func TestPrewriteErrorRules(t *testing.T) {
	type shardErr = pipeline.ShardError[*kvrpcpb.PrewriteRequest, *kvrpcpb.PrewriteResponse]
	conflict := &kv.WriteConflictError{Key: []byte("k")}
	lost := kv.Undetermined(errors.New("connection reset"))
	exists := &kv.AlreadyExistError{Key: []byte("k")}
	for _, tc := range []struct {
		name      string
		cause     error
		retryable bool
	}{
		{"conflict, sibling lost", &shardErr{Pieces: []pipeline.PieceOutcome[*kvrpcpb.PrewriteRequest, *kvrpcpb.PrewriteResponse]{
			{Err: conflict, State: pipeline.PieceFailed}, {Err: lost, State: pipeline.PieceUndetermined}}}, true},
		{"lost alone", lost, true},
		{"key exists", exists, false},
	} {
		err := error(&twopc.PrewriteError{StartTS: 1, Cause: tc.cause})
		if errors.Is(err, kv.ErrUndetermined) {
			t.Errorf("%s: a prewrite failure reads as undetermined", tc.name)
		}
		if errors.Is(err, kv.ErrTxnRetryable) != tc.retryable {
			t.Errorf("%s: retryable %v, want %v", tc.name, !tc.retryable, tc.retryable)
		}
	}
	var wc *kv.WriteConflictError
	var ae *kv.AlreadyExistError
	if !errors.As(&twopc.PrewriteError{Cause: conflict}, &wc) || !errors.As(&twopc.PrewriteError{Cause: exists}, &ae) {
		t.Fatal("As does not find the decisive failure")
	}
}
