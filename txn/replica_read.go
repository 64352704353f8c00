package txn

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
)

// ReplicaReadAdjuster revises the replica choice of one point-read batch
// given how many keys it reads (client-go's txnsnapshot.ReplicaReadAdjuster,
// with which TiDB sends small batches to the leader and large ones to the
// closest replica). It returns the read type for the batch and store
// labels the serving replica should carry, added to the snapshot's own
// (WithMatchStoreLabels); nil labels add none. It must be safe for
// concurrent use: the batches of one BatchGet, one per region, ask it in
// parallel.
type ReplicaReadAdjuster func(keyCount int) (kv.ReplicaReadType, []*metapb.StoreLabel)

// WithReplicaReadAdjuster makes the snapshot's Get and BatchGet ask f for
// the replica choice of each batch (one per region for BatchGet; a Get is
// a batch of one key). As in client-go, f is asked only when the snapshot
// reads from replicas other than the leader (WithReplicaRead of a
// follower-ish type, or WithStaleRead), and scans do not ask it.
func WithReplicaReadAdjuster(f ReplicaReadAdjuster) SnapshotOption {
	return func(c *snapshotConfig) { c.adjuster = f }
}

// WithMatchStoreLabels makes replica reads prefer replicas on stores that
// carry all these labels, for example the client's zone (client-go's
// SetMatchStoreLabels); a stale read whose first replica does not match
// retries as a replica read (read index), as in client-go.
func WithMatchStoreLabels(labels []*metapb.StoreLabel) SnapshotOption {
	return func(c *snapshotConfig) { c.matchLabels = labels }
}

// WithLoadBasedReplicaReadThreshold lets a leader read go to an idle
// follower (as a replica read) when the leader's estimated queueing
// exceeds d, and asks TiKV to reject work it would queue longer
// (Context.busy_threshold_ms; client-go's SetLoadBasedReplicaReadThreshold).
// A d that is not positive, or longer than TiKV's field holds (MaxUint32
// milliseconds), turns it off.
func WithLoadBasedReplicaReadThreshold(d time.Duration) SnapshotOption {
	return func(c *snapshotConfig) {
		if d <= 0 || d.Milliseconds() > math.MaxUint32 {
			d = 0
		}
		c.busyThreshold = d
	}
}

// readContext applies the snapshot's replica choice, its retry knobs
// (WithVariables) and its runtime stats to a call's context. The replica
// choice goes over any read options the caller's context carries.
func (s *Snapshot) readContext(ctx context.Context) context.Context {
	ctx = s.statsContext(s.withTagger(s.withVariables(ctx)))
	c := &s.cfg
	if !c.replicaSet && !c.stale && len(c.matchLabels) == 0 && c.busyThreshold == 0 {
		return ctx
	}
	ro := pipeline.ReadOptionsFrom(ctx)
	if c.replicaSet {
		ro.ReplicaRead = c.replicaRead
	}
	if c.stale {
		// client-go's EnableStaleWithMixedReplicaRead: a stale read picks
		// among every replica.
		ro.StaleRead, ro.ReplicaRead = true, kv.ReplicaReadMixed
		ctx = context.WithValue(ctx, staleCallKey{}, &staleCall{})
	}
	if len(c.matchLabels) > 0 {
		ro.MatchLabels = append(append([]*metapb.StoreLabel(nil), ro.MatchLabels...), c.matchLabels...)
	}
	if c.busyThreshold > 0 {
		ro.BusyThreshold = c.busyThreshold
	}
	return pipeline.WithReadOptions(ctx, ro)
}

// pointReadContext is readContext for Get and BatchGet, which also carry
// the snapshot's KV read timeout (WithKVReadTimeout) for their first
// attempts.
func (s *Snapshot) pointReadContext(ctx context.Context) context.Context {
	ctx = s.readContext(ctx)
	if s.cfg.readTimeout <= 0 {
		return ctx
	}
	ro := pipeline.ReadOptionsFrom(ctx)
	ro.FirstAttemptTimeout = s.cfg.readTimeout
	return pipeline.WithReadOptions(ctx, ro)
}

// readGuard is what a snapshot checks and adjusts per region batch, in
// front of Retry: the read ts, the adjuster, the stale-read fallback.
type readGuard struct {
	validator ReadTSValidator
	adjuster  ReplicaReadAdjuster
	stale     bool
}

func (s *Snapshot) readGuard() readGuard {
	return readGuard{validator: s.cfg.validator, adjuster: s.cfg.adjuster, stale: s.cfg.stale}
}

// guarded wraps one region's read step (Retry) with the snapshot's
// readGuard. It runs again for every resend of the resolve-lock stage.
//
//   - The read ts is validated before each send, as client-go's region
//     request sender does for Get, BatchGet and Scan (ValidateReadTS).
//   - A stale read that met a lock is sent on as a leader read, neither
//     stale nor load-based (client-go's DisableStaleReadMeetLock: the
//     resolved lock's outcome may not have reached the follower yet). The
//     switch is per call: once one region of a BatchGet met a lock, the
//     call's later sends all go to leaders (client-go switches per region
//     batch), which costs only the stale read's locality.
//   - The adjuster, for follower-ish reads, picks the read type and labels
//     of the batch; keyCount counts its keys (nil: scans, not adjusted).
func guarded[Req interface{ GetVersion() uint64 }, Resp any](g readGuard, keyCount func(Req) int,
	step pipeline.Step[Req, Resp]) pipeline.Step[Req, Resp] {
	if g.validator == nil && g.adjuster == nil && !g.stale {
		return step
	}
	return func(ctx context.Context, region *pdclient.Region, req Req) (Resp, error) {
		var zero Resp
		call, _ := ctx.Value(staleCallKey{}).(*staleCall)
		stale := call != nil && !call.metLock.Load()
		if stale && req.GetVersion() == MaxTS {
			return zero, pdclient.ErrLatestStaleRead
		}
		if g.validator != nil {
			if err := g.validator.ValidateReadTS(ctx, req.GetVersion(), stale); err != nil {
				return zero, err
			}
		}
		ro := pipeline.ReadOptionsFrom(ctx)
		changed := false
		if call != nil && !stale && ro.StaleRead {
			ro.StaleRead, ro.ReplicaRead, ro.BusyThreshold = false, kv.ReplicaReadLeader, 0
			changed = true
		}
		if g.adjuster != nil && keyCount != nil && ro.ReplicaRead.IsFollowerRead() {
			t, labels := g.adjuster(keyCount(req))
			ro.ReplicaRead, changed = t, true
			if len(labels) > 0 {
				ro.MatchLabels = append(append([]*metapb.StoreLabel(nil), ro.MatchLabels...), labels...)
			}
		}
		if changed {
			ctx = pipeline.WithReadOptions(ctx, ro)
		}
		resp, err := step(ctx, region, req)
		var locked *kv.LockedError
		if call != nil && errors.As(err, &locked) {
			call.metLock.Store(true)
		}
		return resp, err
	}
}

// staleCall is one stale-read call's state: whether a send met a lock.
type staleCall struct{ metLock atomic.Bool }

type staleCallKey struct{}
