package twopc

import (
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pdclient"
)

// notePessimistic records, for a pessimistic transaction
// (Request.ForUpdateTS set), its for_update_ts and which mutations hold its
// pessimistic locks or need a constraint check. newTxn calls it before sorting t.muts, while
// t.muts[i] is still req.Mutations[i].
func (t *txn) notePessimistic(req Request) {
	if req.ForUpdateTS == 0 {
		return
	}
	t.forUpdateTS = req.ForUpdateTS
	t.pessimistic = make(map[*kvrpcpb.Mutation]kvrpcpb.PrewriteRequest_PessimisticAction)
	for i := range req.Mutations {
		switch {
		case req.Mutations[i].Pessimistic:
			t.pessimistic[t.muts[i]] = kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK
			if ts := req.Mutations[i].ExpectedForUpdateTS; ts != 0 {
				if t.expectedForUpdateTS == nil {
					t.expectedForUpdateTS = map[*kvrpcpb.Mutation]uint64{}
				}
				t.expectedForUpdateTS[t.muts[i]] = ts
			}
		case req.Mutations[i].ConstraintCheck:
			t.pessimistic[t.muts[i]] = kvrpcpb.PrewriteRequest_DO_CONSTRAINT_CHECK
		}
	}
}

// pessimisticActions returns the prewrite's pessimistic_actions for one
// batch's mutations (client-go's buildPrewriteRequest): DO_PESSIMISTIC_CHECK
// for keys the transaction locked (TiKV fails the prewrite with
// PessimisticLockNotFound when the lock is gone, pessimistic_prewrite in
// actions/prewrite.rs), DO_CONSTRAINT_CHECK for unlocked keys whose
// existence check was postponed to prewrite (TiKV then fails a newer write
// as a LazyUniquenessCheck conflict and an existing value as AlreadyExist),
// SKIP_PESSIMISTIC_CHECK for the others, which are checked for write
// conflicts as an optimistic transaction's are. Nil for an optimistic
// transaction.
func (t *txn) pessimisticActions(ms []*kvrpcpb.Mutation) []kvrpcpb.PrewriteRequest_PessimisticAction {
	if t.pessimistic == nil {
		return nil
	}
	acts := make([]kvrpcpb.PrewriteRequest_PessimisticAction, len(ms))
	for i, m := range ms {
		acts[i] = kvrpcpb.PrewriteRequest_SKIP_PESSIMISTIC_CHECK
		if a, ok := t.pessimistic[m]; ok {
			acts[i] = a
		}
	}
	return acts
}

// decoratePessimistic sets the prewrite fields of a pessimistic
// transaction (client-go's buildPrewriteRequest): for_update_ts, a
// min_commit_ts above it, and for async commit a TTL that outlives
// max_commit_ts, so that a reader resolving the lock pushes its
// min_commit_ts past max_commit_ts and the transaction falls back to
// two-phase commit rather than commit below a pushed reader (TiDB issue
// 33641).
func (t *txn) decoratePessimistic(pb *kvrpcpb.PrewriteRequest) {
	if t.pessimistic == nil {
		return
	}
	pb.ForUpdateTs = t.forUpdateTS
	if pb.MinCommitTs <= t.forUpdateTS {
		pb.MinCommitTs = t.forUpdateTS + 1
	}
	if pb.UseAsyncCommit && pb.MaxCommitTs > 0 {
		safe := time.Duration(pdclient.ExtractPhysical(pb.MaxCommitTs)-pdclient.ExtractPhysical(t.startTS)+1) * time.Millisecond
		if safe > time.Duration(pb.LockTtl)*time.Millisecond {
			pb.LockTtl = uint64(safe / time.Millisecond)
		}
	}
}

// forUpdateTSConstraints returns the prewrite's for_update_ts_constraints
// for one batch's mutations: the expected for_update_ts of each locked key
// that has one (Mutation.ExpectedForUpdateTS), by index into ms; nil when
// none has.
func (t *txn) forUpdateTSConstraints(ms []*kvrpcpb.Mutation) []*kvrpcpb.PrewriteRequest_ForUpdateTSConstraint {
	if len(t.expectedForUpdateTS) == 0 {
		return nil
	}
	var out []*kvrpcpb.PrewriteRequest_ForUpdateTSConstraint
	for i, m := range ms {
		if ts, ok := t.expectedForUpdateTS[m]; ok {
			out = append(out, &kvrpcpb.PrewriteRequest_ForUpdateTSConstraint{Index: uint32(i), ExpectedForUpdateTs: ts})
		}
	}
	return out
}
