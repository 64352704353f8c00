package txn_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestSampleStepAndTaskID covers client-go's KVSnapshot.SetSampleStep and
// SetTaskID (txn-G9): a scan with sample step 3 over 10 keys returns keys
// 0, 3, 6, 9 (TiKV skips two keys after each one it returns), and every
// read of a snapshot with a task id carries it to TiKV. Both transports.
func TestSampleStepAndTaskID(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		var pairs []string
		for i := range 10 {
			pairs = append(pairs, fmt.Sprintf("s%02d", i), "v")
		}
		p.commit(pairs...)
		var mu sync.Mutex
		var tasks []uint64
		p.mock.OnRequest(func(_ uint64, cmd transport.Cmd, req transport.Message) {
			if cmd == transport.CmdScan || cmd == transport.CmdGet {
				mu.Lock()
				tasks = append(tasks, cmd.Context(req).GetTaskId())
				mu.Unlock()
			}
		})
		snap := p.client.Snapshot(p.now(), txn.WithSampleStep(3), txn.WithTaskID(42))
		got, err := collect(snap.Iter(t.Context(), []byte("s"), []byte("t")))
		if want := []string{"s00=v", "s03=v", "s06=v", "s09=v"}; err != nil || !slices.Equal(got, want) {
			t.Fatalf("sampled scan = %v, %v; want %v", got, err, want)
		}
		if _, err := snap.Get(t.Context(), []byte("s01")); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(tasks) == 0 || slices.ContainsFunc(tasks, func(id uint64) bool { return id != 42 }) {
			t.Fatalf("reads carried task ids %v, want 42 on each", tasks)
		}
	})
}
