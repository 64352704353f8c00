package pipeline

import (
	"context"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/kv"
)

// ReadOptions choose the replicas that serve one call's reads. They travel
// in the call's context (WithReadOptions) so that compiled plans stay
// shared; Retry applies them to commands whose Method is a Read and
// ignores them for writes, which always go to the leader.
type ReadOptions struct {
	// ReplicaRead picks the kind of replica (default: the leader).
	ReplicaRead kv.ReplicaReadType
	// StaleRead reads at the request's timestamp from any replica whose
	// safe ts has passed it, without contacting the leader; a replica that
	// is not ready answers DataIsNotReady and the read moves to the leader.
	StaleRead bool
	// MatchLabels prefers replicas on stores carrying all these labels
	// (for example the client's zone).
	MatchLabels []*metapb.StoreLabel
	// MatchStores prefers replicas on these stores.
	MatchStores []uint64
	// BusyThreshold lets a leader read go to an idle follower when the
	// leader's estimated queueing exceeds it (load-based replica read); it
	// is also sent to TiKV, which rejects work it would queue longer.
	BusyThreshold time.Duration
	// FirstAttemptTimeout, when positive, bounds the first attempt of each
	// piece instead of Env.ReadTimeout (client-go's KV read timeout): the
	// attempt waits that long and TiKV is told to give up after it
	// (max_execution_duration_ms). An attempt that times out so is tried
	// again at once on another replica, with the Env's read timeout.
	FirstAttemptTimeout time.Duration
}

type readOptionsKey struct{}

// WithReadOptions returns a context whose reads use o.
func WithReadOptions(ctx context.Context, o ReadOptions) context.Context {
	return context.WithValue(ctx, readOptionsKey{}, &o)
}

// ReadOptionsFrom returns the read options attached to ctx (the zero value,
// leader reads, when there are none).
func ReadOptionsFrom(ctx context.Context) ReadOptions {
	if o, ok := ctx.Value(readOptionsKey{}).(*ReadOptions); ok {
		return *o
	}
	return ReadOptions{}
}
