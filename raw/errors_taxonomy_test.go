package raw_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
)

// TestRetryOutcomesMatchClientGoSentinels: a raw Get that TiKV keeps refusing
// with one kind of region error (or that keeps failing on the wire) ends
// with an error that errors.Is matches against the kv sentinel of
// client-go's error for that kind (ErrTiKVServerBusy, ErrRegionUnavailable,
// ErrTiKVMaxTimestampNotSynced, ErrRegionNotInitialized, ErrIsWitness,
// ErrRegionRecoveryInProgress, ErrRegionFlashbackInProgress,
// ErrTiKVDiskFull, ErrTiKVServerTimeout), whether the retries ran out
// (a *kv.BackoffExhaustedError of that policy) or the error was final
// (a fatal *kv.RegionError). A Put answered StaleCommand is undetermined
// and kv.ErrStaleCommand. Over gRPC and in-process.
func TestRetryOutcomesMatchClientGoSentinels(t *testing.T) {
	region := func(e *errorpb.Error) mocktikv.Action { return mocktikv.RegionError(e) }
	cases := []struct {
		name   string
		cmd    transport.Cmd
		action mocktikv.Action
		want   error
	}{
		{"ServerIsBusy", transport.CmdRawGet, region(&errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{Reason: "busy"}}), kv.ErrServerBusy},
		{"RegionNotFound", transport.CmdRawGet, region(&errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{}}), kv.ErrRegionUnavailable},
		{"MaxTimestampNotSynced", transport.CmdRawGet, region(&errorpb.Error{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}}), kv.ErrMaxTimestampNotSynced},
		{"RegionNotInitialized", transport.CmdRawGet, region(&errorpb.Error{RegionNotInitialized: &errorpb.RegionNotInitialized{}}), kv.ErrRegionNotInitialized},
		{"IsWitness", transport.CmdRawGet, region(&errorpb.Error{IsWitness: &errorpb.IsWitness{}}), kv.ErrIsWitness},
		{"RecoveryInProgress", transport.CmdRawGet, region(&errorpb.Error{RecoveryInProgress: &errorpb.RecoveryInProgress{}}), kv.ErrRegionRecoveryInProgress},
		{"FlashbackInProgress", transport.CmdRawGet, region(&errorpb.Error{FlashbackInProgress: &errorpb.FlashbackInProgress{}}), kv.ErrRegionFlashbackInProgress},
		{"DiskFull", transport.CmdRawGet, region(&errorpb.Error{DiskFull: &errorpb.DiskFull{}}), kv.ErrDiskFull},
		{"Unavailable", transport.CmdRawGet, mocktikv.Fail(status.Error(codes.DeadlineExceeded, "slow store")), kv.ErrServerTimeout},
		{"StaleCommand", transport.CmdRawPut, region(&errorpb.Error{StaleCommand: &errorpb.StaleCommand{}}), kv.ErrStaleCommand},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			mock, cluster, client := m.connect(t, nil)
			if err := client.Put(t.Context(), []byte("k"), []byte("v")); err != nil {
				t.Fatal(err)
			}
			// The raw client's own plans, on an environment whose backoff
			// budget is short: the retries end by the budget, not by a
			// deadline that could as well fall in the middle of an attempt
			// or a PD lookup on a loaded machine.
			env := *cluster.EnvFor(kv.ModeRaw)
			env.BackoffBudget = 200 * time.Millisecond
			get := pipeline.Single(pipeline.Shard(&env, pipeline.ByKey((*kvrpcpb.RawGetRequest).GetKey),
				pipeline.Retry(&env, plans.RawGet), pipeline.Named("RawGet")))
			put := pipeline.Single(pipeline.Shard(&env, pipeline.ByKey((*kvrpcpb.RawPutRequest).GetKey),
				pipeline.Retry(&env, plans.RawPut), pipeline.Named("RawPut")))
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					h := mock.Inject(mocktikv.Fault{Cmd: tc.cmd, Steps: []mocktikv.Step{mocktikv.Always(tc.action)}})
					defer h.Remove()
					// ServerIsBusy waits on a budget of its own (10 min, as
					// client-go's): a deadline ends it, before its first 2 s
					// sleep.
					ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
					defer cancel()
					var err error
					if tc.cmd == transport.CmdRawPut {
						_, err = put(ctx, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("w")})
					} else {
						_, err = get(ctx, &kvrpcpb.RawGetRequest{Key: []byte("k")})
					}
					t.Logf("%v", err)
					if !errors.Is(err, tc.want) {
						t.Fatalf("err = %v, want errors.Is %v", err, tc.want)
					}
					if tc.cmd == transport.CmdRawPut && !errors.Is(err, kv.ErrUndetermined) {
						t.Fatalf("a stale-command Put: %v, want undetermined", err)
					}
					for _, other := range []error{kv.ErrServerBusy, kv.ErrRegionUnavailable, kv.ErrIsWitness, kv.ErrDiskFull, kv.ErrServerTimeout} {
						if other != tc.want && errors.Is(err, other) {
							t.Errorf("err %v also matches %v", err, other)
						}
					}
				})
			}
		})
	}
}
