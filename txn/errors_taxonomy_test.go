package txn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tikvgo/tikv/kv"
)

// TestReadBlockedByLiveLockIsResolveLockTimeout: a read that keeps meeting
// a live lock it may not resolve (its TTL far off, its min_commit_ts not
// pushable) until the context ends fails with an error errors.Is matches
// against kv.ErrResolveLockTimeout, client-go's ErrResolveLockTimeout for
// a txnLock/txnLockFast backoff that ran out, and against the context's
// deadline. Over gRPC and in-process.
func TestReadBlockedByLiveLockIsResolveLockTimeout(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(t *testing.T) {
			p := newPortCluster(t, grpc, nil)
			p.lock(time.Hour, "k", "v")
			tx := p.begin()
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			_, err := tx.Get(ctx, []byte("k"))
			if !errors.Is(err, kv.ErrResolveLockTimeout) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want kv.ErrResolveLockTimeout and the deadline", err)
			}
			var locked *kv.LockedError
			if !errors.As(err, &locked) {
				t.Fatalf("err = %v, want the lock met as the cause", err)
			}
		})
	}
}
