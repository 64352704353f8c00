package txn

import (
	"fmt"
	"time"

	"github.com/tikvgo/tikv/kv"
)

// Pipelined DML's defaults, client-go's (tikv/kv.go WithDefaultPipelinedTxn,
// internal/unionstore/pipelined_memdb.go, txnkv/transaction/pipelined_flush.go).
const (
	// DefaultPipelinedFlushConcurrency bounds the regions one generation
	// is flushed to at once.
	DefaultPipelinedFlushConcurrency = 128
	// DefaultPipelinedResolveConcurrency bounds the regions whose locks
	// are resolved at once after the commit or rollback.
	DefaultPipelinedResolveConcurrency = 8
	// DefaultPipelinedMinFlushKeys and DefaultPipelinedMinFlushSize: the
	// buffer is flushed once it holds at least MinFlushSize bytes of
	// memory and MinFlushKeys keys (client-go's MinFlushKeys,
	// MinFlushMemSize).
	DefaultPipelinedMinFlushKeys = 10000
	DefaultPipelinedMinFlushSize = 16 << 20
	// DefaultPipelinedForceFlushSize: a buffer this large is flushed
	// whatever its key count, waiting for the flush in flight if need be
	// (client-go's ForceFlushMemSizeThreshold), which bounds the memory a
	// pipelined transaction holds.
	DefaultPipelinedForceFlushSize = 128 << 20
	// DefaultPipelinedLockTTL is the TTL flushed locks are written with:
	// client-go's max(3000 ms, ManagedLockTTL).
	DefaultPipelinedLockTTL = 20 * time.Second
	// DefaultPipelinedMaxTTL is how long the heartbeat keeps a pipelined
	// transaction's primary alive (client-go's MaxPipelinedTxnTTL, 24 h).
	DefaultPipelinedMaxTTL = 24 * time.Hour
)

// PipelinedOptions tune a pipelined transaction (WithPipelined); zero
// fields take the defaults above.
type PipelinedOptions struct {
	// FlushConcurrency bounds the regions a generation is flushed to at
	// once; ResolveConcurrency the regions resolved at once after the
	// commit or the rollback.
	FlushConcurrency, ResolveConcurrency int
	// WriteThrottleRatio, in [0, 1), slows the writer down so that it
	// spends about this share of its time sleeping before each flush:
	// the sleep is ratio/(1-ratio) times the moving average of past
	// flush durations (client-go's throttlePipelinedTxn). Zero: no
	// throttling.
	WriteThrottleRatio float64
	// MinFlushKeys, MinFlushSize and ForceFlushSize set when the buffer
	// is flushed: once its memory reaches MinFlushSize and it holds
	// MinFlushKeys keys, or once its memory reaches ForceFlushSize.
	MinFlushKeys, MinFlushSize, ForceFlushSize int
	// LockTTL is the TTL of flushed locks; the heartbeat pushes the
	// primary's further while the transaction lives, up to MaxTTL after
	// its start.
	LockTTL, MaxTTL time.Duration
	// BatchSize bounds the key and value bytes of one Flush request
	// (twopc.DefaultBatchSize when zero).
	BatchSize int

	// skipResolve leaves a committed transaction's locks to readers
	// (tests only: client-go's pipelinedSkipResolveLock failpoint).
	skipResolve bool
}

// WithPipelined begins a pipelined transaction (client-go's
// tikv.WithPipelinedTxn, "pipelined DML"): instead of holding every write
// until Commit, it flushes its buffer to TiKV as locks, one generation at
// a time, while it keeps writing, so that a transaction of any size runs
// in bounded memory. Reads see its own flushed writes (KvBufferBatchGet).
// While it runs, the primary lock's heartbeat also pushes its
// min_commit_ts to the current TSO time, so that readers at older
// timestamps pass its locks rather than stop at them, and tells every
// TiKV store (BroadcastTxnStatus) for their transaction status caches.
// Commit flushes the rest, commits the primary alone, and resolves the
// other locks region by region in the background; Rollback rolls them
// back the same way; both are broadcast too, and so is the end of the
// resolution. A pipelined transaction is optimistic, and commits
// with two-phase commit only: combined with async commit or 1PC, Begin
// fails with *PipelinedUnsupportedError; so do Iter, IterReverse and
// LockKeys on it, which client-go does not support either.
func WithPipelined(o PipelinedOptions) BeginOption {
	return func(c *beginConfig) { c.pipelined = &o }
}

// PipelinedUnsupportedError says a pipelined transaction was asked for
// something it cannot do (client-go panics or fails the same way: a
// pipelined transaction has no buffer holding all its writes to iterate,
// and commits its primary alone).
type PipelinedUnsupportedError struct {
	// What names the option or call refused.
	What string
}

// Error describes the failure on one line.
func (e *PipelinedUnsupportedError) Error() string {
	return fmt.Sprintf("txn: %s is not supported by a pipelined transaction", e.What)
}

// Unwrap makes the error kv.ErrInvalidArgument.
func (e *PipelinedUnsupportedError) Unwrap() error { return kv.ErrInvalidArgument }

// withDefaults checks o and fills its zero fields.
func (o PipelinedOptions) withDefaults() (PipelinedOptions, error) {
	if o.FlushConcurrency < 0 || o.ResolveConcurrency < 0 || o.MinFlushKeys < 0 || o.MinFlushSize < 0 ||
		o.ForceFlushSize < 0 || o.LockTTL < 0 || o.MaxTTL < 0 || o.BatchSize < 0 {
		return o, kv.InvalidArgument("pipelined options must not be negative")
	}
	if o.LockTTL > 0 && o.LockTTL < 2*time.Millisecond {
		// TiKV counts TTLs in ms, and the heartbeat runs every half TTL.
		return o, kv.InvalidArgument("pipelined lock TTL %v is below 2 ms", o.LockTTL)
	}
	// client-go's KVTxn init refuses a ratio outside [0, 1).
	if o.WriteThrottleRatio < 0 || o.WriteThrottleRatio >= 1 {
		return o, kv.InvalidArgument("pipelined write throttle ratio %v is not in [0, 1)", o.WriteThrottleRatio)
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.FlushConcurrency, DefaultPipelinedFlushConcurrency)
	def(&o.ResolveConcurrency, DefaultPipelinedResolveConcurrency)
	def(&o.MinFlushKeys, DefaultPipelinedMinFlushKeys)
	def(&o.MinFlushSize, DefaultPipelinedMinFlushSize)
	def(&o.ForceFlushSize, DefaultPipelinedForceFlushSize)
	def(&o.BatchSize, 16*1024)
	if o.LockTTL == 0 {
		o.LockTTL = DefaultPipelinedLockTTL
	}
	if o.MaxTTL == 0 {
		o.MaxTTL = DefaultPipelinedMaxTTL
	}
	return o, nil
}
