package txn

import (
	"context"
	"fmt"

	"github.com/tikvgo/tikv/kv"
)

// SafePointChecker tells whether a read at a start ts can still be trusted
// after garbage collection: GC removes the versions older than the txn
// safe point that newer ones hide, so a read below it may have missed
// data (client-go's KVStore.CheckVisibility). A txn.Client checks every
// read of its snapshots and transactions with a SafePointCache refreshed
// from PD's GC states (WithSafePointCheck replaces it); SafePointFunc
// adapts a plain safe-point source.
//
// CheckVisibility returns nil when startTS is at or above the txn safe
// point, a *kv.TxnAbortedByGCError when it is below, and any other error
// when it cannot tell (then the read fails with it: an unchecked answer
// must not pass as a checked one). It must be safe for concurrent use.
type SafePointChecker interface {
	CheckVisibility(ctx context.Context, startTS uint64) error
}

// SafePointFunc is a SafePointChecker that asks a function for the
// current txn safe point (for example a cache PD's GC states refresh).
type SafePointFunc func(ctx context.Context) (uint64, error)

// CheckVisibility compares startTS with the safe point f returns.
func (f SafePointFunc) CheckVisibility(ctx context.Context, startTS uint64) error {
	sp, err := f(ctx)
	if err != nil {
		return fmt.Errorf("read txn safe point: %w", err)
	}
	if startTS < sp {
		return &kv.TxnAbortedByGCError{StartTS: startTS, SafePoint: sp}
	}
	return nil
}

// checkVisibility runs the snapshot's checker, if any, after a read.
func (s *Snapshot) checkVisibility(ctx context.Context) error {
	if s.cfg.safePoint == nil {
		return nil
	}
	return s.cfg.safePoint.CheckVisibility(ctx, s.ts)
}
