package twopc

import (
	"context"
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
)

// TestFillResults: a force-lock answer reports its key through results[]
// (TiKV's future_acquire_pessimistic_lock): a normal result with what was
// read, a locked-with-conflict one with its conflict ts; a failed result
// without a key error, or a missing result, is a protocol violation.
func TestFillResults(t *testing.T) {
	pb := &kvrpcpb.PessimisticLockRequest{Mutations: []*kvrpcpb.Mutation{{Key: []byte("k")}}}
	res := func(r *kvrpcpb.PessimisticLockKeyResult) *kvrpcpb.PessimisticLockResponse {
		return &kvrpcpb.PessimisticLockResponse{Results: []*kvrpcpb.PessimisticLockKeyResult{r}}
	}
	for _, c := range []struct {
		name string
		resp *kvrpcpb.PessimisticLockResponse
		want LockedValue
		bad  bool
	}{
		{"normal", res(&kvrpcpb.PessimisticLockKeyResult{Type: kvrpcpb.PessimisticLockKeyResultType_LockResultNormal, Value: []byte("v"), Existence: true}),
			LockedValue{Value: []byte("v"), Exists: true}, false},
		{"locked with conflict", res(&kvrpcpb.PessimisticLockKeyResult{Type: kvrpcpb.PessimisticLockKeyResultType_LockResultLockedWithConflict, Value: []byte("w"), Existence: true, LockedWithConflictTs: 42}),
			LockedValue{Value: []byte("w"), Exists: true, LockedWithConflictTS: 42}, false},
		{"failed without key error", res(&kvrpcpb.PessimisticLockKeyResult{Type: kvrpcpb.PessimisticLockKeyResultType_LockResultFailed}), LockedValue{}, true},
		{"no result", &kvrpcpb.PessimisticLockResponse{}, LockedValue{}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			into := map[string]LockedValue{}
			err := fillResults(into, pb, c.resp)
			if c.bad {
				if !errors.Is(err, kv.ErrProtocol) {
					t.Fatalf("err %v, want kv.ErrProtocol", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := into["k"]
			if string(got.Value) != string(c.want.Value) || got.Exists != c.want.Exists || got.LockedWithConflictTS != c.want.LockedWithConflictTS {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestForceLockOneKey: TiKV takes a force-lock request of one key only;
// the committer refuses others before sending anything.
func TestForceLockOneKey(t *testing.T) {
	c := &Committer{}
	_, err := c.PessimisticLock(context.Background(), LockRequest{StartTS: 1, ForUpdateTS: 1, ForceLock: true, Keys: [][]byte{[]byte("a"), []byte("b")}})
	if !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("force lock of two keys: %v, want kv.ErrInvalidArgument", err)
	}
}
