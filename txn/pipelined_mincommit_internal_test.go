package txn

import (
	"sync"
	"testing"
)

// The min commit ts a pipelined transaction's heartbeat pushes: it starts
// at 0, only rises, stops rising once the commit freezes it (freeze
// reports the value the commit starts from), and concurrent pushes leave
// the largest.
//
// ports client-go's TestMinCommitTsManager (txnkv/transaction/2pc_test.go):
// "Initial state", "TTL updates", "Elevate write access", "Concurrent
// updates", and the ttlAccess half of "Updates after elevation". Its
// twoPCAccess half is the commit protocol's own min commit ts once this
// one is frozen: twopc raises it to the largest min_commit_ts TiKV
// answers (TestAsyncCommitProtocolMinimum, txn/internal/twopc).
func TestPipelinedMinCommitTS(t *testing.T) {
	t.Run("initial", func(t *testing.T) {
		var m minCommitTS
		if m.get() != 0 || m.frozen {
			t.Fatalf("zero value: %d, frozen %v; want 0 and open to pushes", m.get(), m.frozen)
		}
	})
	t.Run("pushes only rise", func(t *testing.T) {
		var m minCommitTS
		if got := m.push(10); got != 10 {
			t.Fatalf("push(10) = %d", got)
		}
		if got := m.push(5); got != 10 || m.get() != 10 {
			t.Fatalf("push(5) = %d, get %d; want 10", got, m.get())
		}
	})
	t.Run("freeze", func(t *testing.T) {
		var m minCommitTS
		m.push(10)
		if got := m.freeze(); got != 10 {
			t.Fatalf("freeze = %d, want 10", got)
		}
		if got := m.push(20); got != 10 || m.get() != 10 {
			t.Fatalf("push after freeze = %d, get %d; want 10", got, m.get())
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var m minCommitTS
		var wg sync.WaitGroup
		for _, base := range []uint64{0, 1000} {
			wg.Go(func() {
				for i := range uint64(1000) {
					m.push(base + i)
				}
			})
		}
		wg.Wait()
		if m.get() != 1999 {
			t.Fatalf("after concurrent pushes: %d, want 1999", m.get())
		}
	})
}
