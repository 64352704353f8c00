package kv

import (
	"errors"

	"github.com/pingcap/kvproto/pkg/errorpb"
)

// The conditions a request can run out of retries on. client-go returns
// one sentinel per backoff kind once a Backoffer's budget is spent (its
// config/retry table: BoTiKVRPC → ErrTiKVServerTimeout, BoRegionMiss →
// ErrRegionUnavailable, ...); here a *BackoffExhaustedError names its
// Policy and keeps the last cause, and errors.Is matches these sentinels
// on it (by the policy that slept longest, as client-go picks its error)
// and on the *RegionError it carries (by TiKV's error kind). So a caller
// branches with errors.Is(err, kv.ErrServerBusy) whether the retries ran
// out or the region error was final.
var (
	// ErrServerTimeout: attempts to TiKV kept failing on the wire (the
	// tikvRPC policy ran out): client-go's ErrTiKVServerTimeout.
	ErrServerTimeout = errors.New("tikv: tikv server timeout")
	// ErrRegionUnavailable: the region could not be reached through any
	// replica or kept moving (NotLeader without a leader, RegionNotFound,
	// EpochNotMatch, no replica left; the regionMiss and regionScheduling
	// policies): client-go's ErrRegionUnavailable.
	ErrRegionUnavailable = errors.New("tikv: region unavailable")
	// ErrServerBusy: TiKV answered ServerIsBusy until the wait ended:
	// client-go's ErrTiKVServerBusy.
	ErrServerBusy = errors.New("tikv: tikv server busy")
	// ErrDiskFull: the store's disk is full (DiskFull): ErrTiKVDiskFull.
	ErrDiskFull = errors.New("tikv: tikv disk full")
	// ErrStaleCommand: TiKV answered StaleCommand (the leader changed
	// under the command): client-go's ErrTiKVStaleCommand. For a write it
	// comes with ErrUndetermined.
	ErrStaleCommand = errors.New("tikv: tikv stale command")
	// ErrMaxTimestampNotSynced: a new leader had not yet synced its max
	// timestamp (MaxTimestampNotSynced): ErrTiKVMaxTimestampNotSynced.
	ErrMaxTimestampNotSynced = errors.New("tikv: tikv max timestamp not synced")
	// ErrRegionNotInitialized: the peer was not yet initialised
	// (RegionNotInitialized): client-go's ErrRegionNotInitialized.
	ErrRegionNotInitialized = errors.New("tikv: region not initialized")
	// ErrRegionDataNotReady: a stale read above the replica's safe ts
	// (DataIsNotReady): client-go's ErrRegionDataNotReady.
	ErrRegionDataNotReady = errors.New("tikv: region data not ready")
	// ErrRegionRecoveryInProgress: the region is being recovered by
	// online unsafe recovery (RecoveryInProgress).
	ErrRegionRecoveryInProgress = errors.New("tikv: region is being online unsafe recovered")
	// ErrRegionFlashbackInProgress: the region is in a flashback
	// (FlashbackInProgress); no retry helps until it ends.
	ErrRegionFlashbackInProgress = errors.New("tikv: region is in the flashback progress")
	// ErrRegionFlashbackNotPrepared: a flashback command reached a region
	// not prepared for it (FlashbackNotPrepared).
	ErrRegionFlashbackNotPrepared = errors.New("tikv: region is not prepared for the flashback")
	// ErrIsWitness: the peer is a witness, which holds no data (IsWitness).
	ErrIsWitness = errors.New("tikv: peer is witness")
	// ErrResolveLockTimeout: a request kept meeting locks it could not
	// resolve, or a transaction status it could not settle, until its
	// budget ran out (the txnLock, txnLockFast and txnNotFound
	// policies): client-go's ErrResolveLockTimeout.
	ErrResolveLockTimeout = errors.New("tikv: resolve lock timeout")
)

// policyErrors maps the backoff policies (pipeline/backoff's names) to the
// sentinel client-go returns when that kind of backoff runs out. pdRPC is
// ErrPDUnavailable (client-go's ErrPDServerTimeout).
var policyErrors = map[string]error{
	"tikvRPC":                  ErrServerTimeout,
	"regionMiss":               ErrRegionUnavailable,
	"regionScheduling":         ErrRegionUnavailable,
	"tikvServerBusy":           ErrServerBusy,
	"tikvDiskFull":             ErrDiskFull,
	"regionRecoveryInProgress": ErrRegionRecoveryInProgress,
	"isWitness":                ErrIsWitness,
	"staleCommand":             ErrStaleCommand,
	"maxTsNotSynced":           ErrMaxTimestampNotSynced,
	"regionNotInitialized":     ErrRegionNotInitialized,
	"txnLock":                  ErrResolveLockTimeout,
	"txnLockFast":              ErrResolveLockTimeout,
	"txnNotFound":              ErrResolveLockTimeout,
	"pdRPC":                    ErrPDUnavailable,
}

// Is makes errors.Is(err, s) hold for the sentinel s of the backoff policy
// that ran out (see ErrServerTimeout and the others), in addition to the
// stop reason and cause Unwrap exposes.
func (e *BackoffExhaustedError) Is(target error) bool {
	s, ok := policyErrors[e.Policy]
	return ok && s == target
}

// Is makes errors.Is(err, s) hold for the sentinel s of TiKV's error kind:
// ServerIsBusy is ErrServerBusy, DiskFull ErrDiskFull, and so on; a
// routing error (NotLeader, RegionNotFound, EpochNotMatch, KeyNotInRegion,
// StoreNotMatch) and the absence of any replica to try are
// ErrRegionUnavailable.
func (e *RegionError) Is(target error) bool {
	return target != nil && regionErrorSentinel(e.Err) == target
}

// regionErrorSentinel returns the sentinel of a region error's kind, nil
// for a kind that has none.
func regionErrorSentinel(e *errorpb.Error) error {
	switch {
	case e == nil, e.NotLeader != nil, e.RegionNotFound != nil, e.EpochNotMatch != nil,
		e.KeyNotInRegion != nil, e.StoreNotMatch != nil:
		return ErrRegionUnavailable
	case e.ServerIsBusy != nil:
		return ErrServerBusy
	case e.DiskFull != nil:
		return ErrDiskFull
	case e.StaleCommand != nil:
		return ErrStaleCommand
	case e.MaxTimestampNotSynced != nil:
		return ErrMaxTimestampNotSynced
	case e.RegionNotInitialized != nil:
		return ErrRegionNotInitialized
	case e.DataIsNotReady != nil:
		return ErrRegionDataNotReady
	case e.RecoveryInProgress != nil:
		return ErrRegionRecoveryInProgress
	case e.FlashbackInProgress != nil:
		return ErrRegionFlashbackInProgress
	case e.FlashbackNotPrepared != nil:
		return ErrRegionFlashbackNotPrepared
	case e.IsWitness != nil:
		return ErrIsWitness
	}
	return nil
}
