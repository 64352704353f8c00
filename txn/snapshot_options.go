package txn

import (
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
)

// IsolationLevel is the read rule TiKV applies to a snapshot's reads
// (kvrpcpb.IsolationLevel, sent in Context.isolation_level). The client
// passes it through and resolves whatever locks TiKV reports, as client-go
// does; only TiKV's answers differ.
type IsolationLevel int32

// The isolation levels (client-go's txnsnapshot.SI, RC, RCCheckTS).
const (
	// SI is snapshot isolation, the default: a read at ts sees the newest
	// version committed at or before ts, and a lock of a transaction that
	// may commit at or before ts blocks it until resolved.
	SI = IsolationLevel(kvrpcpb.IsolationLevel_SI)
	// RC is read committed: TiKV checks no locks at all and returns the
	// newest version committed at or before the read ts, so a read never
	// waits for a writer. The read ts is still the snapshot's; TiDB reads
	// each statement at a fresh ts by taking a new snapshot (client-go's
	// SetSnapshotTS), and so does a caller of this package (NewSnapshot).
	RC = IsolationLevel(kvrpcpb.IsolationLevel_RC)
	// RCCheckTS is read committed that fails instead of reading stale
	// data: TiKV answers a WriteConflict (kv.ErrWriteConflict) when the key
	// has a version committed after the read ts or a Put/Delete lock of any
	// ts (TiKV's point_getter.rs, RcCheckTs). The caller retries with a
	// newer ts.
	RCCheckTS = IsolationLevel(kvrpcpb.IsolationLevel_RCCheckTS)
)

// String names the level.
func (l IsolationLevel) String() string { return kvrpcpb.IsolationLevel(l).String() }

// DefaultScanBatchSize is how many pairs an Iter asks TiKV for per RPC
// (client-go's txnsnapshot.DefaultScanBatchSize).
const DefaultScanBatchSize = pipeline.DefaultPageSize

// DefaultCacheLimit bounds the bytes (keys plus values) a snapshot's
// result cache holds. client-go bounds its cache at 10 GiB, which is no
// bound in practice; a smaller one keeps a long scan of point reads from
// growing without limit.
const DefaultCacheLimit = 64 << 20

// SnapshotOption configures a Snapshot (NewSnapshot).
type SnapshotOption func(*snapshotConfig)

type snapshotConfig struct {
	iso           IsolationLevel
	keyOnly       bool
	scanBatchSize int
	notFillCache  bool
	priority      kvrpcpb.CommandPri
	source        string
	groupTag      []byte
	tagger        ResourceGroupTagger // WithResourceGroupTagger (resource_group_tagger.go)
	readTimeout   time.Duration       // WithKVReadTimeout
	sampleStep    uint32              // WithSampleStep
	taskID        uint64              // WithTaskID
	groupName     string
	replicaRead   kv.ReplicaReadType
	replicaSet    bool
	safePoint     SafePointChecker
	cacheLimit    int
	vars          kv.Variables
	varsSet       bool

	// Replica and stale reads (replica_read.go, stale_read.go).
	stale         bool
	adjuster      ReplicaReadAdjuster
	matchLabels   []*metapb.StoreLabel
	busyThreshold time.Duration
	validator     ReadTSValidator
}

func defaultSnapshotConfig() snapshotConfig {
	return snapshotConfig{iso: SI, scanBatchSize: DefaultScanBatchSize, cacheLimit: DefaultCacheLimit}
}

// WithIsolationLevel sets the read rule of every read (default SI).
func WithIsolationLevel(l IsolationLevel) SnapshotOption {
	return func(c *snapshotConfig) { c.iso = l }
}

// WithKeyOnly makes Iter and IterReverse return keys without values
// (ScanRequest.key_only; client-go's SetKeyOnly). Locks are still checked.
func WithKeyOnly() SnapshotOption {
	return func(c *snapshotConfig) { c.keyOnly = true }
}

// WithScanBatchSize sets how many pairs a scan asks for per RPC. A size
// of 1 or less means DefaultScanBatchSize, as in client-go (whose scanner
// needs at least two).
func WithScanBatchSize(n int) SnapshotOption {
	return func(c *snapshotConfig) {
		if n <= 1 {
			n = DefaultScanBatchSize
		}
		c.scanBatchSize = n
	}
}

// WithNotFillCache asks TiKV not to fill its block cache with what the
// reads touch (Context.not_fill_cache), for large one-off reads.
func WithNotFillCache() SnapshotOption {
	return func(c *snapshotConfig) { c.notFillCache = true }
}

// WithPriority sets the priority TiKV schedules the reads with
// (Context.priority).
func WithPriority(p kvrpcpb.CommandPri) SnapshotOption {
	return func(c *snapshotConfig) { c.priority = p }
}

// WithRequestSource labels the reads for TiKV's metrics and resource
// control (Context.request_source).
func WithRequestSource(source string) SnapshotOption {
	return func(c *snapshotConfig) { c.source = source }
}

// WithResourceGroupTag tags the reads for TiKV's resource metering
// (Context.resource_group_tag).
func WithResourceGroupTag(tag []byte) SnapshotOption {
	return func(c *snapshotConfig) { c.groupTag = tag }
}

// WithKVReadTimeout bounds the first attempt of each region's point read
// (Get, BatchGet) to d (client-go's KVSnapshot.SetKVReadTimeout): the
// attempt waits no longer, and TiKV is told to give up after d; a read
// that times out so goes at once to another replica, with the default
// read timeout. Scans are not affected. d <= 0 means the default.
func WithKVReadTimeout(d time.Duration) SnapshotOption {
	return func(c *snapshotConfig) { c.readTimeout = max(d, 0) }
}

// WithSampleStep makes the snapshot's scans return every step-th key only,
// skipping step-1 keys after each one returned (client-go's
// KVSnapshot.SetSampleStep; TiKV's sample_step, applied within each page
// of a scan). 0 and 1 return every key.
func WithSampleStep(step uint32) SnapshotOption {
	return func(c *snapshotConfig) { c.sampleStep = step }
}

// WithTaskID tags the reads with the id of the task they belong to
// (Context.task_id, client-go's KVSnapshot.SetTaskID), which TiKV uses to
// group a task's requests in its scheduling and logs.
func WithTaskID(id uint64) SnapshotOption {
	return func(c *snapshotConfig) { c.taskID = id }
}

// WithResourceGroupName charges the reads to a resource group
// (Context.resource_control_context.resource_group_name).
func WithResourceGroupName(name string) SnapshotOption {
	return func(c *snapshotConfig) { c.groupName = name }
}

// WithReplicaRead chooses the replicas that serve the reads (default: the
// leader). It is applied as pipeline.ReadOptions on each call's context,
// over any read options the caller's context already carries.
func WithReplicaRead(t kv.ReplicaReadType) SnapshotOption {
	return func(c *snapshotConfig) { c.replicaRead, c.replicaSet = t, true }
}

// WithSafePointChecker makes every read check, after TiKV answered, that
// garbage collection has not passed the snapshot's ts (client-go's
// KVStore.CheckVisibility); a read that fails it returns the checker's
// error, a *kv.TxnAbortedByGCError. Without a checker nothing is checked.
func WithSafePointChecker(c SafePointChecker) SnapshotOption {
	return func(cfg *snapshotConfig) { cfg.safePoint = c }
}

// WithCacheLimit bounds the snapshot's result cache to n bytes of keys
// and values (default DefaultCacheLimit); n <= 0 turns the cache off.
func WithCacheLimit(n int) SnapshotOption {
	return func(c *snapshotConfig) { c.cacheLimit = n }
}

// requestContext is the kvrpcpb.Context template the options describe;
// Retry adds the routing fields to a copy of it for each attempt.
func (c *snapshotConfig) requestContext() *kvrpcpb.Context {
	rc := &kvrpcpb.Context{
		IsolationLevel:   kvrpcpb.IsolationLevel(c.iso),
		NotFillCache:     c.notFillCache,
		Priority:         c.priority,
		RequestSource:    c.source,
		ResourceGroupTag: c.groupTag,
		TaskId:           c.taskID,
	}
	if c.groupName != "" {
		rc.ResourceControlContext = &kvrpcpb.ResourceControlContext{ResourceGroupName: c.groupName}
	}
	return rc
}
