package transport

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/grpc/connectivity"
)

// TestBatchObserverSeesEveryBatch: the observer is called per batch
// written, with the store's address; the sizes add up to the requests
// sent, each at least 1 and at most MaxBatchSize, and waits are not
// negative. It is kept whichever of WithBatch and WithBatchObserver comes
// first. ConnStates then lists the address's connections, which have served
// requests (a stream each) and so are ready.
func TestBatchObserverSeesEveryBatch(t *testing.T) {
	s := newBatchTikv()
	s.inline = true
	addr := startTikv(t, s)
	var mu sync.Mutex
	var batches []BatchStats
	p, _ := newTestPool(t, WithBatchObserver(func(b BatchStats) {
		mu.Lock()
		batches = append(batches, b)
		mu.Unlock()
	}), WithBatch(BatchConfig{MaxBatchSize: 4}))
	const n = 32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := p.Send(context.Background(), rawGet(addr, "k")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, b := range batches {
		if b.Addr != addr || b.Size < 1 || b.Size > 4 || b.Wait < 0 {
			t.Fatalf("batch %+v: want address %s, 1..4 requests, a wait >= 0", b, addr)
		}
		total += b.Size
	}
	if total != n {
		t.Fatalf("batches carried %d requests, want %d", total, n)
	}
	states := p.ConnStates()
	got := states[addr]
	if len(states) != 1 || len(got) != DefaultConnsPerStore {
		t.Fatalf("ConnStates = %v, want %d connections to %s", states, DefaultConnsPerStore, addr)
	}
	for _, st := range got {
		if st != connectivity.Ready {
			t.Fatalf("ConnStates = %v, want every connection to %s ready", states, addr)
		}
	}
}
