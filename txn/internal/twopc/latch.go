package twopc

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"
	"sync"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
)

// Latches are client-side locks on keys that let transactions of one
// client find their write conflicts with each other before any RPC
// (client-go's local latches, internal/latch). A transaction takes the
// latch of each of its keys in key order (so two transactions cannot wait
// for each other), waiting behind the one holding it, first come first
// served; each key remembers the largest commit ts it was committed at
// under a latch, and a transaction that started before it is stale: it
// would meet that write at prewrite, so it fails at once with
// *LatchConflictError.
//
// Latches see only this client's transactions; they save conflicting
// transactions of one process the round trips, and TiKV still checks
// every conflict. Safe for concurrent use.
type Latches struct {
	seed  maphash.Seed
	slots []latchSlot
}

// latchSlot holds the latches of the keys that hash to it.
type latchSlot struct {
	mu    sync.Mutex
	nodes map[string]*latchNode
}

// latchNode is one key's latch.
type latchNode struct {
	maxCommitTS uint64
	held        bool
	waiters     []chan struct{} // closed to hand the latch over, in arrival order
}

// Recycling of idle latches, client-go's: once a slot holds
// latchSlotRecycleAt keys, the free ones whose last commit is older than
// latchIdle (by the acquiring transaction's start ts) are forgotten; a
// transaction that old is refused by TiKV's conflict check anyway.
const (
	latchSlotRecycleAt = 5
	latchIdle          = 2 * time.Minute
)

// NewLatches returns latches of at least size slots (rounded up to a power
// of two).
func NewLatches(size int) *Latches {
	n := 1 << bits.Len(uint(max(size, 1)-1))
	return &Latches{seed: maphash.MakeSeed(), slots: make([]latchSlot, n)}
}

func (l *Latches) slot(key []byte) *latchSlot {
	return &l.slots[maphash.Bytes(l.seed, key)&uint64(len(l.slots)-1)]
}

// LatchConflictError says a key was committed, under this client's
// latches, after the transaction's start ts (client-go's
// ErrWriteConflictInLatch). It wraps kv.ErrWriteConflict and
// kv.ErrTxnRetryable.
type LatchConflictError struct {
	StartTS uint64
	Key     []byte
}

// Error names what happened, on one line.
func (e *LatchConflictError) Error() string {
	return fmt.Sprintf("twopc: txn %d: key %q was committed after it started (local latch)", e.StartTS, e.Key)
}

// Unwrap returns kv.ErrWriteConflict and kv.ErrTxnRetryable.
func (e *LatchConflictError) Unwrap() []error {
	return []error{kv.ErrWriteConflict, kv.ErrTxnRetryable}
}

// LatchGuard is the latches one transaction holds.
type LatchGuard struct {
	l    *Latches
	keys [][]byte // held, in key order
}

// Acquire takes the latches of keys for the transaction startTS, waiting
// for the transactions holding them. It fails with *LatchConflictError
// when a key was committed after startTS, or with ctx's error; it then
// holds nothing. keys is not modified.
func (l *Latches) Acquire(ctx context.Context, startTS uint64, keys [][]byte) (*LatchGuard, error) {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	g := &LatchGuard{l: l, keys: make([][]byte, 0, len(keys))}
	for _, k := range keys {
		if err := l.acquire(ctx, startTS, k); err != nil {
			g.Release(0)
			return nil, err
		}
		g.keys = append(g.keys, k)
	}
	return g, nil
}

func (l *Latches) acquire(ctx context.Context, startTS uint64, key []byte) error {
	s := l.slot(key)
	s.mu.Lock()
	if s.nodes == nil {
		s.nodes = map[string]*latchNode{}
	}
	if len(s.nodes) >= latchSlotRecycleAt {
		s.recycleLocked(startTS)
	}
	n := s.nodes[string(key)]
	if n == nil {
		n = &latchNode{}
		s.nodes[string(key)] = n
	}
	if !n.held {
		defer s.mu.Unlock()
		if n.maxCommitTS > startTS {
			return &LatchConflictError{StartTS: startTS, Key: key}
		}
		n.held = true
		return nil
	}
	turn := make(chan struct{})
	n.waiters = append(n.waiters, turn)
	s.mu.Unlock()

	select {
	case <-turn:
	case <-ctx.Done():
		s.mu.Lock()
		if i := slices.Index(n.waiters, turn); i >= 0 {
			n.waiters = slices.Delete(n.waiters, i, i+1)
			s.mu.Unlock()
			return fmt.Errorf("twopc: wait for the local latch of key %q: %w", key, ctx.Err())
		}
		s.mu.Unlock()
		// Handed over meanwhile: pass it on.
		l.release(key, 0)
		return fmt.Errorf("twopc: wait for the local latch of key %q: %w", key, ctx.Err())
	}
	s.mu.Lock()
	stale := n.maxCommitTS > startTS
	s.mu.Unlock()
	if stale {
		l.release(key, 0)
		return &LatchConflictError{StartTS: startTS, Key: key}
	}
	return nil
}

// release frees key's latch, recording commitTS (0: not committed), and
// hands it to the first waiter.
func (l *Latches) release(key []byte, commitTS uint64) {
	s := l.slot(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[string(key)]
	n.maxCommitTS = max(n.maxCommitTS, commitTS)
	if len(n.waiters) == 0 {
		n.held = false
		return
	}
	close(n.waiters[0])
	n.waiters = slices.Delete(n.waiters, 0, 1)
}

func (s *latchSlot) recycleLocked(startTS uint64) {
	now := pdclient.ExtractPhysical(startTS)
	for k, n := range s.nodes {
		if !n.held && now-pdclient.ExtractPhysical(n.maxCommitTS) >= latchIdle.Milliseconds() {
			delete(s.nodes, k)
		}
	}
}

// Release frees the latches, recording commitTS as the keys' latest commit
// when the transaction committed (0 when it did not), and wakes the
// transactions waiting for them. Release on a nil guard does nothing.
func (g *LatchGuard) Release(commitTS uint64) {
	if g == nil {
		return
	}
	for i := len(g.keys) - 1; i >= 0; i-- {
		g.l.release(g.keys[i], commitTS)
	}
	g.keys = nil
}
