package txn_test

import (
	"sync"
	"testing"
	"time"

	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestKVReadTimeout covers client-go's KVSnapshot.SetKVReadTimeout (txn-G9):
// with the leader's store slow (each point read held 3 s), a snapshot with
// a 100 ms KV read timeout asks the leader with that timeout (also sent to
// TiKV as max_execution_duration_ms), gives up on it after the timeout and
// reads from a follower at once, for Get and BatchGet. In process and over
// gRPC (mocktikv's in-process sender stops waiting at the attempt's
// deadline, as the gRPC transport does).
func TestKVReadTimeout(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(t *testing.T) {
			p, sl := newReplicaCluster(t, grpc, nil)
			p.commit("k", "v")
			var mu sync.Mutex
			var budgets []uint64 // max_execution_duration_ms of the reads the leader received
			p.mock.OnRequest(func(store uint64, cmd transport.Cmd, req transport.Message) {
				if store == 1 && (cmd == transport.CmdGet || cmd == transport.CmdBatchGet) {
					mu.Lock()
					budgets = append(budgets, cmd.Context(req).GetMaxExecutionDurationMs())
					mu.Unlock()
				}
			})
			p.mock.Inject(mocktikv.Fault{Store: 1, Match: func(_ uint64, cmd transport.Cmd, _ transport.Message) bool {
				return cmd == transport.CmdGet || cmd == transport.CmdBatchGet
			}, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Delay(3 * time.Second))}})

			snap := p.client.Snapshot(p.now(), txn.WithKVReadTimeout(100*time.Millisecond))
			sl.take()
			start := time.Now()
			v, err := snap.Get(t.Context(), []byte("k"))
			if err != nil || string(v) != "v" {
				t.Fatalf("get = %q, %v", v, err)
			}
			if d := time.Since(start); d >= 3*time.Second {
				t.Fatalf("get took %v: it waited for the slow leader", d)
			}
			reads := sl.take()
			if len(reads) != 2 || reads[0].store != 1 || reads[1].store == 1 {
				t.Fatalf("get reads %+v, want the leader then a follower", reads)
			}
			pairs, err := p.client.Snapshot(p.now(), txn.WithKVReadTimeout(100*time.Millisecond)).BatchGet(t.Context(), [][]byte{[]byte("k")})
			if err != nil || len(pairs) != 1 {
				t.Fatalf("batch get = %v, %v", pairs, err)
			}
			if reads := sl.take(); len(reads) != 2 || reads[0].store != 1 || reads[1].store == 1 {
				t.Fatalf("batch get reads %+v, want the leader then a follower", reads)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(budgets) != 2 || budgets[0] != 100 || budgets[1] != 100 {
				t.Fatalf("the leader's reads carried max_execution_duration_ms %v, want [100 100]", budgets)
			}
		})
	}
}
