package mvcc

import (
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// checkShared is the part of prewrite's lock check (actions/prewrite.rs,
// the load_lock match at the top of prewrite_with_generation) that concerns
// shared locks. An Op_SharedLock mutation turns this transaction's shared
// pessimistic sub-lock into a Lock sub-lock; every other mutation meets a
// SharedLocks as a lock. It returns, when the key holds this transaction's
// sub-lock to prewrite, that sub-lock and its container; or an outcome
// that ends the key's prewrite; or the zero value when shared locks play no
// part and the exclusive checks follow.
func (p *prewriter) checkShared(m *kvrpcpb.Mutation, e *entry, action kvrpcpb.PrewriteRequest_PessimisticAction, expectFUT uint64, hasConstraint bool, committedOnErr func() bool) sharedCheck {
	start, key := p.req.StartVersion, m.Key
	isShared := m.Op == kvrpcpb.Op_SharedLock
	// Errors other than Other and LockTypeNotMatch first look for this
	// transaction's commit record (check_committed_record_on_err).
	fail := func(e *kvrpcpb.KeyError, isFatal bool) sharedCheck {
		if committedOnErr() {
			return sharedCheck{end: true, done: true}
		}
		return sharedCheck{end: true, kerr: e, fatal: isFatal}
	}
	sl := p.b.sharedOf(key, e)
	switch {
	case isShared && e != nil && e.lock != nil:
		// A shared prewrite meeting an exclusive lock, its own included:
		// KeyIsLocked with the lock as is (no ttl zeroing).
		return fail(&kvrpcpb.KeyError{Locked: e.lock.Info(key)}, false)
	case sl == nil:
		if isShared && p.pessimistic && action == kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK {
			// A shared lock is never amended: it must have been acquired.
			return fail(errPessimisticLockNotFound(start, key, "LockMissingAmendFail"), true)
		}
		// Without the pessimistic check an Op_SharedLock on a free key
		// writes an ordinary Lock lock (LockType::from_mutation).
		return sharedCheck{}
	}
	own := sl.get(start)
	switch {
	case own == nil && isShared:
		return fail(errPessimisticLockNotFound(start, key, "LockMissingAmendFail"), true)
	case own == nil:
		// Any other prewrite is blocked by the holders.
		return fail(&kvrpcpb.KeyError{Locked: sl.info(key)}, false)
	case !isShared:
		return sharedCheck{end: true, kerr: errOther("use Op::SharedLock to prewrite on a shared lock"), fatal: true}
	case own.Type != kvrpcpb.Op_PessimisticLock:
		// Already prewritten: a retry succeeds as is. The sub-lock is
		// never async-commit, so async commit / 1PC fall back.
		if p.asyncOr1PC {
			p.fallback = true
		}
		return sharedCheck{end: true}
	case !p.pessimistic:
		return sharedCheck{end: true, kerr: errLockTypeNotMatch(start, key, true), fatal: true}
	case hasConstraint && own.ForUpdateTS != expectFUT:
		return fail(errPessimisticLockNotFound(start, key, "LockForUpdateTsMismatch"), true)
	}
	return sharedCheck{sub: own, container: sl}
}

// sharedCheck is checkShared's verdict. With end set the key's prewrite
// is over: kerr is a lock error to collect (fatal=false) or a fatal one,
// done means the transaction is already committed, and neither means
// there is nothing to write.
type sharedCheck struct {
	sub       *Lock
	container *sharedLocks
	end       bool
	kerr      *kvrpcpb.KeyError
	fatal     bool
	done      bool
}

// sharedPrewriteUnsupported is write_lock's safety check for a shared
// sub-lock (actions/prewrite.rs): pipelined flushes, 1PC and async commit
// are refused with Other, after min_commit_ts was computed.
func sharedPrewriteUnsupported(p *prewriter, l *Lock) *kvrpcpb.KeyError {
	switch {
	case p.generation > 0:
		return errOther(fmt.Sprintf("shared lock prewrite does not support non-zero generation, generation: %d", p.generation))
	case p.req.TryOnePc && !p.fallback:
		return errOther("shared lock prewrite is incompatible with one-phase commit")
	case l.UseAsyncCommit:
		return errOther("shared lock prewrite cannot use async-commit, falling back to 2PC")
	}
	return nil
}
