package txn

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// ExecDetails is what TiKV reported about the execution of some RPCs
// (kvrpcpb.ExecDetailsV2), summed: time, scan and write details.
type ExecDetails = twopc.ExecDetails

// TimeDetail is TiKV's account of where RPCs' time went, summed.
type TimeDetail = twopc.TimeDetail

// ScanDetail is TiKV's account of what reads scanned, summed.
type ScanDetail = twopc.ScanDetail

// WriteDetail is TiKV's account of where writes' time went, summed.
type WriteDetail = twopc.WriteDetail

// PoolTaskDetails is TiKV's account of how its read pool scheduled the
// tasks serving some reads (kvrpcpb.PoolTaskDetails), summed.
type PoolTaskDetails = twopc.PoolTaskDetails

// RequestDetail describes one RPC: its round trip, where it went and
// TiKV's exec details of it.
type RequestDetail = twopc.RequestDetail

// SnapshotRuntimeStats collects what a snapshot's reads cost (client-go's
// txnsnapshot.SnapshotRuntimeStats): per command the attempts sent and
// their total round-trip time, per backoff policy the sleeps and their
// total, and the time, scan and read-pool task details TiKV returned
// with its answers.
// Install it with Snapshot.SetRuntimeStats; the reads started afterwards
// record into it. The zero value is ready to use; it is safe for
// concurrent use, and one value may collect for several snapshots.
//
// Attempts are counted as the snapshot's plans send them, retries
// included; the lock resolver's own RPCs are not counted, only the waits
// they cause.
type SnapshotRuntimeStats struct {
	mu       sync.Mutex
	rpcs     map[transport.Cmd]*statCount
	backoffs map[string]*statCount
	resolve  statCount // lock resolutions the reads waited for
	time     TimeDetail
	scan     ScanDetail
	readPool PoolTaskDetails
}

// statCount is a count and the total time it took.
type statCount struct {
	n     int
	total time.Duration
}

func (s *SnapshotRuntimeStats) recordRPC(cmd transport.Cmd, d time.Duration, pb *kvrpcpb.ExecDetailsV2) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rpcs == nil {
		s.rpcs = map[transport.Cmd]*statCount{}
	}
	c := s.rpcs[cmd]
	if c == nil {
		c = &statCount{}
		s.rpcs[cmd] = c
	}
	c.n++
	c.total += d
	s.mergeExecLocked(pb)
}

// mergeExec adds exec details that came without an attempt to count.
func (s *SnapshotRuntimeStats) mergeExec(pb *kvrpcpb.ExecDetailsV2) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mergeExecLocked(pb)
}

func (s *SnapshotRuntimeStats) mergeExecLocked(pb *kvrpcpb.ExecDetailsV2) {
	if pb == nil {
		return
	}
	s.time.MergePB(pb.TimeDetailV2, pb.TimeDetail)
	s.scan.MergePB(pb.ScanDetailV2)
	s.readPool.MergePB(pb.ReadPoolTaskDetails)
}

func (s *SnapshotRuntimeStats) recordBackoff(kind string, sleep time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.backoffs == nil {
		s.backoffs = map[string]*statCount{}
	}
	c := s.backoffs[kind]
	if c == nil {
		c = &statCount{}
		s.backoffs[kind] = c
	}
	c.n++
	c.total += sleep
}

// RPCCount returns how many attempts of cmd were sent.
func (s *SnapshotRuntimeStats) RPCCount(cmd transport.Cmd) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.rpcs[cmd]; c != nil {
		return c.n
	}
	return 0
}

// RPCTime returns the total round-trip time of cmd's attempts.
func (s *SnapshotRuntimeStats) RPCTime(cmd transport.Cmd) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.rpcs[cmd]; c != nil {
		return c.total
	}
	return 0
}

// BackoffCount returns how many times the reads slept under the named
// backoff policy ("txnLockFast", "regionMiss", ...).
func (s *SnapshotRuntimeStats) BackoffCount(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.backoffs[kind]; c != nil {
		return c.n
	}
	return 0
}

// BackoffTime returns how long the reads slept under the named policy.
func (s *SnapshotRuntimeStats) BackoffTime(kind string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.backoffs[kind]; c != nil {
		return c.total
	}
	return 0
}

// ResolveLockCount returns how many times a read handed the locks it met
// to the lock resolver.
func (s *SnapshotRuntimeStats) ResolveLockCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resolve.n
}

// ResolveLockTime returns how long the reads waited for the lock resolver
// (client-go's ResolveLockDetail.ResolveLockTime), its RPCs included.
func (s *SnapshotRuntimeStats) ResolveLockTime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resolve.total
}

func (s *SnapshotRuntimeStats) recordResolve(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resolve.n++
	s.resolve.total += d
}

// TimeDetail returns the sum of the time details TiKV returned.
func (s *SnapshotRuntimeStats) TimeDetail() TimeDetail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.time
}

// ScanDetail returns the sum of the scan details TiKV returned.
func (s *SnapshotRuntimeStats) ScanDetail() ScanDetail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scan
}

// PoolTaskDetail returns the sum of the read-pool task details TiKV
// returned (client-go's GetReadPoolTaskDetails); empty when the TiKVs
// sent none. It is a copy.
func (s *SnapshotRuntimeStats) PoolTaskDetail() PoolTaskDetails {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readPool
}

// Merge adds o's counts into s (client-go merges the stats of a
// statement's snapshots this way). o must not be s.
func (s *SnapshotRuntimeStats) Merge(o *SnapshotRuntimeStats) {
	o.mu.Lock()
	rpcs, backoffs := cloneCounts(o.rpcs), cloneCounts(o.backoffs)
	t, sc, rp := o.time, o.scan, o.readPool
	o.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rpcs = addCounts(s.rpcs, rpcs)
	s.backoffs = addCounts(s.backoffs, backoffs)
	s.time.Process += t.Process
	s.time.Wait += t.Wait
	s.time.Suspend += t.Suspend
	s.time.KvRead += t.KvRead
	s.time.TotalRPC += t.TotalRPC
	s.scan.ProcessedKeys += sc.ProcessedKeys
	s.scan.ProcessedKeysSize += sc.ProcessedKeysSize
	s.scan.TotalKeys += sc.TotalKeys
	s.scan.GetSnapshot += sc.GetSnapshot
	s.scan.RocksdbDeleteSkipped += sc.RocksdbDeleteSkipped
	s.scan.RocksdbKeySkipped += sc.RocksdbKeySkipped
	s.scan.RocksdbBlockCacheHits += sc.RocksdbBlockCacheHits
	s.scan.RocksdbBlockReads += sc.RocksdbBlockReads
	s.scan.RocksdbReadByte += sc.RocksdbReadByte
	s.scan.RocksdbBlockReadTime += sc.RocksdbBlockReadTime
	s.readPool.Merge(rp)
}

func cloneCounts[K comparable](m map[K]*statCount) map[K]statCount {
	out := make(map[K]statCount, len(m))
	for k, v := range m {
		out[k] = *v
	}
	return out
}

func addCounts[K comparable](dst map[K]*statCount, src map[K]statCount) map[K]*statCount {
	if len(src) > 0 && dst == nil {
		dst = map[K]*statCount{}
	}
	for k, v := range src {
		c := dst[k]
		if c == nil {
			c = &statCount{}
			dst[k] = c
		}
		c.n += v.n
		c.total += v.total
	}
	return dst
}

// String summarises the stats in client-go's shape, commands and
// policies in name order: "KvGet:{num_rpc:4, total_time:2s},
// txnLockFast_backoff:{num:2, total_time:10ms}, time_detail: {...},
// scan_detail: {...}, read_pool:{tasks:1, ...}" (the first parts joined
// by ",", as client-go does). Empty parts are left out.
func (s *SnapshotRuntimeStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	cmds := make([]transport.Cmd, 0, len(s.rpcs))
	for c := range s.rpcs {
		cmds = append(cmds, c)
	}
	slices.SortFunc(cmds, func(a, b transport.Cmd) int { return strings.Compare(a.String(), b.String()) })
	for _, c := range cmds {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		writeCount(&b, c.String()+":{num_rpc:", s.rpcs[c])
	}
	kinds := make([]string, 0, len(s.backoffs))
	for k := range s.backoffs {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		writeCount(&b, k+"_backoff:{num:", s.backoffs[k])
	}
	if s.resolve.n > 0 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		writeCount(&b, "resolve_lock:{num:", &s.resolve)
	}
	var readPool string
	if !s.readPool.Empty() {
		readPool = "read_pool:" + s.readPool.String()
	}
	for _, part := range []string{s.time.String(), s.scan.String(), readPool} {
		if part == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(part)
	}
	return b.String()
}

func writeCount(b *strings.Builder, head string, c *statCount) {
	b.WriteString(head)
	b.WriteString(strconv.Itoa(c.n))
	b.WriteString(", total_time:")
	b.WriteString(twopc.FormatDuration(c.total))
	b.WriteByte('}')
}

// SetRuntimeStats makes the snapshot's reads started from now on record
// what they cost into stats (client-go's KVSnapshot.SetRuntimeStats); nil
// stops recording.
func (s *Snapshot) SetRuntimeStats(stats *SnapshotRuntimeStats) { s.stats.Store(stats) }

// RuntimeStats returns the stats the snapshot records into, or nil.
func (s *Snapshot) RuntimeStats() *SnapshotRuntimeStats { return s.stats.Load() }

// statsSender is the Sender of a snapshot's plans: it times each attempt
// and records it, with the exec details of its answer, into the
// snapshot's runtime stats while some are installed.
type statsSender struct {
	next transport.Sender
	snap *Snapshot
}

func (t statsSender) Send(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	stats := t.snap.stats.Load()
	if stats == nil {
		return t.next.Send(ctx, req)
	}
	start := time.Now()
	resp, err := t.next.Send(ctx, req)
	var pb *kvrpcpb.ExecDetailsV2
	if err == nil && resp != nil {
		if r, ok := resp.Msg.(interface {
			GetExecDetailsV2() *kvrpcpb.ExecDetailsV2
		}); ok {
			pb = r.GetExecDetailsV2()
		}
	}
	stats.recordRPC(req.Cmd, time.Since(start), pb)
	return resp, err
}

// statsResolver is the lock resolver of a snapshot's reads: it times each
// resolution into the snapshot's runtime stats while some are installed.
type statsResolver struct {
	next pipeline.LockResolver
	snap *Snapshot
}

func (r statsResolver) ResolveLocks(ctx context.Context, callerStartTS uint64, locks []*kv.Lock) (pipeline.ResolveResult, error) {
	stats := r.snap.stats.Load()
	if stats == nil {
		return r.next.ResolveLocks(ctx, callerStartTS, locks)
	}
	start := time.Now()
	res, err := r.next.ResolveLocks(ctx, callerStartTS, locks)
	stats.recordResolve(time.Since(start))
	return res, err
}

// statsEnv returns a copy of env whose Sender records into s's runtime
// stats.
func (s *Snapshot) statsEnv(env *pipeline.Env) *pipeline.Env {
	e := *env
	e.Sender = statsSender{next: env.Sender, snap: s}
	return &e
}

// statsContext returns ctx under which the read's backoffs are recorded
// into the snapshot's runtime stats, if any are installed.
func (s *Snapshot) statsContext(ctx context.Context) context.Context {
	stats := s.stats.Load()
	if stats == nil {
		return ctx
	}
	return pipeline.WithBackoffListener(ctx, func(e observe.Event) { stats.recordBackoff(e.Backoff, e.Sleep) })
}
