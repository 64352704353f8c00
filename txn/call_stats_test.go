package txn_test

import (
	"testing"

	"github.com/tikvgo/tikv/observe"
)

// TestCallStatsOfATransaction: a ctx-carried observe.CallStats (client-go's
// ctx-carried util.ExecDetails and RegionRequestRuntimeStats) collects a
// transaction's reads and commit: the KvGet attempt, the prewrite and
// commit attempts, each recorded with its store and the leader role, and
// the timestamps fetched from PD as GetTS waits. Over gRPC and in-process.
func TestCallStatsOfATransaction(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(t *testing.T) {
			p := newPortCluster(t, grpc, nil)
			p.commit("a", "1")

			stats := &observe.CallStats{}
			ctx := observe.WithCallStats(t.Context(), stats)
			tx, err := p.client.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if v, err := tx.Get(ctx, []byte("a")); err != nil || string(v) != "1" {
				t.Fatalf("Get = %q, %v", v, err)
			}
			if err := tx.Set([]byte("b"), []byte("2")); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if stats.RPCCount("KvGet") != 1 || stats.RPCCount("KvPrewrite") < 1 {
				t.Fatalf("RPCs = %v", stats.RPCs())
			}
			for _, a := range stats.Accesses() {
				if a.StoreID == 0 || a.Role != "leader" || a.Err != nil {
					t.Errorf("access %+v", a)
				}
			}
			if ts := stats.PDWaits()["GetTS"]; ts.N < 2 {
				// Begin's start ts and the commit's ts at least.
				t.Errorf("GetTS waits = %+v (%s)", ts, stats)
			}
		})
	}
}
