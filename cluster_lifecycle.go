package tikv

import (
	"context"
	"sync"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
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

// clusterSender is the Cluster's middleware chain as Sender returns it:
// an asynchronous send that meets a synchronous layer continues on a
// goroutine the Cluster owns (spawn), so Close cancels it and waits for
// it like any other of the Cluster's goroutines.
type clusterSender struct {
	c     *Cluster
	chain transport.Sender
}

// Send implements transport.Sender.
func (s clusterSender) Send(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	return s.chain.Send(ctx, req)
}

// SendAsync implements transport.AsyncSender.
func (s clusterSender) SendAsync(ctx context.Context, req *transport.Request, cb transport.Callback) {
	transport.SendAsync(transport.WithSpawner(ctx, s.c.spawn), s.chain, req, cb)
}

// spawn is the Cluster's transport.Spawner: f runs under Go, with ctx
// also cancelled when Close begins.
func (c *Cluster) spawn(ctx context.Context, f func(context.Context)) bool {
	return c.Go(func(life context.Context) {
		ctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(life, cancel)
		defer func() {
			stop()
			cancel()
		}()
		f(ctx)
	}) == nil
}
