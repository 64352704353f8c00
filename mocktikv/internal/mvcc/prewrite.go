package mvcc

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// Prewrite is KvPrewrite (src/storage/txn/commands/prewrite.rs and
// actions/prewrite.rs). Mutations are prewritten in request order (an
// optimistic request of more than 12 mutations in key order, as TiKV sorts
// it, and without constraint check when their key span holds no write
// record). Locks of other transactions are all reported and then nothing is
// written; any other error is returned alone and nothing is written; a key
// whose failure is explained by this transaction having already committed
// makes the whole request succeed with nothing written. Async commit and
// 1PC take min_commit_ts from max_ts and fall back to 2PC silently when
// max_commit_ts is exceeded.
func (s *Store) Prewrite(req *kvrpcpb.PrewriteRequest) *kvrpcpb.PrewriteResponse {
	resp := &kvrpcpb.PrewriteResponse{}
	s.update(func(b *batch) { s.prewriteLocked(b, req, resp) })
	return resp
}

// prewriter carries one prewrite command's state.
type prewriter struct {
	s           *Store
	b           *batch
	req         *kvrpcpb.PrewriteRequest
	pessimistic bool
	asyncOr1PC  bool
	// skipConstraintCheck is an optimistic prewrite's
	// skip_constraint_check: the request's, or TiKV's own for a large
	// request over a span without data (canSkipConstraintCheck).
	skipConstraintCheck bool
	// isRetry is ctx.is_retry_request, or a pessimistic prewrite of a
	// transaction the status cache knows committed (process_write).
	isRetry     bool
	fallback    bool   // async commit / 1PC fell back to 2PC
	minCommitTS uint64 // max over keys, for async commit / 1PC
	// generation is a pipelined-DML Flush's generation (0 for Prewrite):
	// its locks carry it, and a later generation overwrites this
	// transaction's own earlier lock (prewrite_with_generation).
	generation uint64
	// locks to write, in order; with 1PC they become writes instead.
	locks []pendingLock
}

type pendingLock struct {
	key       []byte
	lock      *Lock
	longValue []byte // a value too long to live in the lock
	pessimist bool   // replaces this txn's pessimistic lock
	checkOnly bool   // CheckNotExists: nothing is written
	// shared is the SharedLocks in which the lock replaces this txn's
	// shared pessimistic sub-lock (shared_prewrite.go).
	shared *sharedLocks
}

// mutationOrder returns the indexes of the mutations to prewrite, in the
// order TiKV handles them.
func mutationOrder(req *kvrpcpb.PrewriteRequest, pessimistic bool) []int {
	n := len(req.Mutations)
	if pessimistic {
		// Mutations are zipped with pessimistic_actions: extra mutations
		// are silently dropped (commands/mod.rs From<PrewriteRequest>).
		n = min(n, len(req.PessimisticActions))
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if !pessimistic && n > forwardMinMutations {
		slices.SortStableFunc(order, func(a, b int) int { return bytes.Compare(req.Mutations[a].Key, req.Mutations[b].Key) })
	}
	return order
}

// forwardMinMutations is TiKV's FORWARD_MIN_MUTATIONS_NUM
// (commands/prewrite.rs): an optimistic prewrite of more mutations is
// sorted by key and may skip its constraint check.
const forwardMinMutations = 12

// canSkipConstraintCheck is Optimistic::can_skip_constraint_check
// (commands/prewrite.rs): an optimistic prewrite of more than 12 mutations
// (order holds them sorted by key) needs no constraint check when
// has_data_in_range finds no write-CF record, of any type, for any key
// from the first to the last mutation key inclusive; locks do not count.
// The check then does not load the newest write, which makes Fast
// assertions skip as with a client-set skip_constraint_check.
func (s *Store) canSkipConstraintCheck(req *kvrpcpb.PrewriteRequest, order []int) bool {
	if len(order) <= forwardMinMutations {
		return false
	}
	first := EncodeKey(req.Mutations[order[0]].Key)
	last := EncodeKey(req.Mutations[order[len(order)-1]].Key)
	for i := s.searchLocked(first); i < len(s.sorted) && bytes.Compare(s.sorted[i].enc, last) <= 0; i++ {
		if len(s.sorted[i].writes) > 0 {
			return false
		}
	}
	return true
}

func (s *Store) prewriteLocked(b *batch, req *kvrpcpb.PrewriteRequest, resp *kvrpcpb.PrewriteResponse) {
	p := &prewriter{
		s: s, b: b, req: req,
		pessimistic: req.ForUpdateTs != 0,
		asyncOr1PC:  req.UseAsyncCommit || req.TryOnePc,
	}
	order := mutationOrder(req, p.pessimistic)
	p.skipConstraintCheck = !p.pessimistic && (req.SkipConstraintCheck || s.canSkipConstraintCheck(req, order))
	p.isRetry = req.GetContext().GetIsRetryRequest()
	if _, ok := s.txnStatus.committedTS(req.StartVersion); ok && p.pessimistic {
		// A late request of a committed transaction must not skip the
		// constraint check of its non-locked keys (TiKV issue 11187).
		p.isRetry = true
	}
	constraints := map[int]uint64{}
	if p.pessimistic {
		for _, c := range req.ForUpdateTsConstraints {
			if int(c.Index) >= len(req.Mutations) {
				resp.Errors = []*kvrpcpb.KeyError{errOther(fmt.Sprintf("prewrite request invalid: for_update_ts constraint set for index %d while %d mutations were given", c.Index, len(req.Mutations)))}
				return
			}
			constraints[int(c.Index)] = c.ExpectedForUpdateTs
		}
	}
	for _, i := range order {
		m := req.Mutations[i]
		switch m.Op {
		case kvrpcpb.Op_Put, kvrpcpb.Op_Del, kvrpcpb.Op_Lock, kvrpcpb.Op_Insert, kvrpcpb.Op_CheckNotExists, kvrpcpb.Op_SharedLock:
		default:
			// TiKV panics converting such a mutation; answer instead.
			resp.Errors = []*kvrpcpb.KeyError{errOther(fmt.Sprintf("mutation op %s is not supported in prewrite", m.Op))}
			return
		}
		if e := checkKeySize(m.Key); e != nil {
			resp.Errors = []*kvrpcpb.KeyError{e}
			return
		}
	}

	var locked []*kvrpcpb.KeyError
	var assertionErr *kvrpcpb.KeyError
	for _, i := range order {
		m := req.Mutations[i]
		action := kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK
		if p.pessimistic {
			action = req.PessimisticActions[i]
		}
		expectFUT, hasConstraint := constraints[i]
		kerr, fatal, assertion, done := p.prewriteKey(m, action, expectFUT, hasConstraint)
		if done {
			// This transaction already committed: the retried prewrite
			// succeeds and reports the commit ts
			// (check_committed_record_on_err) as the final min_commit_ts,
			// which write_result answers as min_commit_ts while the request
			// is still async and as one_pc_commit_ts while it is still 1PC,
			// both when it is both, neither after a fallback.
			b.discard()
			resp.Errors = nil
			if req.TryOnePc && !p.fallback {
				resp.OnePcCommitTs = p.minCommitTS
				s.txnStatus.insertCommitted(req.StartVersion, p.minCommitTS)
			}
			if req.UseAsyncCommit && !p.fallback {
				resp.MinCommitTs = p.minCommitTS
			}
			return
		}
		if fatal {
			b.discard()
			resp.Errors = []*kvrpcpb.KeyError{kerr}
			return
		}
		if kerr != nil {
			locked = append(locked, kerr)
		}
		if assertion != nil && assertionErr == nil {
			assertionErr = assertion
		}
	}
	// Prewriter::prewrite: an assertion failure beats lock errors; lock
	// errors write nothing but still report min_commit_ts.
	switch {
	case assertionErr != nil:
		b.discard()
		resp.Errors = []*kvrpcpb.KeyError{assertionErr}
		return
	case len(locked) > 0:
		b.discard()
		resp.Errors = locked
		if req.UseAsyncCommit && !p.fallback {
			resp.MinCommitTs = p.minCommitTS
		}
		return
	}
	onePC := req.TryOnePc && !p.fallback
	for _, pl := range p.locks {
		if pl.checkOnly {
			continue
		}
		l := pl.lock
		if pl.shared != nil {
			// The prewritten sub-lock goes back into its container
			// (write_lock: SharedLocks::update_lock, put_shared_locks).
			b.putShared(pl.key, pl.shared.with(l), false)
			continue
		}
		if onePC {
			// 1PC: commit at once at the final min_commit_ts, replacing any
			// pessimistic lock (prewrite.rs handle_1pc_locks).
			wt, _ := writeTypeOf(l.Type)
			w := &Write{Type: wt, StartTS: l.StartTS, CommitTS: p.minCommitTS, ShortValue: l.ShortValue, LastChange: l.LastChange}
			if pl.longValue != nil {
				b.putValue(pl.key, l.StartTS, pl.longValue)
			}
			b.putWrite(pl.key, w)
			if pl.pessimist {
				b.unlock(pl.key, l.StartTS, p.minCommitTS)
			}
			continue
		}
		// A lock made before a fallback keeps use_async_commit
		// (fallback_1pc_locks turns 1PC locks into plain locks and clears
		// only use_one_pc); the key that fell back cleared it itself.
		if pl.longValue != nil {
			b.putValue(pl.key, l.StartTS, pl.longValue)
		}
		b.putLock(pl.key, l)
	}
	b.apply()
	if req.UseAsyncCommit && !p.fallback {
		resp.MinCommitTs = p.minCommitTS
	}
	if onePC {
		resp.OnePcCommitTs = p.minCommitTS
		s.txnStatus.insertCommitted(req.StartVersion, p.minCommitTS)
	}
}

// prewriteKey prewrites one mutation. It returns a lock error to collect
// (kerr, !fatal), a fatal error, an assertion failure to remember, or
// done=true when this transaction turns out to be committed already (then
// p.minCommitTS holds the commit ts).
func (p *prewriter) prewriteKey(m *kvrpcpb.Mutation, action kvrpcpb.PrewriteRequest_PessimisticAction, expectFUT uint64, hasConstraint bool) (kerr *kvrpcpb.KeyError, fatal bool, assertion *kvrpcpb.KeyError, done bool) {
	req, s := p.req, p.s
	start := req.StartVersion
	key := m.Key
	shouldNotExist := m.Op == kvrpcpb.Op_Insert || m.Op == kvrpcpb.Op_CheckNotExists
	if p.pessimistic && m.Op == kvrpcpb.Op_CheckNotExists {
		return errOther("cannot handle checkNotExists in pessimistic prewrite"), true, nil, false
	}
	if shouldNotExist {
		s.UpdateMaxTS(start)
	}
	e := s.lookup(key)
	// committedOnErr is check_committed_record_on_err (actions/common.rs):
	// before failing, see whether this transaction already committed here.
	committedOnErr := func() bool {
		if rec := txnCommitRecord(e, start); rec.kind == recCommitted {
			p.minCommitTS = rec.commitTS
			return true
		}
		return false
	}

	sc := p.checkShared(m, e, action, expectFUT, hasConstraint, committedOnErr)
	if sc.end {
		return sc.kerr, sc.fatal, nil, sc.done
	}
	pessLock, container := sc.sub, sc.container
	amended := false
	subsequentFlush := false
	// A shared sub-lock to prewrite (container) was checked above.
	if container == nil && e != nil && e.lock != nil {
		l := e.lock
		if l.StartTS != start {
			if committedOnErr() {
				return nil, false, nil, true
			}
			if p.pessimistic && action == kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK {
				return errPessimisticLockNotFound(start, key, "LockTsMismatch"), true, nil, false
			}
			info := l.Info(key)
			if p.pessimistic {
				// A pessimistic prewrite meeting a lock gets ttl 0 so the
				// client resolves it at once.
				info.LockTtl = 0
			}
			return &kvrpcpb.KeyError{Locked: info}, false, nil, false
		}
		if l.Type != kvrpcpb.Op_PessimisticLock && p.generation > 0 {
			// A key can be flushed many times (check_lock with a
			// generation): an older or equal generation is ignored
			// (GenerationOutOfOrder, logged by Flush), a flush that must
			// not find a value fails on an earlier flush's Put, and a newer
			// generation is checked again and overwrites the lock.
			if l.Generation >= p.generation {
				return nil, false, nil, false
			}
			if l.Generation > 0 && shouldNotExist && l.Type == kvrpcpb.Op_Put {
				return errAlreadyExist(key), true, nil, false
			}
			subsequentFlush = true
			if l.Type == kvrpcpb.Op_Put && l.ShortValue == nil {
				// The earlier flush's long value goes with its lock.
				p.b.deleteValue(key, start)
			}
		} else if l.Type != kvrpcpb.Op_PessimisticLock {
			// Our own prewrite lock: a retried prewrite succeeds with no
			// checks and no rewrite. A non-async lock in an async/1PC
			// request forces the 2PC fallback.
			if p.asyncOr1PC {
				if l.UseAsyncCommit && !p.fallback {
					p.minCommitTS = max(p.minCommitTS, l.MinCommitTS)
				} else {
					p.fallback = true
				}
			}
			return nil, false, nil, false
		} else {
			if !p.pessimistic {
				return errLockTypeNotMatch(start, key, true), true, nil, false
			}
			if hasConstraint && l.ForUpdateTS != expectFUT {
				// Like every PessimisticLockNotFound, first see whether
				// the lock is a stale one left after this transaction
				// committed (Prewriter::prewrite).
				if committedOnErr() {
					return nil, false, nil, true
				}
				return errPessimisticLockNotFound(start, key, "LockForUpdateTsMismatch"), true, nil, false
			}
			pessLock = l
		}
	} else if container == nil && p.pessimistic && action == kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK {
		// The pessimistic lock is missing: amend it if nothing was written
		// since the transaction started (amend_pessimistic_lock).
		if w := e.newestWrite(); w != nil && w.CommitTS >= start {
			if committedOnErr() {
				return nil, false, nil, true
			}
			return errPessimisticLockNotFound(start, key, "LockMissingAmendFail"), true, nil, false
		}
		amended = true
	}

	// Constraint check (check_for_newer_version), skipped for optimistic
	// skip_constraint_check, DoPessimisticCheck, and SkipPessimisticCheck
	// unless the request is a retry.
	skipConstraint := (!p.pessimistic && p.skipConstraintCheck) ||
		(p.pessimistic && action == kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK) ||
		(p.pessimistic && action == kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK && !p.isRetry)
	constraint := func() (*kvrpcpb.KeyError, bool) {
		kerr := p.checkNewerVersion(e, key, action, shouldNotExist)
		if kerr == nil {
			return nil, false
		}
		if kerr.Conflict != nil && kerr.Conflict.ConflictCommitTs > start || kerr.Abort != "" {
			if committedOnErr() {
				return nil, true
			}
		}
		return kerr, false
	}
	if !skipConstraint {
		if kerr, committed := constraint(); committed {
			return nil, false, nil, true
		} else if kerr != nil {
			return kerr, true, nil, false
		}
	}

	// Assertions (check_assertion): Fast skips them when the constraint
	// check did not load the key; Strict always checks.
	// A key is asserted once per transaction: a pipelined key's later
	// flushes skip it (is_subsequent_flush).
	if m.Assertion != kvrpcpb.Assertion_None && req.AssertionLevel != kvrpcpb.AssertionLevel_Off && !subsequentFlush &&
		(!skipConstraint || amended || req.AssertionLevel == kvrpcpb.AssertionLevel_Strict) {
		if a := checkAssertion(e, key, start, m.Assertion); a != nil {
			if skipConstraint {
				// A write conflict found by the skipped check wins.
				if kerr, committed := constraint(); committed {
					return nil, false, nil, true
				} else if kerr != nil {
					return kerr, true, nil, false
				}
			}
			assertion = a
		}
	}

	if m.Op == kvrpcpb.Op_CheckNotExists {
		if p.asyncOr1PC && !p.fallback {
			p.minCommitTS = max(p.minCommitTS, req.MinCommitTs, start+1)
		}
		p.locks = append(p.locks, pendingLock{key: key, checkOnly: true})
		return nil, false, assertion, false
	}

	l := &Lock{
		Type:        lockTypeOf(m.Op),
		Primary:     bytes.Clone(req.PrimaryLock),
		StartTS:     start,
		TTL:         req.LockTtl,
		ForUpdateTS: req.ForUpdateTs,
		TxnSize:     req.TxnSize,
		MinCommitTS: req.MinCommitTs,
		Generation:  p.generation,
	}
	if w := latestData(e); w != nil {
		l.LastChange = w.CommitTS
	}
	if pessLock != nil {
		l.TTL = max(l.TTL, pessLock.TTL)
		l.MinCommitTS = max(l.MinCommitTS, pessLock.MinCommitTS)
		l.ForUpdateTS = max(l.ForUpdateTS, pessLock.ForUpdateTS)
	}
	if p.asyncOr1PC && !p.fallback {
		if req.UseAsyncCommit {
			// Every lock of an async-commit request is marked, 1PC or not
			// (write_lock: secondary keys present).
			l.UseAsyncCommit = true
			if len(req.Secondaries) > 0 && bytes.Equal(key, req.PrimaryLock) {
				l.Secondaries = cloneKeys(req.Secondaries)
			}
		}
		// async_commit_timestamps: min_commit_ts must exceed every ts a
		// reader may already have used (max_ts), the start ts and the
		// for_update_ts.
		minTS := max(l.MinCommitTS, max(s.MaxTS(), start, req.ForUpdateTs)+1)
		if req.MaxCommitTs != 0 && minTS > req.MaxCommitTs {
			// Fallback to 2PC, not an error (CommitTsTooLarge is absorbed).
			if committedOnErr() {
				return nil, false, nil, true
			}
			p.fallback = true
			l.UseAsyncCommit = false
			l.Secondaries = nil
		} else {
			l.MinCommitTS = minTS
			p.minCommitTS = max(p.minCommitTS, minTS)
		}
	}
	if container != nil {
		if kerr := sharedPrewriteUnsupported(p, l); kerr != nil {
			return kerr, true, nil, false
		}
	}
	pl := pendingLock{key: key, lock: l, pessimist: pessLock != nil, shared: container}
	if m.Op == kvrpcpb.Op_Put || m.Op == kvrpcpb.Op_Insert {
		// Short values live in the lock, long ones in the default CF.
		if len(m.Value) <= shortValueMaxLen {
			l.ShortValue = append([]byte{}, m.Value...)
		} else {
			pl.longValue = bytes.Clone(m.Value)
		}
	}
	p.locks = append(p.locks, pl)
	return nil, false, assertion, false
}

// lockTypeOf maps a mutation to its lock type: Insert writes a Put lock,
// CheckNotExists none.
func lockTypeOf(op kvrpcpb.Op) kvrpcpb.Op {
	switch op {
	case kvrpcpb.Op_Put, kvrpcpb.Op_Insert:
		return kvrpcpb.Op_Put
	case kvrpcpb.Op_Del:
		return kvrpcpb.Op_Del
	}
	return kvrpcpb.Op_Lock
}

// checkNewerVersion is check_for_newer_version plus check_data_constraint
// (actions/prewrite.rs): it walks the key's versions newest first.
func (p *prewriter) checkNewerVersion(e *entry, key []byte, action kvrpcpb.PrewriteRequest_PessimisticAction, shouldNotExist bool) *kvrpcpb.KeyError {
	if e == nil {
		return nil
	}
	start, req := p.req.StartVersion, p.req
	i := 0
	for ; i < len(e.writes); i++ {
		w := e.writes[i]
		if w.CommitTS == start && w.rolledBackAt() {
			return errWriteConflict(start, w.StartTS, start, key, req.PrimaryLock, kvrpcpb.WriteConflict_SelfRolledBack)
		}
		if !p.pessimistic {
			// Optimistic: any newer record, Rollback and Lock included.
			if w.CommitTS > start {
				return errWriteConflict(start, w.StartTS, w.CommitTS, key, req.PrimaryLock, kvrpcpb.WriteConflict_Optimistic)
			}
			break
		}
		if action == kvrpcpb.PrewriteRequest_DO_CONSTRAINT_CHECK && w.CommitTS > start {
			return errWriteConflict(start, w.StartTS, w.CommitTS, key, req.PrimaryLock, kvrpcpb.WriteConflict_LazyUniquenessCheck)
		}
		if w.CommitTS > req.ForUpdateTs {
			if w.Type == WriteRollback {
				// Only pessimistic prewrite skips newer rollbacks.
				continue
			}
			return errPessimisticLockNotFound(start, key, "NonLockKeyConflict")
		}
		break
	}
	if shouldNotExist && i < len(e.writes) {
		// check_data_constraint on the record the walk stopped at.
		w := e.writes[i]
		switch w.Type {
		case WritePut:
			if !(w.HasGCFence && w.GCFence != 0) {
				return errAlreadyExist(key)
			}
		case WriteLock, WriteRollback:
			if d := dataVersion(e, i+1); d != nil && d.Type == WritePut {
				return errAlreadyExist(key)
			}
		}
	}
	return nil
}

// checkAssertion is check_assertion: Exist needs a live newest version,
// NotExist needs none; the error names the version found.
func checkAssertion(e *entry, key []byte, start uint64, a kvrpcpb.Assertion) *kvrpcpb.KeyError {
	w := latestData(e)
	switch a {
	case kvrpcpb.Assertion_Exist:
		if w == nil {
			return errAssertionFailed(start, key, a, 0, 0)
		}
		if w.Type == WriteDelete {
			return errAssertionFailed(start, key, a, w.StartTS, w.CommitTS)
		}
	case kvrpcpb.Assertion_NotExist:
		if w != nil && w.Type == WritePut {
			return errAssertionFailed(start, key, a, w.StartTS, w.CommitTS)
		}
	}
	return nil
}
