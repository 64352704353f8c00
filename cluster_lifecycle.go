package tikv

import (
	"context"
	"sync"

	"github.com/tikvgo/tikv/kv"
)

// lifecycle is what client-go's KVStore offers for the work an
// application ties to a store's life (Ctx, Go, WaitGroup, Closed): a
// context that Close cancels, the goroutines started with Go, which Close
// waits for, and a channel closed when Close starts.
type lifecycle struct {
	ctx    context.Context
	cancel context.CancelFunc
	closed chan struct{}

	mu      sync.Mutex // guards closing against wg.Add
	closing bool
	wg      sync.WaitGroup
}

func (l *lifecycle) init() {
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.closed = make(chan struct{})
}

// close refuses new goroutines, cancels the context and waits for the
// running ones.
func (l *lifecycle) close() {
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
	close(l.closed)
	l.cancel()
	l.wg.Wait()
}

// Go runs f in a goroutine the Cluster owns (client-go's KVStore.Go): f
// gets a context that Close cancels, and Close waits for f to return
// before it closes anything f may use. After Close has begun, Go runs
// nothing and returns kv.ErrClosed.
func (c *Cluster) Go(f func(ctx context.Context)) error {
	l := &c.life
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return kv.ErrClosed
	}
	l.wg.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.wg.Done()
		f(l.ctx)
	}()
	return nil
}

// Closed returns a channel closed when Close begins (client-go's
// KVStore.Closed), for work that must stop with the Cluster.
func (c *Cluster) Closed() <-chan struct{} { return c.life.closed }

// IsClosed reports whether Close has begun (client-go's KVStore.IsClose).
func (c *Cluster) IsClosed() bool {
	select {
	case <-c.life.closed:
		return true
	default:
		return false
	}
}

// clusterIDer is the part of PD that names the cluster:
// github.com/tikv/pd/client.Client and mocktikv's in-process PD have it.
type clusterIDer interface {
	GetClusterID(ctx context.Context) uint64
}

// ClusterID returns the id of the cluster PD serves (client-go's
// KVStore.GetClusterID), or 0 when the PD the Cluster was given cannot
// tell.
func (c *Cluster) ClusterID() uint64 {
	if p, ok := c.pd.(clusterIDer); ok {
		return p.GetClusterID(context.Background())
	}
	return 0
}
