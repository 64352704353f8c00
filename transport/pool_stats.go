package transport

import (
	"time"

	"google.golang.org/grpc/connectivity"
)

// BatchStats describes one BatchCommands batch as its send loop writes it
// to a stream, for metrics (WithBatchObserver).
type BatchStats struct {
	// Addr is the store's address.
	Addr string
	// Size is the number of requests in the batch.
	Size int
	// Wait is how long the batch's oldest request waited in the stream's
	// queue: from Send queueing it to the batch being written.
	Wait time.Duration
}

// WithBatchObserver has f called once per BatchCommands batch written, on
// the stream's send loop: f must be quick and must not block (a metrics
// recorder). Without it batches are not described, at no cost.
func WithBatchObserver(f func(BatchStats)) PoolOption {
	return func(c *poolConfig) { c.batch.onBatch = f }
}

// observeBatch reports the batch about to be written to the pool's
// batch observer, if any.
func (s *batchStream) observeBatch(now time.Time) {
	f := s.client.cfg.onBatch
	if f == nil || len(s.batch) == 0 {
		return
	}
	oldest := s.batch[0].arrived
	for _, e := range s.batch[1:] {
		if e.arrived.Before(oldest) {
			oldest = e.arrived
		}
	}
	f(BatchStats{Addr: s.client.addr, Size: len(s.batch), Wait: now.Sub(oldest)})
}

// ConnStates returns the state of each gRPC connection the Pool holds, by
// address (retired connections still finishing calls are left out), for
// metrics and diagnostics.
func (p *Pool) ConnStates() map[string][]connectivity.State {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make(map[string][]connectivity.State, len(p.addrs))
	for addr, ac := range p.addrs {
		states := make([]connectivity.State, len(ac.conns))
		for i, cc := range ac.conns {
			states[i] = cc.GetState()
		}
		out[addr] = states
	}
	return out
}
