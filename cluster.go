package tikv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikv/pd/client/pkg/circuitbreaker"

	"github.com/tikvgo/tikv/internal/apicodec"
	"github.com/tikvgo/tikv/internal/logging"
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
	oracle *pdclient.Oracle
	pool   *transport.Pool // nil when WithTransport replaced it
	sender transport.Sender
	log    *slog.Logger // WithLogger, or the quiet default
	// breaker is WithCircuitBreaker's, nil without it.
	breaker *middleware.CircuitBreaker
	// Raw and transactional keys are stored differently, so each mode has
	// its own codec, region cache and plan environment (as client-go gives
	// its raw and txn clients their own PD codec and cache).
	codecs [kv.ModeTxn + 1]*apicodec.Codec
	caches [kv.ModeTxn + 1]*pdclient.RegionCache
	envs   [kv.ModeTxn + 1]*pipeline.Env
	// feedbackTo is caches once both exist: the stores' health feedback
	// goes to each (see recordHealthFeedback). The pool's receive loops
	// read it, so it is published atomically.
	feedbackTo atomic.Pointer[[kv.ModeTxn + 1]*pdclient.RegionCache]

	rc *resourceControl // WithResourceControl's controller, or nil
	// unwatch ends the telemetry's reads of the cluster's state (Watch);
	// nil without metrics.
	unwatch func() error

	// life runs the goroutines Go starts and marks the Cluster closed
	// (cluster_lifecycle.go).
	life lifecycle

	closeOnce sync.Once
	closeErr  error
}

// Connect opens a Cluster through the PD endpoints pdAddrs ("host:port",
// or http/https URLs). It fails if PD cannot be reached within the connect
// timeout (DefaultConnectTimeout, WithConnectTimeout) or before ctx ends,
// with an error wrapping kv.ErrPDUnavailable that names the root cause;
// malformed addresses are kv.ErrInvalidArgument. A keyspace PD does not
// know (WithKeyspace) is kv.ErrKeyspaceNotFound. An API version the
// cluster's storage does not serve (WithAPIVersion, WithKeyspace) is a
// *kv.APIVersionMismatchError (kv.ErrAPIVersionMismatch) when a store's
// status address says so: Connect asks PD for the stores and one TiKV
// store for its configuration, and leaves the check to the first request
// when that store cannot tell (connect_apiversion.go). ctx bounds only the
// connection: the Cluster lives until Close. Logs go to WithLogger's
// logger, or only warnings and errors to standard error.
func Connect(ctx context.Context, pdAddrs []string, opts ...Option) (*Cluster, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.buildTelemetry(); err != nil {
		return nil, err
	}
	if err := transport.ValidatePoolOptions(cfg.poolOptions...); err != nil {
		return nil, err
	}
	if cfg.connectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.connectTimeout)
		defer cancel()
	}
	if sec := cfg.security; sec != nil {
		creds, err := transport.NewTLSCredentials(sec.ca, sec.cert, sec.key)
		if err != nil {
			return nil, kv.InvalidArgument("security: %v", err)
		}
		if creds != nil {
			// The TLS credentials go first, so that the user's pool
			// options are applied after them and RequireTLS judges exactly
			// the list the pool will use: a user's dial option that
			// installs insecure credentials is refused here, not obeyed in
			// silence (grpc lets the last credentials option win).
			cfg.poolOptions = append([]transport.PoolOption{transport.WithTLSCredentials(creds)}, cfg.poolOptions...)
			cfg.pdOptions = append(cfg.pdOptions, pdclient.WithSecurity(sec.ca, sec.cert, sec.key))
			if cfg.transport == nil {
				if err := transport.RequireTLS(cfg.poolOptions...); err != nil {
					return nil, fmt.Errorf("%w: WithSecurity and the pool options disagree: %w", kv.ErrInvalidArgument, err)
				}
			}
		}
	}
	c := &Cluster{pd: cfg.pd, log: cfg.logger}
	c.life.init()
	if c.log == nil {
		c.log = logging.Default()
	}
	c.log = slog.New(middleware.RedactKeys(c.log.Handler(), cfg.logRedaction))
	if c.pd == nil {
		if len(pdAddrs) == 0 {
			return nil, kv.InvalidArgument("no PD address given")
		}
		pdOpts := append([]pdclient.ConnectOption{pdclient.WithLogger(cfg.logger)}, cfg.pdOptions...)
		pd, err := pdclient.Connect(ctx, pdAddrs, pdOpts...)
		if err != nil {
			return nil, err // it names PD's addresses and the cause
		}
		c.pd, c.ownPD = pd, true
	}
	terminal := cfg.transport
	prober := cfg.prober
	if terminal == nil {
		poolOpts := append(slices.Clone(cfg.poolOptions), transport.WithHealthFeedback(c.recordHealthFeedback),
			transport.WithConnStateObserver(connStateLogger(c.log)))
		poolOpts = append(poolOpts, cfg.batchObserver()...)
		c.pool = transport.NewPool(poolOpts...)
		terminal = c.pool
	}
	if cfg.breaker != nil {
		c.breaker = middleware.NewCircuitBreaker(*cfg.breaker)
	}
	if hc, ok := terminal.(transport.HealthChecker); ok && prober == nil {
		if c.breaker != nil {
			hc = c.breaker.HealthChecker(hc)
		}
		prober = healthProber(hc)
	}
	err := c.setCodecs(ctx, cfg)
	if err == nil && c.pool != nil {
		err = c.checkAPIVersion(ctx, cfg)
	}
	if err != nil {
		if c.ownPD {
			c.pd.Close()
		}
		if c.pool != nil {
			c.pool.Close()
		}
		return nil, err
	}
	if cfg.resourceControl != nil {
		if c.rc, err = startResourceControl(ctx, c.pd, cfg.resourceControl, cfg.logger); err != nil {
			if c.ownPD {
				c.pd.Close()
			}
			if c.pool != nil {
				c.pool.Close()
			}
			return nil, err
		}
	}
	c.oracle = pdclient.NewOracle(cfg.oraclePD(c.pd))
	c.sender = transport.Chain(terminal, chainOrder(cfg, c.codecs, c.breaker, c.log, c.storeLabels)...)
	regionPD := c.pd
	if s := cfg.pdMetaBreaker; s != nil {
		// One breaker for both caches: it judges PD, not a key space.
		regionPD = pdclient.WithRegionMetaBreaker(c.pd, circuitbreaker.NewCircuitBreaker("region-meta", *s))
	}
	var forwarding *pipeline.Forwarding
	if cfg.forwarding {
		forwarding = pipeline.NewForwarding() // one for both caches: they route the same regions
	}
	for _, mode := range []kv.KeyMode{kv.ModeRaw, kv.ModeTxn} {
		c.caches[mode] = pdclient.NewRegionCache(pdclient.WithCodec(regionPD, c.codecs[mode]),
			cfg.regionCacheOptions(prober, c.closeAddr, c.healthFeedbackRequester(terminal))...)
		c.envs[mode] = &pipeline.Env{
			Mode:        mode,
			Locator:     c.caches[mode],
			Sender:      c.sender,
			Concurrency: cfg.concurrency,
			Observer:    cfg.observer,
			Forwarding:  forwarding,
		}
		if c.breaker != nil {
			c.envs[mode].StoreGuard = c.breaker.Refusal
		}
	}
	c.feedbackTo.Store(&c.caches)
	if err := c.watchState(cfg.telemetry); err != nil {
		_ = c.Close()
		return nil, err
	}
	c.preloadRegions(ctx, cfg.preload)
	return c, nil
}

// recordHealthFeedback gives a store's health feedback to both region
// caches. Each cache keeps the health of the stores it knows (the raw and
// the transactional cache may know different ones, and feedback from a
// store a cache has not resolved is ignored there, as in client-go), so
// feeding both keeps either selector's view of a store's TiKV-side slow
// score current. Sharing one tracker would mean one cache reading stores
// through the other's; feeding both costs a second record of a few words.
// When both caches find a score stale, each may ask the store once; the
// first answer goes to both and usually spares the second request.
func (c *Cluster) recordHealthFeedback(f transport.HealthFeedback) {
	caches := c.feedbackTo.Load()
	if caches == nil {
		return // Connect has not finished; nothing reads the health yet
	}
	for _, cache := range caches[kv.ModeRaw:] {
		cache.RecordHealthFeedback(f.StoreID, f.SlowScore)
	}
}

// healthFeedbackRequester asks a store for its health feedback with
// GetHealthFeedback through the terminal sender, below the middleware, as
// client-go sends it on its bare RPC client (tikv/kv.go,
// requestHealthFeedbackFromKVClient). On a BatchCommands stream TiKV also
// attaches the feedback to the batch's response, which the pool records on
// its own; the feedback in the response message is recorded as well, so
// that a unary transport (WithoutBatch, or WithTransport) gets the answer
// too. Only its region error, which TiKV never sets for this store-level
// command, and transport errors count as failure.
func (c *Cluster) healthFeedbackRequester(terminal transport.Sender) pdclient.FeedbackRequester {
	return func(ctx context.Context, storeID uint64, addr string) error {
		resp, err := terminal.Send(ctx, &transport.Request{
			Cmd:    transport.CmdGetHealthFeedback,
			Msg:    &kvrpcpb.GetHealthFeedbackRequest{Context: &kvrpcpb.Context{}},
			Target: transport.Target{StoreID: storeID, Addr: addr},
		})
		if err != nil {
			return fmt.Errorf("get health feedback of store %d: %w", storeID, err)
		}
		r, ok := resp.Msg.(*kvrpcpb.GetHealthFeedbackResponse)
		if !ok {
			return fmt.Errorf("get health feedback of store %d: response is %T", storeID, resp.Msg)
		}
		if re := r.GetRegionError(); re != nil {
			return fmt.Errorf("get health feedback of store %d: region error: %s", storeID, re.GetMessage())
		}
		if hf := r.GetHealthFeedback(); hf != nil {
			c.recordHealthFeedback(transport.HealthFeedback{StoreID: hf.StoreId, SeqNo: hf.FeedbackSeqNo, SlowScore: int(hf.SlowScore)})
		}
		return nil
	}
}

// setCodecs picks the key codecs: API v1, or API v2 in the configured
// keyspace, whose id is looked up by name through PD.
func (c *Cluster) setCodecs(ctx context.Context, cfg config) error {
	switch cfg.apiVersion {
	case kvrpcpb.APIVersion_V1, kvrpcpb.APIVersion_V2:
	default:
		// V1TTL is a storage setting; clients speak V1 to it.
		return kv.InvalidArgument("API version %s: clients speak V1 or V2", cfg.apiVersion)
	}
	if cfg.apiVersion != kvrpcpb.APIVersion_V2 {
		c.codecs = [kv.ModeTxn + 1]*apicodec.Codec{nil, apicodec.NewV1(kv.ModeRaw), apicodec.NewV1(kv.ModeTxn)}
		return nil
	}
	name := cfg.keyspace
	if name == "" {
		name = DefaultKeyspaceName
	}
	loader, ok := c.pd.(pdclient.KeyspaceLoader)
	if !ok {
		return kv.InvalidArgument("keyspace %q: this PD client cannot load keyspaces", name)
	}
	id, err := pdclient.KeyspaceID(ctx, loader, name)
	if err != nil {
		return err
	}
	for _, mode := range []kv.KeyMode{kv.ModeRaw, kv.ModeTxn} {
		if c.codecs[mode], err = apicodec.NewV2(mode, id); err != nil {
			return err
		}
	}
	return nil
}

// closeAddr closes the pool's connections to an address that no longer
// belongs to the store they were made for (calls in flight on them finish).
func (c *Cluster) closeAddr(addr string) {
	if c.pool != nil {
		_ = c.pool.CloseAddr(addr) // nothing to report: they were retired
	}
}

// healthProber checks stores with the transport's own health check: for
// the Pool, gRPC's health service through its dial options (TLS included).
func healthProber(p transport.HealthChecker) pdclient.Prober {
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
// order of docs/ARCHITECTURE.md:
//
//   - Tracing, then Metrics, outermost (when WithTracerProvider or
//     WithMeterProvider asks for them), so that an attempt's span and its
//     duration cover everything the layers inside do, a user's middleware
//     and a breaker's refusal or a limiter's wait included;
//   - then client-wide user middleware, so it sees every attempt of every
//     call and can tag requests before the policy layers act on them;
//   - then the interceptors attached to one call's context, so per-call
//     instrumentation nests inside the client-wide view;
//   - the request-source tag (and the request-origin tag, when
//     WithRequestOrigin sets one), before every layer that may read them;
//   - request logging, outside the breaker and the limiters so that their
//     refusals are logged too (rate-limited);
//   - the circuit breaker, which refuses before any limiter token or
//     resource-group quota is spent on a dead store;
//   - resource control, then the rate and store-token limits: a request
//     pays its resource group before it queues for the wire;
//   - the keyspace codec last, next to the transport: everything above it
//     sees the application's keys, the wire sees TiKV's.
func chainOrder(cfg config, codecs [kv.ModeTxn + 1]*apicodec.Codec, breaker *middleware.CircuitBreaker, log *slog.Logger, labels middleware.StoreLabels) []transport.Middleware {
	mws := make([]transport.Middleware, 0, len(cfg.middleware)+9)
	if t := cfg.telemetry; t != nil {
		mws = appendNonNil(mws, t.Tracing(), t.Metrics())
	}
	mws = append(mws, cfg.middleware...)
	mws = append(mws, middleware.Interceptors())
	// Always on: a source attached to a call's context applies even
	// without a client default.
	mws = append(mws, middleware.TagRequestSource(cfg.requestSource))
	mws = appendNonNil(mws, middleware.TagRequestOrigin(cfg.requestOrigin))
	if lc := cfg.requestLogging; lc != nil {
		l := *lc
		if l.Logger == nil {
			l.Logger = log
		}
		if l.Redact == middleware.RedactOff {
			l.Redact = cfg.logRedaction
		}
		mws = append(mws, middleware.RequestLogging(l))
	}
	if breaker != nil {
		mws = append(mws, breaker.Middleware())
	}
	// Resource control after the breaker (a request the breaker refuses
	// spends no RU) and before the rate limit (a request waiting for its
	// group's RU holds no rate-limit token meanwhile).
	if rc := cfg.resourceControl.middleware(); rc != nil {
		mws = append(mws, rc)
	}
	if rl := cfg.rateLimit; rl != nil {
		mws = append(mws, middleware.RateLimit(*rl))
	}
	if cfg.storeTokens > 0 {
		mws = append(mws, middleware.StoreTokenLimit(cfg.storeTokens))
	}
	mws = append(mws, middleware.Keyspace(codecs[kv.ModeRaw], codecs[kv.ModeTxn]))
	// Innermost, so that it measures the messages as they go to TiKV.
	mws = append(mws, middleware.TrafficAccounting(cfg.zone, labels))
	return mws
}

// storeLabels returns a store's labels from whichever region cache has
// resolved the store (both cache the stores their regions name).
func (c *Cluster) storeLabels(storeID uint64) []*metapb.StoreLabel {
	for _, cache := range c.caches[kv.ModeRaw:] {
		if cache == nil {
			continue
		}
		if l := cache.StoreLabels(storeID); l != nil {
			return l
		}
	}
	return nil
}

// CircuitBreaker returns the per-store circuit breakers WithCircuitBreaker
// turned on (their states, for metrics), or nil without it.
func (c *Cluster) CircuitBreaker() *middleware.CircuitBreaker { return c.breaker }

// EnvFor returns a plan environment for keys of the given mode: its region
// cache and the middleware-wrapped sender. Clients build their plans on it,
// and so can users composing plans of their own with package pipeline.
// Each call returns a new Env (the region cache and sender inside are the
// cluster's, shared), so changing one caller's limits never changes
// another's. Its Mode is set: a plan that sends a command of the other key
// space through it fails with a *kv.KeyModeError. EnvFor panics on a mode
// other than kv.ModeRaw or kv.ModeTxn, a programming error.
func (c *Cluster) EnvFor(mode kv.KeyMode) *pipeline.Env {
	if !mode.Valid() {
		panic(fmt.Sprintf("tikv: EnvFor(%v): want kv.ModeRaw or kv.ModeTxn", mode))
	}
	e := *c.envs[mode]
	return &e
}

// PD returns the cluster's PD client.
func (c *Cluster) PD() pdclient.PD { return c.pd }

// RegionCacheFor returns the region cache of the given key mode. It panics
// on a mode other than kv.ModeRaw or kv.ModeTxn, a programming error.
func (c *Cluster) RegionCacheFor(mode kv.KeyMode) *pdclient.RegionCache {
	if !mode.Valid() {
		panic(fmt.Sprintf("tikv: RegionCacheFor(%v): want kv.ModeRaw or kv.ModeTxn", mode))
	}
	return c.caches[mode]
}

// KeyspaceID returns the keyspace the cluster works in (0, the default
// keyspace, or no keyspace under API v1).
func (c *Cluster) KeyspaceID() uint32 { return c.codecs[kv.ModeRaw].KeyspaceID() }

// APIVersion returns the API version requests declare.
func (c *Cluster) APIVersion() kvrpcpb.APIVersion { return c.codecs[kv.ModeRaw].APIVersion() }

// Oracle returns the cluster's timestamp oracle.
func (c *Cluster) Oracle() *pdclient.Oracle { return c.oracle }

// Sender returns the cluster's middleware chain ending in the transport:
// the path of every physical attempt. It is a transport.AsyncSender: an
// asynchronous send that meets a synchronous layer goes on in a goroutine
// the Cluster owns, which Close cancels and waits for.
func (c *Cluster) Sender() transport.Sender { return clusterSender{c: c, chain: c.sender} }

// Close stops the cluster's background work and closes its connections
// (the PD client too, unless it was supplied with WithPD). Calls made after
// Close fail. Close is idempotent.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		// The Cluster's own goroutines (Go) first: they may use anything
		// closed below.
		c.life.close()
		if c.unwatch != nil {
			_ = c.unwatch() // fails only for a meter already shut down
		}
		c.oracle.Close()
		// The resource-group controller's loop before the PD client it
		// uses; its meta storage watches after, so that a PD client we
		// close ends their streams quietly (resource_control.go).
		c.rc.stop()
		defer c.rc.endWatches()
		for _, cache := range c.caches[kv.ModeRaw:] { // slot 0 names no key space
			cache.Close()
		}
		var errs []error
		if c.pool != nil {
			errs = append(errs, c.pool.Close())
		}
		if c.ownPD {
			if testHookBeforePDClose != nil {
				testHookBeforePDClose(c)
			}
			c.pd.Close()
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}
