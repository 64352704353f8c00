package txnlock

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline/backoff"
	"github.com/tikvgo/tikv/plans"
)

// GetTxnStatus asks the primary key of the transaction startTS for its
// status (KvCheckTxnStatus; client-go's LockResolver.GetTxnStatus and
// getTxnStatus). callerStartTS, when not zero, lets TiKV push a live
// lock's min commit ts past a reader at that ts; currentTS is the ts lock
// expiry is judged at (math.MaxUint64 expires any lock). With
// rollbackIfNotExist, a primary with no trace of the transaction gets a
// rollback record and the answer is "rolled back"; without it the answer
// is a *kv.TxnNotFoundError. Beware: an expired primary lock is rolled
// back by the check itself.
//
// A determined status comes from the Resolver's cache when it is there.
func (r *Resolver) GetTxnStatus(ctx context.Context, startTS uint64, primary []byte,
	callerStartTS, currentTS uint64, rollbackIfNotExist bool) (TxnStatus, error) {
	return r.txnStatus(ctx, statusQuery{startTS: startTS, primary: primary, caller: callerStartTS,
		current: currentTS, rollbackIfNotExist: rollbackIfNotExist})
}

// statusQuery is one KvCheckTxnStatus.
type statusQuery struct {
	startTS              uint64
	primary              []byte
	caller, current      uint64
	rollbackIfNotExist   bool
	forceSyncCommit      bool
	resolvingPessimistic bool
	isTxnFile            bool
}

// statusFromLock finds the status of l's transaction (client-go's
// getTxnStatusFromLock). A primary that has no trace of the transaction
// may simply not be prewritten yet (its secondaries' prewrites can land
// first), so the check is repeated under the TxnNotFound policy while l
// may still be alive; once l has expired, the primary is rolled back
// (rollback_if_not_exist) so the transaction can never commit. A
// pessimistic lock whose transaction is not found is taken as alive until
// it expires: its owner may have rolled back its other locks and be about
// to lock again.
func (c *resolveCall) statusFromLock(ctx context.Context, l *kv.Lock, forceSyncCommit bool) (TxnStatus, error) {
	q := statusQuery{startTS: l.StartTS, primary: l.Primary, caller: c.caller,
		forceSyncCommit: forceSyncCommit, resolvingPessimistic: isPessimistic(l), isTxnFile: l.IsTxnFile}
	if l.TTL == 0 {
		// TiKV reports a lock with TTL 0 to a pessimistic prewrite that must
		// resolve it whatever its age: current_ts MaxUint64 expires it
		// (client-go's getTxnStatusFromLock).
		q.current = math.MaxUint64
	} else {
		now, err := c.r.oracle.Now(ctx)
		if err != nil {
			return TxnStatus{}, fmt.Errorf("txnlock: current ts for txn %d: %w", l.StartTS, err)
		}
		q.current = now
	}
	for {
		s, err := c.r.txnStatus(ctx, q)
		var notFound *kv.TxnNotFoundError
		if err == nil || !errors.As(err, &notFound) {
			return s, err
		}
		if c.r.oracle.UntilExpired(l.StartTS, ttlMs(l.TTL)) <= 0 {
			q.rollbackIfNotExist = true
			continue
		}
		if isPessimistic(l) {
			return TxnStatus{TTL: l.TTL}, nil
		}
		if werr := c.bo.Wait(ctx, backoff.TxnNotFound, err); werr != nil {
			return TxnStatus{}, werr
		}
	}
}

// txnStatus answers q from the cache or by KvCheckTxnStatus; concurrent
// identical queries share one request.
func (r *Resolver) txnStatus(ctx context.Context, q statusQuery) (TxnStatus, error) {
	if s, ok := r.cache.get(q.startTS); ok {
		return s, nil
	}
	// Queries differing only in current_ts are the same question asked
	// moments apart; the one in flight answers for all.
	key := fmt.Sprintf("status/%d/%d/%t/%t/%t/%t/%q", q.startTS, q.caller, q.current == math.MaxUint64,
		q.rollbackIfNotExist, q.forceSyncCommit, q.resolvingPessimistic, q.primary)
	v, err := r.flights.do(ctx, key, func(ctx context.Context) (any, error) { return r.checkTxnStatus(ctx, q) })
	if err != nil {
		return TxnStatus{}, err
	}
	return v.(TxnStatus), nil
}

func (r *Resolver) checkTxnStatus(ctx context.Context, q statusQuery) (TxnStatus, error) {
	resp, err := r.checkStatus(ctx, &kvrpcpb.CheckTxnStatusRequest{
		PrimaryKey:               q.primary,
		LockTs:                   q.startTS,
		CallerStartTs:            q.caller,
		CurrentTs:                q.current,
		RollbackIfNotExist:       q.rollbackIfNotExist,
		ForceSyncCommit:          q.forceSyncCommit,
		ResolvingPessimisticLock: q.resolvingPessimistic,
		// A lock whose named primary is not its transaction's primary must
		// not be decided there (TiKV's verify_is_primary; client-go always
		// sets it).
		VerifyIsPrimary: true,
		IsTxnFile:       q.isTxnFile,
	})
	if err != nil {
		return TxnStatus{}, fmt.Errorf("txnlock: check status of txn %d: %w", q.startTS, err)
	}
	s := TxnStatus{Action: resp.Action}
	if resp.LockInfo != nil {
		s.PrimaryLock = plans.LockFromInfo(resp.LockInfo)
	}
	if resp.LockTtl != 0 {
		s.TTL = time.Duration(resp.LockTtl) * time.Millisecond
		return s, nil
	}
	s.CommitTS = resp.CommitVersion
	if err := r.cache.put(q.startTS, s); err != nil {
		return TxnStatus{}, err
	}
	return s, nil
}
