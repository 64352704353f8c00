package txnlock

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
)

// BatchResolveLocks settles every lock in locks whatever its TTL, as GC does
// for the locks it scans below its safe point (client-go's
// LockResolver.BatchResolveLocks): no transaction older than the safe point
// may stay undecided, so each is judged as if every lock had expired.
//
// For each transaction, once: its status is checked with current_ts
// MaxUint64 and rollback_if_not_exist, so TiKV rolls back a live 2PC or
// pessimistic primary and records a rollback for a primary never written;
// an async-commit primary, which that check never rolls back, is decided by
// its secondaries (committed at the largest min commit ts when all are
// locked, rolled back when one is missing), and one that fell back to 2PC
// is checked again with force_sync_commit. Then each lock is committed or
// rolled back: prewrite locks with KvResolveLock on the met keys, one
// request per region and transaction; pessimistic locks with
// KvPessimisticRollback (a committed transaction never prewrote them).
//
// It returns the first failure; locks it did not reach are left for the
// next sweep, which may repeat any of this harmlessly (every step is keyed
// by the transaction's start ts).
func (r *Resolver) BatchResolveLocks(ctx context.Context, locks []*kv.Lock) error {
	if len(locks) == 0 {
		return nil
	}
	if err := refuseShared(locks); err != nil {
		return err
	}
	defer r.resolving.add(0, locks)()
	c := &resolveCall{r: r, bo: r.newBackoffer(),
		cleaned: map[uint64]map[pdclient.RegionVer]bool{}, pessimisticCleaned: map[uint64]map[pdclient.RegionVer]bool{}}
	statuses := make(map[uint64]TxnStatus)
	var lite []*liteBatch
	for _, l := range locks {
		s, ok := statuses[l.StartTS]
		if !ok {
			var err error
			if s, err = c.sweepStatus(ctx, l); err != nil {
				return err
			}
			statuses[l.StartTS] = s
		}
		if isPessimistic(l) {
			if err := c.rollbackPessimistic(ctx, l); err != nil {
				return err
			}
			continue
		}
		lite = addToBatch(lite, l, s)
	}
	for _, b := range lite {
		if err := c.resolveLite(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// sweepStatus decides l's transaction for BatchResolveLocks.
func (c *resolveCall) sweepStatus(ctx context.Context, l *kv.Lock) (TxnStatus, error) {
	q := statusQuery{startTS: l.StartTS, primary: l.Primary, current: math.MaxUint64, rollbackIfNotExist: true,
		resolvingPessimistic: isPessimistic(l), isTxnFile: l.IsTxnFile}
	s, err := c.r.txnStatus(ctx, q)
	if err != nil {
		return TxnStatus{}, err
	}
	if s.TTL == 0 {
		// Committed, rolled back, or (TTLExpirePessimisticRollback) a
		// pessimistic primary removed without a rollback record: then
		// nothing will commit the transaction's locks below the safe
		// point, and they are rolled back (client-go resolves them with
		// the status's commit ts, 0).
		return s, nil
	}
	if s.PrimaryLock != nil && s.PrimaryLock.UseAsyncCommit {
		decided, err := c.resolveAsyncCommit(ctx, l, s)
		var fellBack *nonAsyncCommitError
		if !errors.As(err, &fellBack) {
			return decided, err
		}
		q.forceSyncCommit = true
		if s, err = c.r.txnStatus(ctx, q); err != nil {
			return TxnStatus{}, err
		}
		if s.TTL == 0 {
			return s, nil
		}
	}
	// TiKV's check_txn_status rolls back any lock at current_ts MaxUint64;
	// a transaction still alive means it broke that rule.
	return TxnStatus{}, fmt.Errorf("txnlock: txn %d still alive (%s) after a status check at the max ts: %w",
		l.StartTS, s, kv.ErrProtocol)
}
