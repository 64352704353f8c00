package twopc

import (
	"math"
	"time"
)

// Defaults of Options, client-go's values.
const (
	// DefaultBatchSize is the byte size at which a batch of one region is
	// closed (client-go's kv.TxnCommitBatchSize, 16 KiB): key and value
	// bytes for a prewrite, key bytes for a commit or rollback.
	DefaultBatchSize = 16 * 1024
	// DefaultLockTTL is the TTL of a small transaction's locks (client-go's
	// defaultLockTTL, 3 s): a lock older than that is presumed abandoned and
	// may be rolled back by a reader.
	DefaultLockTTL = 3 * time.Second
	// DefaultManagedLockTTL caps the size-grown TTL and is the TTL the
	// heartbeat keeps ahead of the transaction's age (client-go's
	// ManagedLockTTL, 20 s); heartbeats are sent every half of it.
	DefaultManagedLockTTL = 20 * time.Second
	// DefaultMaxTxnTTL is how long after its start ts a transaction's
	// heartbeat keeps its primary alive (client-go's config MaxTxnTTL, 1 h).
	DefaultMaxTxnTTL = time.Hour
	// DefaultHeartbeatTxnSize is the size (key and value bytes) above which
	// a transaction's primary lock gets heartbeats (client-go's
	// TiKVClient.TTLRefreshedTxnSize, 32 MiB).
	DefaultHeartbeatTxnSize = 32 << 20
	// ttlFactor grows the TTL with the square root of the size in MiB
	// (client-go's ttlFactor: 6 s at 1 MiB, 12 s at 4 MiB, 20 s at 10 MiB).
	ttlFactor = 6000
	// DefaultPreSplitKeys is how many of a transaction's mutations one
	// region must hold for the commit to pre-split it (client-go's
	// preSplitDetectThreshold, 100000).
	DefaultPreSplitKeys = 100000
	// DefaultPreSplitSize is the key and value bytes of each piece a
	// pre-split cuts a region into (client-go's preSplitSizeThreshold,
	// 32 MiB).
	DefaultPreSplitSize = 32 << 20
	// DefaultScatterWait bounds how long a commit waits for PD to finish
	// scattering its pre-split regions (client-go's
	// waitScatterRegionFinishBackoff, 120 s).
	DefaultScatterWait = 120 * time.Second
	// DefaultScatterRetryBudget bounds the backoff sleeps between failed
	// ScatterRegions calls of one pre-split, shared by its regions
	// (client-go's splitRegionBackoff, 20 s, which its scatterRegion
	// retries spend).
	DefaultScatterRetryBudget = 20 * time.Second
)

// Options tune a Committer. Zero fields take the defaults above.
type Options struct {
	// BatchSize bounds the bytes of one batch; DefaultBatchSize when zero.
	BatchSize int
	// ManagedLockTTL: DefaultManagedLockTTL when zero.
	ManagedLockTTL time.Duration
	// MaxTxnTTL: DefaultMaxTxnTTL when zero.
	MaxTxnTTL time.Duration
	// HeartbeatTxnSize: DefaultHeartbeatTxnSize when zero; negative turns
	// heartbeats off.
	HeartbeatTxnSize int
	// Context is the request context every transaction's writes carry
	// unless its Request.Context sets the field (priority, request
	// source, resource group, ...).
	Context RequestContext
	// PreSplitKeys: DefaultPreSplitKeys when zero; negative turns the
	// pre-split of large transactions' regions off (presplit.go).
	PreSplitKeys int
	// PreSplitSize: DefaultPreSplitSize when zero or negative.
	PreSplitSize int
	// ScatterWait: DefaultScatterWait when zero; negative scatters the
	// pre-split regions without waiting for PD to finish.
	ScatterWait time.Duration
	// ScatterRetryBudget: DefaultScatterRetryBudget when zero; negative
	// asks PD once per region, without retrying a failed call.
	ScatterRetryBudget time.Duration

	// AsyncCommit and OnePC make transactions that do not choose
	// otherwise (Request.AsyncCommit, Request.OnePC) commit with async
	// commit and one-phase commit when they are eligible (protocol.go);
	// both may be on (a one-batch transaction then tries 1PC, and falls
	// back to async commit when it spans more batches). Off by default, as
	// in client-go.
	AsyncCommit, OnePC bool
	// CausalConsistency lets async-commit and 1PC transactions skip the
	// TSO fetch their min_commit_ts is otherwise taken from (client-go's
	// SetCausalConsistency(true)): a commit is then ordered after every
	// transaction it could have seen, but not necessarily after one that
	// committed on another store just before it began. Off by default:
	// commits are linearizable.
	CausalConsistency bool
	// AsyncCommitKeys and AsyncCommitKeySize bound the transactions that
	// may use async commit: DefaultAsyncCommitKeys mutations and
	// DefaultAsyncCommitKeySize key bytes when zero.
	AsyncCommitKeys, AsyncCommitKeySize int
	// SafeWindow: DefaultSafeWindow when zero (max_commit_ts).
	SafeWindow time.Duration
	// AllowedClockDrift: DefaultAllowedClockDrift when zero
	// (SchemaChangeWait).
	AllowedClockDrift time.Duration
}

func (o Options) withDefaults() Options {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.ManagedLockTTL <= 0 {
		o.ManagedLockTTL = DefaultManagedLockTTL
	}
	if o.MaxTxnTTL <= 0 {
		o.MaxTxnTTL = DefaultMaxTxnTTL
	}
	if o.HeartbeatTxnSize == 0 {
		o.HeartbeatTxnSize = DefaultHeartbeatTxnSize
	}
	if o.PreSplitKeys == 0 {
		o.PreSplitKeys = DefaultPreSplitKeys
	}
	if o.PreSplitSize <= 0 {
		o.PreSplitSize = DefaultPreSplitSize
	}
	if o.ScatterWait == 0 {
		o.ScatterWait = DefaultScatterWait
	}
	if o.ScatterRetryBudget == 0 {
		o.ScatterRetryBudget = DefaultScatterRetryBudget
	}
	return o.protocolDefaults()
}

// LockTTL is the TTL a transaction of size bytes (keys and values) writes
// its locks with, elapsed after it began (client-go's txnLockTTL): 3 s
// below one batch, else 6 s * sqrt(size in MiB) within [3 s,
// managedLockTTL]; plus the time the transaction has already lived,
// since readers judge a lock's age from its start ts, so a transaction
// that read for long would otherwise be presumed dead at prewrite.
func LockTTL(size int, elapsed, managedLockTTL time.Duration) time.Duration {
	ttl := DefaultLockTTL
	if size >= DefaultBatchSize {
		mib := float64(size) / (1 << 20)
		ms := time.Duration(ttlFactor*math.Sqrt(mib)) * time.Millisecond
		ttl = min(max(ms, DefaultLockTTL), managedLockTTL)
	}
	return ttl + max(elapsed, 0).Truncate(time.Millisecond)
}
