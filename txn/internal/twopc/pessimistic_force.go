package twopc

import (
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
)

// wakeUpMode is the lock request's wake_up_mode: force-lock for
// LockRequest.ForceLock, TiKV's legacy mode otherwise.
func wakeUpMode(force bool) kvrpcpb.PessimisticLockWakeUpMode {
	if force {
		return kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock
	}
	return kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeNormal
}

// fillResults records what a successful force-lock answer reports for its
// key (client-go's handlePessimisticLockResponseForceLockMode): a force-lock
// response carries one result per mutation instead of values and
// not_founds (TiKV's future_acquire_pessimistic_lock). A lock request that
// failed arrives here as its key error, never as a result: a response
// without a usable result is not one TiKV sends.
func fillResults(into map[string]LockedValue, pb *kvrpcpb.PessimisticLockRequest, resp *kvrpcpb.PessimisticLockResponse) error {
	if len(resp.GetResults()) != len(pb.Mutations) {
		return fmt.Errorf("twopc: force-lock response has %d results for %d keys: %w", len(resp.GetResults()), len(pb.Mutations), kv.ErrProtocol)
	}
	for i, m := range pb.Mutations {
		r := resp.Results[i]
		v := LockedValue{Value: r.Value, Exists: r.Existence}
		switch r.Type {
		case kvrpcpb.PessimisticLockKeyResultType_LockResultNormal:
		case kvrpcpb.PessimisticLockKeyResultType_LockResultLockedWithConflict:
			v.LockedWithConflictTS = r.LockedWithConflictTs
		default:
			return fmt.Errorf("twopc: force-lock of %q: result %s without a key error: %w", m.Key, r.Type, kv.ErrProtocol)
		}
		into[string(m.Key)] = v
	}
	return nil
}
