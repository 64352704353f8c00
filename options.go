package tikv

import (
	"log/slog"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/tikv/pd/client/pkg/circuitbreaker"

	"github.com/tikvgo/tikv/middleware"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/middleware/otelkv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/transport"
)

// Option configures Connect.
type Option func(*config)

type config struct {
	connectTimeout time.Duration
	middleware     []transport.Middleware
	pd             pdclient.PD
	transport      transport.Sender
	concurrency    int
	observer       observe.Observer
	pdOptions      []pdclient.ConnectOption
	poolOptions    []transport.PoolOption
	prober         pdclient.Prober
	security       *security
	apiVersion     kvrpcpb.APIVersion
	keyspace       string
	logger         *slog.Logger
	logRedaction   middleware.Redaction // WithLogRedaction
	// Built-in middleware (issue #11); nil or zero means off.
	breaker        *middleware.BreakerConfig
	rateLimit      *middleware.RateLimitConfig
	storeTokens    int64
	requestLogging *middleware.LoggingConfig
	requestSource  string
	requestOrigin  kvrpcpb.RequestOrigin // WithRequestOrigin
	zone           string                // WithZone
	pdMetaBreaker  *circuitbreaker.Settings
	// resourceControl is WithResourceControl's (resource_control.go).
	resourceControl *resourceControlConfig
	tracerProvider  trace.TracerProvider // WithTracerProvider
	meterProvider   metric.MeterProvider // WithMeterProvider
	telemetry       *otelkv.Telemetry    // built from the two providers by Connect
	forwarding      bool                 // WithForwarding (forwarding.go)

	// cacheOptions is WithRegionCacheOptions's (region_cache_options.go).
	cacheOptions []pdclient.CacheOption
	// preload lists the key modes WithRegionPreload preloads.
	preload []kv.KeyMode
}

type security struct{ ca, cert, key string }

// DefaultConnectTimeout bounds Connect when the caller's context has no
// earlier deadline: long enough for a PD leader election, short enough that
// a wrong address fails while someone is still watching (the PD client on
// its own retries for about 100 seconds).
const DefaultConnectTimeout = 10 * time.Second

func defaultConfig() config { return config{connectTimeout: DefaultConnectTimeout} }

// WithConnectTimeout bounds how long Connect may take to reach PD and set
// the cluster up (default DefaultConnectTimeout); the caller's context still
// applies when it ends sooner. d <= 0 removes the bound, leaving only the
// context.
func WithConnectTimeout(d time.Duration) Option {
	return func(c *config) { c.connectTimeout = d }
}

// WithMiddleware adds client-wide middleware: every physical attempt of
// every call on the cluster, retries included, passes through mws, with
// mws[0] outermost. It sits outside the interceptors attached to a call's
// context (middleware.WithInterceptors) and outside the protocol layers.
// Repeated options append.
func WithMiddleware(mws ...transport.Middleware) Option {
	return func(c *config) { c.middleware = append(c.middleware, mws...) }
}

// WithPD makes the cluster use pd instead of dialling PD. The caller keeps
// ownership: Cluster.Close does not close it. Tests use it with mocktikv's
// in-process PD.
func WithPD(pd pdclient.PD) Option {
	return func(c *config) { c.pd = pd }
}

// WithTransport replaces the gRPC pool at the end of the middleware chain
// with s, for example mocktikv's in-process sender. The middleware chain
// still wraps it.
func WithTransport(s transport.Sender) Option {
	return func(c *config) { c.transport = s }
}

// WithConcurrency bounds how many regions one call sends to at once
// (default pipeline.DefaultConcurrency).
func WithConcurrency(n int) Option {
	return func(c *config) { c.concurrency = n }
}

// WithObserver installs o to watch every logical call of the clients built
// on the cluster: each call's start and end, its splits, re-splits and
// backoffs, and the region-cache misses and PD calls behind it (see package
// observe). Without it plans look for no observer at all.
func WithObserver(o observe.Observer) Option {
	return func(c *config) { c.observer = o }
}

// WithPDOptions passes options to the PD client Connect dials.
func WithPDOptions(opts ...pdclient.ConnectOption) Option {
	return func(c *config) { c.pdOptions = append(c.pdOptions, opts...) }
}

// WithPoolOptions passes options to the gRPC pool that talks to TiKV.
func WithPoolOptions(opts ...transport.PoolOption) Option {
	return func(c *config) { c.poolOptions = append(c.poolOptions, opts...) }
}

// WithProber sets how stores are health-checked after a send to them fails
// (default: gRPC's health service through the pool; with WithTransport, the
// transport's own check when it implements transport.HealthChecker, as
// mocktikv's in-process Sender does, and otherwise none: stores are then
// assumed reachable).
func WithProber(p pdclient.Prober) Option {
	return func(c *config) { c.prober = p }
}

// WithSecurity turns on TLS for PD and TiKV, as client-go's Security does:
// caPath is the CA that signed the servers' certificates (TLS stays off
// when it is empty); certPath and keyPath, when set, are the client
// certificate. All three files are re-read on every handshake with TiKV, so
// rotated files take effect on new connections. The files are checked when
// Connect runs. TLS cannot be switched off behind it: Connect refuses pool
// dial options (WithPoolOptions(transport.WithDialOptions(...))) that
// install insecure transport credentials, with an error wrapping
// transport.ErrInsecureDialOption and kv.ErrInvalidArgument. (PD's own
// client puts its TLS credentials after the dial options it is given, so
// PD connections cannot be turned plaintext that way.)
func WithSecurity(caPath, certPath, keyPath string) Option {
	return func(c *config) { c.security = &security{ca: caPath, cert: certPath, key: keyPath} }
}

// DefaultKeyspaceName is the keyspace API v2 uses when none is named.
const DefaultKeyspaceName = "DEFAULT"

// WithAPIVersion sets the API version of every request: kvrpcpb.APIVersion_V1
// (the default) or APIVersion_V2 (keyspaces; the cluster's TiKV must run
// storage.api-version = 2). Under V2 without WithKeyspace the DEFAULT
// keyspace is used.
func WithAPIVersion(v kvrpcpb.APIVersion) Option {
	return func(c *config) { c.apiVersion = v }
}

// WithKeyspace makes the cluster work in the named keyspace (API v2): its
// id is looked up through PD at Connect, every key is prefixed with it on
// the wire, and region boundaries are clamped to it, so two clusters in
// different keyspaces never see each other's keys.
func WithKeyspace(name string) Option {
	return func(c *config) {
		c.apiVersion = kvrpcpb.APIVersion_V2
		c.keyspace = name
	}
}

// WithLogger sends the cluster's log lines to l, the PD client's included
// (github.com/tikv/pd/client, whose zap levels map to slog's Debug, Info,
// Warn and Error). Without it, or with a nil l, the cluster is quiet:
// warnings and errors only, as text to standard error, and a message
// repeated within ten seconds is written once, with the number of repeats
// dropped attached to the next one that goes out. l is used as given, with
// no rate limit of its own.
//
// The PD client has one logger per process, not one per client, so its
// lines cannot be told apart by cluster: while several clusters are open,
// each of its lines goes to each distinct logger they were given (the quiet
// default counting once). Connect installs that routing in pingcap/log the
// first time it runs; pingcap/log.SetLevel still filters the PD client's
// lines on top of l's own level.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithCircuitBreaker turns on a circuit breaker per store
// (middleware.CircuitBreaker, github.com/sony/gobreaker): after
// cfg.Failures transport failures in a row (failed sends and failed health
// checks; never region or key errors) a store's attempts fail at once with
// a *middleware.BreakerOpenError, which wraps transport.ErrNotSent, so
// reads move to another replica and writes fail without having been sent;
// after cfg.OpenTimeout a probe decides whether it closes again. While a
// breaker is open the store's health check fails without dialling, so the
// region cache keeps the store unreachable (unless WithProber replaced the
// check). Cluster.CircuitBreaker reports each store's state.
func WithCircuitBreaker(cfg middleware.BreakerConfig) Option {
	return func(c *config) { c.breaker = &cfg }
}

// WithRateLimit limits attempts per second, client-wide and per store, with
// token buckets (middleware.RateLimit). Attempts wait for a token as long as
// their context allows.
func WithRateLimit(cfg middleware.RateLimitConfig) Option {
	return func(c *config) { c.rateLimit = &cfg }
}

// WithStoreTokenLimit bounds the attempts in flight to each store to n,
// client-go's StoreLimit (middleware.StoreTokenLimit); n <= 0, the default,
// means no bound. Unlike client-go, an attempt over the limit waits for a
// token within its context instead of failing at once.
func WithStoreTokenLimit(n int64) Option {
	return func(c *config) { c.storeTokens = n }
}

// WithRequestLogging logs every failed attempt (middleware.RequestLogging),
// at most one line per store and kind per cfg.Every; cfg.Logger nil means
// the cluster's logger (WithLogger).
func WithRequestLogging(cfg middleware.LoggingConfig) Option {
	return func(c *config) { c.requestLogging = &cfg }
}

// WithZone names the zone the client runs in (client-go's ZoneLabel): an
// attempt to a store whose "zone" label differs counts as cross-zone in
// the TrafficDetails of its call (middleware.WithTrafficDetails).
func WithZone(zone string) Option {
	return func(c *config) { c.zone = zone }
}

// WithRequestSource sets the request source of requests whose call and
// context name none (middleware.TagRequestSource), as client-go's
// util.RequestSource does: TiKV groups its metrics and resource accounting
// by it.
func WithRequestSource(s middleware.RequestSource) Option {
	return func(c *config) { c.requestSource = s.String() }
}

// WithPDRegionMetaBreaker puts the region caches' region-metadata reads from
// PD (GetRegion, GetPrevRegion, GetRegionByID, BatchScanRegions,
// ScanRegions) behind PD client's error-rate circuit breaker, client-go's
// "region-meta" breaker (pdclient.WithRegionMetaBreaker): when the share of
// calls that find PD overloaded or unreachable within s.ErrorRateWindow
// reaches s.ErrorRateThresholdPct, region loads fail at once for
// s.CoolDownInterval instead of adding to PD's load. As in client-go
// (pdclient.DefaultRegionMetaBreakerSettings), a zero threshold leaves the
// breaker closed.
func WithPDRegionMetaBreaker(s circuitbreaker.Settings) Option {
	return func(c *config) { c.pdMetaBreaker = &s }
}

// WithTracerProvider turns on OpenTelemetry tracing (package
// middleware/otelkv): a span per logical call, named after its API, with
// events for its backoffs, re-splits, region-cache misses and lock
// resolutions and a child span per PD call; a child span per physical
// attempt; and the trace id written into each request's kvrpcpb.Context so
// that TiKV can log it. The Tracing layer is the outermost of the chain
// (middleware/doc.go); its observer runs before WithObserver's. A nil tp,
// like no option, installs nothing.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tracerProvider = tp }
}

// WithMeterProvider turns on OpenTelemetry metrics (package
// middleware/otelkv): db.client.operation.duration per API and error.type,
// per-attempt duration and in-flight attempts per command and store,
// backoff sleeps, region-cache misses and invalidations, PD call and
// commit durations, lock resolutions. The Metrics layer sits just inside
// Tracing. A nil mp, like no option, installs nothing.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.meterProvider = mp }
}
