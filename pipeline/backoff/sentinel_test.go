package backoff

import (
	"context"
	"errors"
	"testing"

	"github.com/tikvgo/tikv/kv"
)

// TestExhaustedMatchesClientGoSentinel: the error of every built-in policy
// that ran out matches, with errors.Is, the kv sentinel of the error
// client-go's Backoffer returns for that backoff kind (config/retry's
// table: BoTiKVRPC → ErrTiKVServerTimeout, BoPDRPC → ErrPDServerTimeout,
// ...), and only that one, so a renamed policy cannot silently lose its
// sentinel.
func TestExhaustedMatchesClientGoSentinel(t *testing.T) {
	want := map[*Policy]error{
		&TiKVRPC: kv.ErrServerTimeout, &TxnLock: kv.ErrResolveLockTimeout, &TxnLockFast: kv.ErrResolveLockTimeout,
		&PDRPC: kv.ErrPDUnavailable, &RegionMiss: kv.ErrRegionUnavailable, &RegionScheduling: kv.ErrRegionUnavailable,
		&ServerBusy: kv.ErrServerBusy, &DiskFull: kv.ErrDiskFull, &RegionRecoveryInProgress: kv.ErrRegionRecoveryInProgress,
		&IsWitness: kv.ErrIsWitness, &StaleCmd: kv.ErrStaleCommand, &MaxTSNotSynced: kv.ErrMaxTimestampNotSynced,
		&RegionNotInitialized: kv.ErrRegionNotInitialized, &TxnNotFound: kv.ErrResolveLockTimeout,
	}
	all := []error{kv.ErrServerTimeout, kv.ErrResolveLockTimeout, kv.ErrPDUnavailable, kv.ErrRegionUnavailable,
		kv.ErrServerBusy, kv.ErrDiskFull, kv.ErrRegionRecoveryInProgress, kv.ErrIsWitness, kv.ErrStaleCommand,
		kv.ErrMaxTimestampNotSynced, kv.ErrRegionNotInitialized}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cause := errors.New("cause")
	for p, s := range want {
		err := WithBudget(0).Exhausted(ctx, *p, cause)
		if !errors.Is(err, s) || !errors.Is(err, cause) || !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v does not match %v, its cause and the stop reason", p.Name, err, s)
		}
		for _, other := range all {
			if other != s && errors.Is(err, other) {
				t.Errorf("%s: %v also matches %v", p.Name, err, other)
			}
		}
	}
}
