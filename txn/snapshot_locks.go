package txn

import (
	"slices"
	"sync"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pipeline"
)

// seenLocks is what a snapshot's reads learnt from the lock resolver: the
// transactions whose locks a read at the snapshot's ts may skip (rolled
// back, or committed after the ts: TiKV's Context.resolved_locks) and
// those committed at or before it, whose locked values TiKV may serve from
// the lock (Context.committed_locks). Both stay true for the snapshot's
// whole life, so every later read carries them (client-go keeps them in
// KVSnapshot.resolvedLocks / committedLocks). Safe for concurrent use.
type seenLocks struct {
	mu        sync.Mutex
	resolved  []uint64
	committed []uint64
}

// context returns a copy of tmpl carrying every lock learnt so far.
func (l *seenLocks) context(tmpl *kvrpcpb.Context) *kvrpcpb.Context {
	c := *tmpl
	l.mu.Lock()
	c.ResolvedLocks = slices.Clone(l.resolved)
	c.CommittedLocks = slices.Clone(l.committed)
	l.mu.Unlock()
	return &c
}

// learn records what one resolution found and returns a copy of rc (the
// Context of the request to send again) with it added; rc is unchanged,
// since the request it belongs to may be shared.
func (l *seenLocks) learn(rc *kvrpcpb.Context, res pipeline.ResolveResult) *kvrpcpb.Context {
	var c kvrpcpb.Context
	if rc != nil {
		c = *rc
	}
	c.ResolvedLocks = union(c.ResolvedLocks, res.Resolved)
	c.CommittedLocks = union(c.CommittedLocks, res.Committed)
	l.mu.Lock()
	l.resolved = union(l.resolved, res.Resolved)
	l.committed = union(l.committed, res.Committed)
	l.mu.Unlock()
	return &c
}

// union returns a new slice holding a's elements followed by those of b
// not in a.
func union(a, b []uint64) []uint64 {
	out := slices.Clone(a)
	for _, ts := range b {
		if !slices.Contains(out, ts) {
			out = append(out, ts)
		}
	}
	return out
}
