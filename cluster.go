package tikv

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
)

// Cluster is a connection to one TiKV cluster, shared by every client
// (raw.Client, and later txn.Client) built on it. It is safe for concurrent
// use. Close releases everything it opened.
type Cluster struct {
	pd     pdclient.PD
	ownPD  bool
	cache  *pdclient.RegionCache
	oracle *pdclient.Oracle
	pool   *transport.Pool // nil when WithTransport replaced it
	sender transport.Sender
	env    *pipeline.Env

	closeOnce sync.Once
	closeErr  error
}

// Connect opens a Cluster through the PD endpoints pdAddrs ("host:port").
// It fails if PD cannot be reached before ctx ends.
func Connect(ctx context.Context, pdAddrs []string, opts ...Option) (*Cluster, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if sec := cfg.security; sec != nil {
		tlsCfg, err := transport.LoadTLS(sec.ca, sec.cert, sec.key)
		if err != nil {
			return nil, kv.InvalidArgument("security: %v", err)
		}
		if tlsCfg != nil {
			cfg.poolOptions = append(cfg.poolOptions, transport.WithTLS(tlsCfg))
			cfg.pdOptions = append(cfg.pdOptions, pdclient.WithSecurity(sec.ca, sec.cert, sec.key))
		}
	}
	c := &Cluster{pd: cfg.pd}
	if c.pd == nil {
		if len(pdAddrs) == 0 {
			return nil, kv.InvalidArgument("no PD address given")
		}
		pd, err := pdclient.Connect(ctx, pdAddrs, cfg.pdOptions...)
		if err != nil {
			return nil, fmt.Errorf("connect to PD %v: %w", pdAddrs, err)
		}
		c.pd, c.ownPD = pd, true
	}
	terminal := cfg.transport
	prober := cfg.prober
	if terminal == nil {
		c.pool = transport.NewPool(cfg.poolOptions...)
		terminal = c.pool
		if prober == nil {
			prober = poolProber(c.pool)
		}
	}
	c.cache = pdclient.NewRegionCache(c.pd, pdclient.WithProber(prober))
	c.oracle = pdclient.NewOracle(c.pd)

	c.sender = transport.Chain(terminal, chainOrder(cfg)...)
	c.env = &pipeline.Env{
		Locator:     c.cache,
		Sender:      c.sender,
		Concurrency: cfg.concurrency,
	}
	return c, nil
}

// poolProber checks stores with gRPC's health service through the pool's
// dial options (TLS included).
func poolProber(p *transport.Pool) pdclient.Prober {
	return func(ctx context.Context, addr string) pdclient.Liveness {
		err := p.CheckHealth(ctx, addr)
		var notServing *transport.NotServingError
		switch {
		case err == nil:
			return pdclient.Reachable
		case errors.As(err, &notServing):
			return pdclient.LivenessUnknown
		default:
			return pdclient.Unreachable
		}
	}
}

// chainOrder lists the cluster's middleware, outermost first, in the fixed
// order of ARCHITECTURE.md. Only the user slots exist so far; the built-in
// layers (tracing, metrics, breaker, resource control, rate limit, keyspace
// codec) take their places around them as they are added:
//
//   - client-wide user middleware first, so it sees every attempt of every
//     call and can tag requests before the policy layers act on them;
//   - then the interceptors attached to one call's context, so per-call
//     instrumentation nests inside the client-wide view.
func chainOrder(cfg config) []transport.Middleware {
	mws := make([]transport.Middleware, 0, len(cfg.middleware)+1)
	mws = append(mws, cfg.middleware...)
	mws = append(mws, middleware.Interceptors())
	return mws
}

// EnvFor returns the plan environment for keys of the given mode: its
// region cache and the middleware-wrapped sender. Clients build their plans
// on it, and so can users composing plans of their own with package
// pipeline.
func (c *Cluster) EnvFor(mode kv.KeyMode) *pipeline.Env { return c.env }

// Env is EnvFor(kv.ModeRaw).
func (c *Cluster) Env() *pipeline.Env { return c.EnvFor(kv.ModeRaw) }

// PD returns the cluster's PD client.
func (c *Cluster) PD() pdclient.PD { return c.pd }

// RegionCache returns the cluster's region cache.
func (c *Cluster) RegionCache() *pdclient.RegionCache { return c.cache }

// Oracle returns the cluster's timestamp oracle.
func (c *Cluster) Oracle() *pdclient.Oracle { return c.oracle }

// Sender returns the cluster's middleware chain ending in the transport:
// the path of every physical attempt.
func (c *Cluster) Sender() transport.Sender { return c.sender }

// Close stops the cluster's background work and closes its connections
// (the PD client too, unless it was supplied with WithPD). Calls made after
// Close fail. Close is idempotent.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		c.oracle.Close()
		c.cache.Close()
		var errs []error
		if c.pool != nil {
			errs = append(errs, c.pool.Close())
		}
		if c.ownPD {
			c.pd.Close()
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}
