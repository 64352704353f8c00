package txnlock

import (
	"fmt"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
)

// TxnStatus is what a transaction's primary (or, for async commit, its
// secondaries) said about it: committed at CommitTS, rolled back, or still
// alive for TTL (client-go's txnlock.TxnStatus).
type TxnStatus struct {
	// TTL is the primary lock's time to live when the transaction is still
	// alive; zero once it is committed or rolled back.
	TTL time.Duration
	// CommitTS is the commit ts of a committed transaction; zero otherwise.
	CommitTS uint64
	// Action is what the status check did to the transaction (rolled back
	// an expired lock, pushed its min commit ts, ...).
	Action kvrpcpb.Action
	// PrimaryLock is the primary's lock when the transaction is still
	// locked (an async-commit primary lists its secondaries); nil
	// otherwise.
	PrimaryLock *kv.Lock
}

// IsCommitted reports whether the transaction committed.
func (s TxnStatus) IsCommitted() bool { return s.CommitTS > 0 }

// IsRolledBack reports whether the transaction is rolled back: no lock is
// left and no commit was found. TiKV's check_txn_status answers a rollback
// with one of these actions and neither a TTL nor a commit ts
// (client-go's TxnStatus.IsRolledBack).
func (s TxnStatus) IsRolledBack() bool {
	return s.TTL == 0 && s.CommitTS == 0 && (s.Action == kvrpcpb.Action_NoAction ||
		s.Action == kvrpcpb.Action_LockNotExistRollback ||
		s.Action == kvrpcpb.Action_TTLExpireRollback)
}

// IsDetermined reports whether the transaction's fate is settled
// (committed or rolled back): such a status never changes, so it may be
// cached.
func (s TxnStatus) IsDetermined() bool { return s.IsCommitted() || s.IsRolledBack() }

// String describes the status on one line.
func (s TxnStatus) String() string {
	return fmt.Sprintf("ttl %v, commit ts %d, action %s", s.TTL, s.CommitTS, s.Action)
}

// sameOutcome reports whether two determined statuses agree.
func (s TxnStatus) sameOutcome(o TxnStatus) bool {
	return (s.IsCommitted() && o.IsCommitted() && s.CommitTS == o.CommitTS) ||
		(s.IsRolledBack() && o.IsRolledBack())
}

// DefaultCacheSize is how many settled transactions a Resolver remembers
// (client-go's ResolvedCacheSize).
const DefaultCacheSize = 2048

// statusCache remembers the determined status of recently settled
// transactions by start ts, forgetting the oldest first (client-go keeps
// the same FIFO). Safe for concurrent use.
type statusCache struct {
	mu    sync.RWMutex
	size  int
	byTS  map[uint64]TxnStatus
	order []uint64 // ring of start ts in insertion order
	next  int      // where the next insertion goes once the ring is full
}

func newStatusCache(size int) *statusCache {
	return &statusCache{size: size, byTS: make(map[uint64]TxnStatus, size)}
}

func (c *statusCache) get(startTS uint64) (TxnStatus, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.byTS[startTS]
	return s, ok
}

// put records a determined status. A transaction settles once: a second,
// different outcome for the same start ts means TiKV or this client broke
// the protocol, which put reports instead of hiding it (client-go panics).
func (c *statusCache) put(startTS uint64, s TxnStatus) error {
	if !s.IsDetermined() || c.size <= 0 {
		return nil
	}
	s.PrimaryLock = nil // the lock is history once the txn settled
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byTS[startTS]; ok {
		if !old.sameOutcome(s) {
			return &ConflictingStatusError{StartTS: startTS, Cached: old, New: s}
		}
		return nil
	}
	if len(c.order) < c.size {
		c.order = append(c.order, startTS)
	} else {
		delete(c.byTS, c.order[c.next])
		c.order[c.next] = startTS
		c.next = (c.next + 1) % c.size
	}
	c.byTS[startTS] = s
	return nil
}

// ConflictingStatusError says TiKV reported two different outcomes for one
// transaction (committed and rolled back, or two commit ts): a protocol
// violation, never retried.
type ConflictingStatusError struct {
	StartTS     uint64
	Cached, New TxnStatus
}

// Error names what happened, on one line.
func (e *ConflictingStatusError) Error() string {
	return fmt.Sprintf("txnlock: txn %d settled twice differently: %s, then %s", e.StartTS, e.Cached, e.New)
}
