package pdclient

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"

	pd "github.com/tikv/pd/client"
	pdhttp "github.com/tikv/pd/client/http"
	"github.com/tikv/pd/client/opt"
	"github.com/tikv/pd/client/pkg/caller"

	"github.com/tikvgo/tikv/internal/logging"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
)

// The real PD client is the production implementation of PD.
var _ PD = (pd.Client)(nil)

// callerComponent identifies tikvgo in PD's per-caller metrics and logs.
const callerComponent caller.Component = "tikvgo"

type connectConfig struct {
	security pd.SecurityOption
	pdOpts   []opt.ClientOption
	logger   *slog.Logger
}

// ConnectOption configures Connect.
type ConnectOption func(*connectConfig)

// WithSecurity makes Connect use TLS with the given PEM files: the CA that
// signs PD's certificate, and the client's certificate and key.
func WithSecurity(caPath, certPath, keyPath string) ConnectOption {
	return func(c *connectConfig) {
		c.security.CAPath = caPath
		c.security.CertPath = certPath
		c.security.KeyPath = keyPath
	}
}

// WithPDClientOptions passes options through to the PD client (timeouts,
// gRPC dial options, forwarding, ...). They are appended in order.
func WithPDClientOptions(opts ...opt.ClientOption) ConnectOption {
	return func(c *connectConfig) { c.pdOpts = append(c.pdOpts, opts...) }
}

// WithLogger makes the PD client's log lines go to l, at slog levels
// mapped from its zap ones (Debug, Info, Warn, Error). Without it they go
// to the process's quiet default: warnings and errors only, to standard
// error, with repeats rate-limited. The PD client has no per-client logger,
// so its lines are routed process-wide: while several PD clients are open,
// each line goes to each distinct logger they were given (see
// internal/logging's RoutePD). A nil l means the default.
func WithLogger(l *slog.Logger) ConnectOption {
	return func(c *connectConfig) { c.logger = l }
}

// Connect builds a PD client for the cluster whose PD endpoints are addrs
// ("host:port", or URLs with http/https). It fails if PD cannot be reached
// before ctx ends. ctx bounds only the connection: the client outlives it
// (keeping its values) until closed. The caller owns the result and must
// Close it.
func Connect(ctx context.Context, addrs []string, opts ...ConnectOption) (PD, error) {
	if len(addrs) == 0 {
		return nil, kv.InvalidArgument("connect to PD: no address")
	}
	for _, a := range addrs {
		if err := checkAddr(a); err != nil {
			return nil, err
		}
	}
	var cfg connectConfig
	for _, o := range opts {
		o(&cfg)
	}
	// The guard comes first so that it resolves the PD addresses even when
	// the caller's options bring resolvers of their own (close_guard.go).
	guard := newCloseGuard()
	// Route the PD client's logs before it writes its first line.
	logs := logging.RoutePD(cfg.logger)
	pdOpts := append([]opt.ClientOption{opt.WithGRPCDialOptions(guard.dialOption())}, cfg.pdOpts...)
	// The PD client lives as long as the context it is built with; give it
	// one that ctx cancels only while the client is being built.
	life, cancelLife := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancelLife)
	probe := startTLSProbe(ctx, addrs, cfg.security.CAPath, cfg.security.CertPath, cfg.security.KeyPath)
	cli, err := pd.NewClientWithContext(life, callerComponent, addrs, cfg.security, pdOpts...)
	probeAddr, tlsErr := probe.stop()
	if !stop() {
		// ctx ended while connecting; the client, if any, is already dead.
		if cli != nil {
			guardedClient{cli, guard, logs, nil}.Close()
		}
		if err == nil {
			err = ctx.Err()
		} else {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
	}
	if err != nil {
		// What the failed client left running is shutting down.
		logs.Closing()
		logs.Closed()
		if tlsErr != nil {
			// Name the cause (an x509 verification failure, say): the PD
			// client's own error only says it got no cluster id.
			return nil, fmt.Errorf("%w: connect to PD %v: TLS handshake with %s failed: %w: %w", kv.ErrPDUnavailable, addrs, probeAddr, tlsErr, err)
		}
		if addr, dialErr := dialProbe(addrs); dialErr != nil {
			// The same for a PD that cannot be reached at all.
			return nil, fmt.Errorf("%w: connect to PD %v: %s: %w: %w", kv.ErrPDUnavailable, addrs, addr, dialErr, err)
		}
		return nil, fmt.Errorf("%w: connect to PD %v: %w", kv.ErrPDUnavailable, addrs, err)
	}
	// PD's HTTP API (min resolved ts) follows the PD client's leader and
	// speaks its TLS, as client-go's WithPDHTTPClient sets it up.
	var httpOpts []pdhttp.ClientOption
	if cfg.security.CAPath != "" {
		tlsCfg, err := transport.LoadTLS(cfg.security.CAPath, cfg.security.CertPath, cfg.security.KeyPath)
		if err != nil {
			guardedClient{cli, guard, logs, nil}.Close()
			return nil, fmt.Errorf("%w: connect to PD %v: load TLS: %w", kv.ErrPDUnavailable, addrs, err)
		}
		httpOpts = append(httpOpts, pdhttp.WithTLSConfig(tlsCfg))
	}
	h := pdhttp.NewClientWithServiceDiscovery(string(callerComponent), cli.GetServiceDiscovery(), httpOpts...)
	return guardedClient{cli, guard, logs, h}, nil
}

// checkAddr rejects a PD endpoint that is neither "host:port" nor an
// http/https URL with a host and port, before the PD client retries it for
// its whole timeout.
func checkAddr(a string) error {
	hp := a
	if i := strings.Index(a, "://"); i >= 0 {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return kv.InvalidArgument("PD address %q: want host:port or an http/https URL", a)
		}
		hp = u.Host
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil || port == "" {
		return kv.InvalidArgument("PD address %q: want host:port or an http/https URL", a)
	}
	if host == "" {
		return kv.InvalidArgument("PD address %q: no host", a)
	}
	return nil
}
