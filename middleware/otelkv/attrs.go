package otelkv

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/kv"
)

// Attribute keys of our own, for what the database-client conventions do
// not name. The tikv. prefix keeps them apart from OTel's namespaces.
const (
	// KeyStoreID is the TiKV store an attempt went to.
	KeyStoreID = attribute.Key("tikv.store.id")
	// KeyRegionID is the region an attempt or event concerns.
	KeyRegionID = attribute.Key("tikv.region.id")
	// KeyForwardedHost is the leader address an attempt was forwarded to
	// by the store it was sent to (tikv.WithForwarding); the server address
	// attributes then name that proxy. Absent when not forwarded.
	KeyForwardedHost = attribute.Key("tikv.forwarded_host")
	// KeyProxyStoreID is the store that forwarded an attempt.
	KeyProxyStoreID = attribute.Key("tikv.proxy.store.id")
	// KeyPeerRole is "leader" for requests TiKV serves only on the leader,
	// "replica" for replica and stale reads (any voter may answer) and
	// "learner" for a learner peer.
	KeyPeerRole = attribute.Key("tikv.peer.role")
	// KeyAttempt numbers an attempt of one piece of a call, from 0.
	KeyAttempt = attribute.Key("tikv.attempt")
	// KeyPiece numbers the piece of a call an attempt or event serves.
	KeyPiece = attribute.Key("tikv.piece")
	// KeyCallID is the logical call's process-unique id (observe.Call.ID).
	KeyCallID = attribute.Key("tikv.call.id")
	// KeyReplicaRead and KeyStaleRead say how a read was served.
	KeyReplicaRead = attribute.Key("tikv.replica_read")
	KeyStaleRead   = attribute.Key("tikv.stale_read")
	// KeyBatchable says the command may travel in a BatchCommands stream;
	// the Pool sends it unary under transport.WithoutBatch, through a
	// non-Pool transport, or to a server without BatchCommands.
	KeyBatchable = attribute.Key("tikv.rpc.batchable")
	// KeyRegionError is the kind of region error an attempt was answered
	// with (kv.RegionErrorKind).
	KeyRegionError = attribute.Key("tikv.region_error")
	// KeyBackoff names a backoff policy ("regionMiss", "tikvRPC", ...).
	KeyBackoff = attribute.Key("tikv.backoff.kind")
	// KeySleepMs is a backoff's sleep, in milliseconds.
	KeySleepMs = attribute.Key("tikv.backoff.sleep_ms")
	// KeyPDMethod names a PD RPC ("GetRegion", "GetTS", ...).
	KeyPDMethod = attribute.Key("tikv.pd.method")
	// KeyCacheKind says what a region-cache miss looked up: "region" or
	// "store".
	KeyCacheKind = attribute.Key("tikv.cache.kind")
	// KeyLockOutcome is how a lock resolution ended: "committed",
	// "rolled_back", "pushed" (the owner's min_commit_ts was pushed past the
	// reader) or "failed".
	KeyLockOutcome = attribute.Key("tikv.lock.outcome")
	// KeyTxnProtocol is the commit protocol of a transaction: "2pc",
	// "async_commit" or "1pc".
	KeyTxnProtocol = attribute.Key("tikv.txn.protocol")
)

// dbSystem is db.system.name for every span and point: TiKV is not in the
// conventions' list of well-known systems, which allows a custom value.
var dbSystem = semconv.DBSystemNameKey.String("tikv")

// errorType names err for error.type: low-cardinality and stable, as the
// conventions ask. Canceled and timed-out calls, the kv sentinels, region
// errors (by kind) and gRPC codes have names; anything else is "_OTHER",
// the conventions' fallback. A key that does not exist is not an error.
func errorType(err error) string {
	switch {
	case err == nil, errors.Is(err, kv.ErrNotFound):
		return ""
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.Is(err, kv.ErrUndetermined):
		return "undetermined"
	case errors.Is(err, kv.ErrClosed):
		return "closed"
	case errors.Is(err, kv.ErrNotSent):
		return "not_sent"
	case errors.Is(err, kv.ErrPDUnavailable):
		return "pd_unavailable"
	case errors.Is(err, kv.ErrInvalidArgument):
		return "invalid_argument"
	case errors.Is(err, kv.ErrProtocol):
		return "protocol"
	}
	var re *kv.RegionError
	if errors.As(err, &re) {
		if re.Err == nil {
			return "no_replica"
		}
		return kv.RegionErrorKind(re.Err)
	}
	if s, ok := status.FromError(err); ok {
		return s.Code().String()
	}
	return "_OTHER"
}

// regionError returns the region error a response carries, if any.
func regionError(msg any) *errorpb.Error {
	if m, ok := msg.(interface{ GetRegionError() *errorpb.Error }); ok {
		return m.GetRegionError()
	}
	return nil
}

// peerRole names the role an attempt addressed its peer in (KeyPeerRole).
func peerRole(c *kvrpcpb.Context, p *metapb.Peer) string {
	switch {
	case p == nil:
		return ""
	case p.GetRole() == metapb.PeerRole_Learner:
		return "learner"
	case c != nil && (c.GetReplicaRead() || c.GetStaleRead()):
		return "replica"
	}
	return "leader"
}

// serverAttrs returns server.address and server.port for a "host:port"
// address (the whole string as address when it has no port).
func serverAttrs(addr string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return []attribute.KeyValue{semconv.ServerAddress(addr)}
	}
	if p, err := strconv.Atoi(port); err == nil {
		return []attribute.KeyValue{semconv.ServerAddress(host), semconv.ServerPort(p)}
	}
	return []attribute.KeyValue{semconv.ServerAddress(host)}
}

// maxCached bounds each attribute cache: past it, values are built per use
// instead of remembered, so a stream of new stores or addresses cannot grow
// memory without bound.
const maxCached = 4096

// cache memoises what is derived from a small key (attribute sets and the
// option slices holding them), so that the request path does not rebuild
// and re-allocate them for every attempt. Safe for concurrent use.
type cache[K comparable, V any] struct {
	mu   sync.RWMutex
	m    map[K]V
	make func(K) V
}

func newCache[K comparable, V any](make func(K) V) *cache[K, V] {
	return &cache[K, V]{m: map[K]V{}, make: make}
}

func (c *cache[K, V]) get(k K) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = c.make(k)
	c.mu.Lock()
	if len(c.m) < maxCached {
		c.m[k] = v
	}
	c.mu.Unlock()
	return v
}
