package pipeline

import (
	"github.com/pingcap/kvproto/pkg/errorpb"

	"github.com/tikvgo/tikv/pipeline/backoff"
)

// regionAction is what Dispatch does with one region error.
type regionAction int

const (
	// retrySame: wait (if policy is set) and resend to the same region.
	retrySame regionAction = iota
	// switchLeader: TiKV named the leader; resend there without waiting.
	switchLeader
	// reloadRegion: wait, reload the region from PD, resend.
	reloadRegion
	// epochChanged: let the region cache absorb TiKV's current regions;
	// usually the piece is then re-split.
	epochChanged
	// resplit: drop the cached region and hand the piece back to Shard to
	// be routed again.
	resplit
	// fatal: no retry can fix it; return the error.
	fatal
)

// regionDecision is one row of the region-error table.
type regionDecision struct {
	action regionAction
	// policy is the backoff before the retry; the zero Policy means none.
	policy backoff.Policy
	// invalidate drops the cached region before acting.
	invalidate bool
	// storeChanged re-resolves the answering store's address.
	storeChanged bool
}

// classifyRegionError is the region-error table: a pure function of TiKV's
// error, table-tested. The rows follow client-go's handling
// (internal/locate/region_request.go onRegionError); where client-go relies
// on its replica selector, the skeleton falls back to reloading the region
// from PD, since requests go to the leader only.
func classifyRegionError(e *errorpb.Error) regionDecision {
	switch {
	case e.NotLeader != nil && e.NotLeader.GetLeader() != nil:
		// A new leader is known: go there at once.
		return regionDecision{action: switchLeader}
	case e.NotLeader != nil:
		// The region is electing a leader: give it time, then ask PD.
		return regionDecision{action: reloadRegion, policy: backoff.RegionScheduling, invalidate: true}
	case e.EpochNotMatch != nil:
		return regionDecision{action: epochChanged}
	case e.RegionNotFound != nil, e.KeyNotInRegion != nil, e.MismatchPeerId != nil:
		// The cached region is wrong for this key or store: route again.
		return regionDecision{action: resplit, invalidate: true}
	case e.StoreNotMatch != nil:
		// The address now belongs to another store (the store moved):
		// re-resolve the store and route again.
		return regionDecision{action: resplit, invalidate: true, storeChanged: true}
	case e.BucketVersionNotMatch != nil:
		return regionDecision{action: resplit}
	case e.ServerIsBusy != nil:
		return regionDecision{action: retrySame, policy: backoff.ServerBusy}
	case e.StaleCommand != nil:
		return regionDecision{action: retrySame, policy: backoff.StaleCmd}
	case e.MaxTimestampNotSynced != nil:
		return regionDecision{action: retrySame, policy: backoff.MaxTSNotSynced}
	case e.RegionNotInitialized != nil:
		return regionDecision{action: retrySame, policy: backoff.RegionNotInitialized}
	case e.ReadIndexNotReady != nil, e.ProposalInMergingMode != nil:
		return regionDecision{action: retrySame, policy: backoff.RegionScheduling}
	case e.DiskFull != nil:
		return regionDecision{action: retrySame, policy: backoff.DiskFull}
	case e.DataIsNotReady != nil:
		// Only stale reads get it; the retry reads from the leader.
		return regionDecision{action: retrySame, policy: backoff.RegionMiss}
	case e.RecoveryInProgress != nil:
		return regionDecision{action: reloadRegion, policy: backoff.RegionRecoveryInProgress, invalidate: true}
	case e.IsWitness != nil:
		return regionDecision{action: reloadRegion, policy: backoff.IsWitness, invalidate: true}
	case e.RaftEntryTooLarge != nil, e.FlashbackInProgress != nil, e.FlashbackNotPrepared != nil,
		e.UndeterminedResult != nil:
		return regionDecision{action: fatal}
	default:
		// An error this client does not know: route again from fresh
		// metadata, as client-go does without a selector.
		return regionDecision{action: resplit, policy: backoff.RegionMiss, invalidate: true}
	}
}
