package raw_test

import (
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// TestCallStatsFollowARerouteAndAFollowerRead: a ctx-carried
// observe.CallStats gets, for a raw Get re-routed by RegionNotFound, what
// client-go's RegionRequestRuntimeStats and ReplicaAccessStats give: two
// RawGet attempts of one call (attempts 0 and 1, both to the leader's
// store and address), the first failing with the region error, the
// regionMiss backoff between them, the PD lookups of the cold cache and of
// the re-route, and the totals (wait-KV, wait-PD, backoff). A follower
// read then records its follower peer and replica-read mode. No observer
// is installed: the collector works on its own. Over gRPC and in-process.
func TestCallStatsFollowARerouteAndAFollowerRead(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			mock, _, client := m.connect(t, []mocktikv.Option{mocktikv.WithStores(3)})
			if err := client.Put(t.Context(), []byte("k"), []byte("v")); err != nil {
				t.Fatal(err)
			}
			region, leader := mock.RegionByKey([]byte("k"))
			mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawGet, Steps: []mocktikv.Step{
				mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{RegionId: region.GetId()}})),
			}})

			stats := &observe.CallStats{}
			ctx := observe.WithCallStats(t.Context(), stats)
			if v, err := client.Get(ctx, []byte("k")); err != nil || string(v) != "v" {
				t.Fatalf("Get = %q, %v", v, err)
			}
			if n := stats.RPCCount("RawGet"); n != 2 {
				t.Fatalf("RawGet attempts = %d, want 2 (%s)", n, stats)
			}
			acc := stats.Accesses()
			if len(acc) != 2 {
				t.Fatalf("accesses = %+v", acc)
			}
			for i, a := range acc {
				if a.Attempt != i || a.Call != acc[0].Call || a.Call.API != "RawGet" || a.Cmd != "RawGet" ||
					a.StoreID != leader.GetStoreId() || a.PeerID != leader.GetId() || a.Role != "leader" ||
					a.Addr == "" || a.RegionID != region.GetId() || a.ReplicaRead || a.Duration <= 0 {
					t.Errorf("access %d = %+v", i, a)
				}
			}
			var re *kv.RegionError
			if acc[0].ErrKind != "RegionNotFound" || !errors.As(acc[0].Err, &re) || re.Err.GetRegionNotFound() == nil {
				t.Errorf("first attempt's outcome = %q, %v", acc[0].ErrKind, acc[0].Err)
			}
			if acc[1].ErrKind != "" || acc[1].Err != nil {
				t.Errorf("second attempt's outcome = %q, %v", acc[1].ErrKind, acc[1].Err)
			}
			if got := stats.Errors(); len(got) != 1 || got["RegionNotFound"] != 1 {
				t.Errorf("errors = %v", got)
			}
			if b := stats.Backoffs()["regionMiss"]; b.N != 1 || b.Total <= 0 {
				t.Errorf("regionMiss backoffs = %+v", b)
			}
			if bo := stats.Backoff(); bo.N != 1 {
				t.Errorf("backoff total = %+v", bo)
			}
			// The re-route loads the region again from PD (the Put before
			// warmed the cache, so that is the only lookup).
			if pd := stats.PDWaits()["GetRegion"]; pd.N < 1 || stats.WaitPD() <= 0 {
				t.Errorf("PD waits = %v, total %v", stats.PDWaits(), stats.WaitPD())
			}
			if stats.WaitKV() != acc[0].Duration+acc[1].Duration {
				t.Errorf("wait-KV %v, want the attempts' sum %v", stats.WaitKV(), acc[0].Duration+acc[1].Duration)
			}

			follower := &observe.CallStats{}
			if _, err := client.Get(observe.WithCallStats(t.Context(), follower), []byte("k"),
				raw.ReplicaRead(kv.ReplicaReadFollower)); err != nil {
				t.Fatal(err)
			}
			fa := follower.Accesses()
			if len(fa) != 1 || fa[0].Role != "follower" || !fa[0].ReplicaRead || fa[0].StoreID == leader.GetStoreId() {
				t.Errorf("follower read's accesses = %+v", fa)
			}
			if stats.RPCCount("RawGet") != 2 {
				t.Errorf("a call under another context recorded into the first collector: %s", stats)
			}
		})
	}
}

// TestCallStatsCountsSendFailures: an attempt that fails on the wire is
// recorded with its error and a send-failure kind, and the tikvRPC backoff
// that follows is counted; the retried read succeeds.
func TestCallStatsCountsSendFailures(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			mock, _, client := m.connect(t, nil)
			if err := client.Put(t.Context(), []byte("k"), []byte("v")); err != nil {
				t.Fatal(err)
			}
			mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawGet, Steps: []mocktikv.Step{
				mocktikv.Times(1, mocktikv.Fail(status.Error(codes.Unavailable, "store down"))),
			}})
			stats := &observe.CallStats{}
			if _, err := client.Get(observe.WithCallStats(t.Context(), stats), []byte("k")); err != nil {
				t.Fatal(err)
			}
			acc := stats.Accesses()
			if len(acc) != 2 || acc[0].Err == nil || acc[0].ErrKind != "SendFailed" || acc[1].Err != nil {
				t.Fatalf("accesses = %+v", acc)
			}
			if b := stats.Backoffs()["tikvRPC"]; b.N != 1 {
				t.Errorf("tikvRPC backoffs = %+v (%s)", b, stats)
			}
		})
	}
}
