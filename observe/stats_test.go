package observe_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tikvgo/tikv/observe"
)

// TestCallStatsCapsAndMerges: error labels beyond 16 kinds are counted as
// "other_error" (client-go's RequestErrorStats cap), attempts beyond
// MaxAccesses are counted in Dropped but still in the totals, Merge adds
// counts, and String lists the parts in name order.
func TestCallStatsCapsAndMerges(t *testing.T) {
	var s observe.CallStats
	for i := range observe.MaxAccesses + 3 {
		s.RecordAttempt(observe.Access{Cmd: "RawGet", Duration: time.Millisecond, ErrKind: fmt.Sprintf("E%02d", i%20)})
	}
	errs := s.Errors()
	if len(errs) != 17 || errs["other_error"] == 0 {
		t.Fatalf("errors = %v", errs)
	}
	if len(s.Accesses()) != observe.MaxAccesses || s.Dropped() != 3 || s.RPCCount("RawGet") != observe.MaxAccesses+3 {
		t.Fatalf("accesses %d, dropped %d, count %d", len(s.Accesses()), s.Dropped(), s.RPCCount("RawGet"))
	}
	if s.WaitKV() != time.Duration(observe.MaxAccesses+3)*time.Millisecond {
		t.Fatalf("wait-KV %v", s.WaitKV())
	}

	var o observe.CallStats
	o.RecordAttempt(observe.Access{Cmd: "RawPut", Duration: 2 * time.Millisecond})
	o.RecordBackoff("regionMiss", 3*time.Millisecond)
	o.RecordPD("GetRegion", time.Millisecond)
	var sum observe.CallStats
	sum.Merge(&o)
	sum.Merge(&o)
	want := "RawPut:{num_rpc:2, total_time:4ms}, regionMiss_backoff:{num:2, total_time:6ms}, pd_GetRegion:{num:2, total_time:2ms}"
	if got := sum.String(); got != want {
		t.Fatalf("String = %q\nwant %q", got, want)
	}
	if b := sum.Backoff(); b.N != 2 || b.Total != 6*time.Millisecond || sum.WaitPD() != 2*time.Millisecond {
		t.Fatalf("backoff %+v, wait-PD %v", b, sum.WaitPD())
	}
	if observe.CallStatsFrom(observe.WithCallStats(context.Background(), &sum)) != &sum ||
		observe.CallStatsFrom(context.Background()) != nil {
		t.Fatal("CallStatsFrom does not return what WithCallStats attached")
	}
}
