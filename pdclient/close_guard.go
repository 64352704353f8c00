package pdclient

import (
	"errors"
	"sync/atomic"

	pd "github.com/tikv/pd/client"
	pdhttp "github.com/tikv/pd/client/http"
	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"

	"github.com/tikvgo/tikv/internal/logging"
)

// errClientClosed fails a PD connection dialed after Close.
var errClientClosed = errors.New("pdclient: PD client is closed")

// closeGuard is the name resolver of the PD client's connections (pd/client
// dials "host:port", which gRPC resolves with the passthrough scheme). It
// delegates to gRPC's passthrough resolver until the client closes, then
// refuses to build.
//
// Why: pd/client's TSO connection updater (clients/tso/client.go, started by
// Cli.Setup outside the client's WaitGroup, so Close does not wait for it)
// may ask the service discovery for the leader's connection after Close has
// closed and forgotten every connection; GetOrCreateGRPCConn then dials a new
// one that nobody closes (one ClientConn per leak: 8 goroutines and 2 fds
// with mocktikv in-process, about one Connect+Close cycle in 300 in
// tests/soak). A resolver that fails to build makes grpc.DialContext close
// the connection it made and return the error, which the updater logs
// before it exits.
type closeGuard struct {
	closed atomic.Bool
	next   resolver.Builder
}

func newCloseGuard() *closeGuard {
	return &closeGuard{next: resolver.Get("passthrough")}
}

// dialOption installs the guard on a connection.
func (g *closeGuard) dialOption() grpc.DialOption { return grpc.WithResolvers(g) }

// Build implements resolver.Builder.
func (g *closeGuard) Build(t resolver.Target, cc resolver.ClientConn, o resolver.BuildOptions) (resolver.Resolver, error) {
	if g.closed.Load() {
		return nil, errClientClosed
	}
	return g.next.Build(t, cc, o)
}

// Scheme implements resolver.Builder.
func (g *closeGuard) Scheme() string { return g.next.Scheme() }

// guardedClient is the PD client with its close guard: Close shuts the
// guard first, so no connection dialed during or after Close survives it.
// logs is the route of the PD client's log lines to its logger
// (logging.RoutePD): Close marks it closing, which demotes the warnings of
// connections being shut down, and ends it last, so that the lines Close
// itself writes still reach the logger.
type guardedClient struct {
	pd.Client
	guard *closeGuard
	logs  *logging.PDRoute
	// http is PD's HTTP API on the PD client's service discovery
	// (min_resolved_ts.go); it starts no goroutines of its own.
	http pdhttp.Client
}

// Close closes the guard, then the HTTP client (which uses the PD
// client's service discovery), then the PD client, then its log route.
func (c guardedClient) Close() {
	c.logs.Closing()
	c.guard.closed.Store(true)
	if c.http != nil {
		c.http.Close()
	}
	c.Client.Close()
	c.logs.Closed()
}
