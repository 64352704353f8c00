package txnlock

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
)

// nonAsyncCommitError says a secondary of an async-commit transaction
// holds a lock without async commit: the transaction fell back to two-phase
// commit, so its primary alone decides.
type nonAsyncCommitError struct {
	StartTS uint64
	Key     []byte
}

func (e *nonAsyncCommitError) Error() string {
	return fmt.Sprintf("txnlock: txn %d fell back from async commit: key %q holds a non-async-commit lock", e.StartTS, e.Key)
}

// AsyncCommitError says an async-commit transaction's secondaries
// contradict each other (two commit ts, or a commit below a lock's min
// commit ts): TiKV broke the protocol, and nothing is resolved.
type AsyncCommitError struct {
	StartTS uint64
	Reason  string
}

// Error names what happened, on one line.
func (e *AsyncCommitError) Error() string {
	return fmt.Sprintf("txnlock: async-commit txn %d: %s", e.StartTS, e.Reason)
}

// secondaryVerdict accumulates what the secondaries of an async-commit
// transaction say (client-go's asyncResolveData).
type secondaryVerdict struct {
	startTS uint64
	// commitTS is the commit ts once a key was found committed (missing
	// set), zero for rolled back; while every key is locked it is the
	// largest min commit ts seen, which the transaction commits at.
	commitTS uint64
	missing  bool
	keys     [][]byte // keys still locked, to resolve
}

// add takes one region's answer: the locks found among expected keys and
// the commit ts TiKV reported when a key was not locked.
func (v *secondaryVerdict) add(locks []*kvrpcpb.LockInfo, expected int, commitTS uint64) error {
	if len(locks) < expected {
		// A key is not locked: the transaction is committed (commitTS) or
		// rolled back (0); TiKV's check_secondary_locks wrote a rollback
		// record on a key with no trace of it, so it can no longer commit.
		if !v.missing {
			if commitTS != 0 && commitTS < v.commitTS {
				return &AsyncCommitError{StartTS: v.startTS, Reason: fmt.Sprintf("commit ts %d below min commit ts %d", commitTS, v.commitTS)}
			}
			v.commitTS = commitTS
		}
		v.missing = true
		if v.commitTS != commitTS {
			return &AsyncCommitError{StartTS: v.startTS, Reason: fmt.Sprintf("commit ts %d and %d both reported", v.commitTS, commitTS)}
		}
		return nil
	}
	for _, l := range locks {
		if l.LockVersion != v.startTS {
			return &AsyncCommitError{StartTS: v.startTS, Reason: fmt.Sprintf("secondary %q answered for txn %d", l.Key, l.LockVersion)}
		}
		if !l.UseAsyncCommit {
			return &nonAsyncCommitError{StartTS: v.startTS, Key: l.Key}
		}
		if !v.missing && l.MinCommitTs > v.commitTS {
			v.commitTS = l.MinCommitTs
		}
		v.keys = append(v.keys, l.Key)
	}
	return nil
}

// resolveAsyncCommit decides an async-commit transaction whose primary
// lock has expired from its secondaries, then resolves every lock of it
// (client-go's resolveAsyncCommitLock and checkAllSecondaries). If every
// secondary is still locked, the transaction committed (its prewrite
// succeeded everywhere) at the largest min commit ts; if one is committed,
// it committed at that ts; if one is rolled back or never written, it is
// rolled back. The status is cached, and the locks still held, primary
// included, are committed or rolled back.
func (c *resolveCall) resolveAsyncCommit(ctx context.Context, l *kv.Lock, s TxnStatus) (TxnStatus, error) {
	primary := s.PrimaryLock
	v := &secondaryVerdict{startTS: l.StartTS, commitTS: primary.MinCommitTS}
	if len(primary.Secondaries) > 0 {
		secondaries := make([][]byte, len(primary.Secondaries))
		for i, k := range primary.Secondaries {
			secondaries[i] = k
		}
		parts, err := c.r.checkSecondaries(ctx, &kvrpcpb.CheckSecondaryLocksRequest{StartVersion: l.StartTS, Keys: secondaries})
		if err != nil {
			return TxnStatus{}, fmt.Errorf("txnlock: check secondaries of txn %d: %w", l.StartTS, err)
		}
		for _, p := range parts {
			if err := v.add(p.Resp.GetLocks(), len(p.Req.GetKeys()), p.Resp.GetCommitTs()); err != nil {
				return TxnStatus{}, err
			}
		}
	}
	s = TxnStatus{CommitTS: v.commitTS, Action: s.Action}
	if err := c.r.cache.put(l.StartTS, s); err != nil {
		return TxnStatus{}, err
	}
	req := &kvrpcpb.ResolveLockRequest{
		StartVersion: l.StartTS, CommitVersion: s.CommitTS, IsTxnFile: l.IsTxnFile, Keys: append(v.keys, l.Primary),
	}
	err := c.cleanup(ctx, func(ctx context.Context) error {
		if _, err := c.r.resolveKeys(ctx, req); err != nil {
			return fmt.Errorf("txnlock: resolve async-commit txn %d: %w", l.StartTS, err)
		}
		return nil
	})
	if err != nil {
		return TxnStatus{}, err
	}
	return s, nil
}
