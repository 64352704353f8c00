package twopc

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// TimeDetail is TiKV's account of where an RPC's time went
// (kvrpcpb.TimeDetailV2, or the older TimeDetail when a TiKV sends only
// that), summed over the RPCs merged into it (client-go's
// util.TimeDetail).
type TimeDetail struct {
	// Process is the wall time TiKV spent working on the requests, Wait
	// the time they queued, Suspend the time a task yielded.
	Process, Wait, Suspend time.Duration
	// KvRead is the time spent in the KV read itself (Get, BatchGet).
	KvRead time.Duration
	// TotalRPC is TiKV's wall time from receiving the requests to
	// answering them.
	TotalRPC time.Duration
	// KvGrpcProcess and KvGrpcWait are the time TiKV's gRPC layer spent
	// handling the requests and the time they waited for it.
	KvGrpcProcess, KvGrpcWait time.Duration
}

// MergePB adds one response's time detail. TiKV sends both versions; the
// nanosecond one wins (client-go's MergeFromTimeDetail).
func (d *TimeDetail) MergePB(v2 *kvrpcpb.TimeDetailV2, v1 *kvrpcpb.TimeDetail) {
	switch {
	case v2 != nil:
		d.Process += time.Duration(v2.ProcessWallTimeNs)
		d.Wait += time.Duration(v2.WaitWallTimeNs)
		d.Suspend += time.Duration(v2.ProcessSuspendWallTimeNs)
		d.KvRead += time.Duration(v2.KvReadWallTimeNs)
		d.TotalRPC += time.Duration(v2.TotalRpcWallTimeNs)
		d.KvGrpcProcess += time.Duration(v2.KvGrpcProcessTimeNs)
		d.KvGrpcWait += time.Duration(v2.KvGrpcWaitTimeNs)
	case v1 != nil:
		d.Process += time.Duration(v1.ProcessWallTimeMs) * time.Millisecond
		d.Wait += time.Duration(v1.WaitWallTimeMs) * time.Millisecond
		d.KvRead += time.Duration(v1.KvReadWallTimeMs) * time.Millisecond
		d.TotalRPC += time.Duration(v1.TotalRpcWallTimeNs)
	}
}

// String lists the non-zero times in client-go's shape
// ("time_detail: {total_process_time: 100ms, total_wait_time: 100ms}"),
// empty when all are zero.
func (d TimeDetail) String() string {
	var parts []string
	add := func(name string, v time.Duration) {
		if v > 0 {
			parts = append(parts, name+": "+FormatDuration(v))
		}
	}
	add("total_process_time", d.Process)
	add("total_suspend_time", d.Suspend)
	add("total_wait_time", d.Wait)
	add("total_kv_read_wall_time", d.KvRead)
	add("tikv_grpc_process_time", d.KvGrpcProcess)
	add("tikv_grpc_wait_time", d.KvGrpcWait)
	add("tikv_wall_time", d.TotalRPC)
	if len(parts) == 0 {
		return ""
	}
	return "time_detail: {" + strings.Join(parts, ", ") + "}"
}

// ScanDetail is TiKV's account of what reads scanned
// (kvrpcpb.ScanDetailV2), summed over the RPCs merged into it
// (client-go's util.ScanDetail).
type ScanDetail struct {
	// ProcessedKeys counts the user keys read, ProcessedKeysSize their key
	// and value bytes; TotalKeys the MVCC versions met, deleted ones
	// included.
	ProcessedKeys, ProcessedKeysSize, TotalKeys int64
	// GetSnapshot is the time spent taking the engine snapshot.
	GetSnapshot time.Duration
	// The RocksDB counters: tombstones and internal keys skipped, block
	// cache hits, block reads with IO and their bytes and time.
	RocksdbDeleteSkipped, RocksdbKeySkipped                   uint64
	RocksdbBlockCacheHits, RocksdbBlockReads, RocksdbReadByte uint64
	RocksdbBlockReadTime                                      time.Duration
	// The IA (in-memory engine / remote segment) counters of a TiKV that
	// reads from remote storage: cache hits, and the remote segment reads
	// with their bytes and wait time. Zero on a classic TiKV.
	IACacheHits, IARemoteSegmentReads, IARemoteSegmentBytes uint64
	IARemoteSegmentWait                                     time.Duration
}

// MergePB adds one response's scan detail.
func (d *ScanDetail) MergePB(pb *kvrpcpb.ScanDetailV2) {
	if pb == nil {
		return
	}
	d.ProcessedKeys += int64(pb.ProcessedVersions)
	d.ProcessedKeysSize += int64(pb.ProcessedVersionsSize)
	d.TotalKeys += int64(pb.TotalVersions)
	d.GetSnapshot += time.Duration(pb.GetSnapshotNanos)
	d.RocksdbDeleteSkipped += pb.RocksdbDeleteSkippedCount
	d.RocksdbKeySkipped += pb.RocksdbKeySkippedCount
	d.RocksdbBlockCacheHits += pb.RocksdbBlockCacheHitCount
	d.RocksdbBlockReads += pb.RocksdbBlockReadCount
	d.RocksdbReadByte += pb.RocksdbBlockReadByte
	d.RocksdbBlockReadTime += time.Duration(pb.RocksdbBlockReadNanos)
	d.IACacheHits += pb.IaCacheHitCount
	d.IARemoteSegmentReads += pb.IaRemoteReadSegmentCount
	d.IARemoteSegmentBytes += pb.IaRemoteReadSegmentBytes
	d.IARemoteSegmentWait += time.Duration(pb.IaRemoteReadSegmentNanos)
}

// String lists the non-zero counters in client-go's shape ("scan_detail:
// {total_process_keys: 10, ..., rocksdb: {..., block: {...}}}"), empty
// when all are zero.
func (d ScanDetail) String() string {
	if d == (ScanDetail{}) {
		return ""
	}
	var top, ia, rocks, block []string
	num := func(to *[]string, name string, v int64) {
		if v > 0 {
			*to = append(*to, name+": "+strconv.FormatInt(v, 10))
		}
	}
	num(&top, "total_process_keys", d.ProcessedKeys)
	num(&top, "total_process_keys_size", d.ProcessedKeysSize)
	num(&top, "total_keys", d.TotalKeys)
	if d.GetSnapshot > 0 {
		top = append(top, "get_snapshot_time: "+FormatDuration(d.GetSnapshot))
	}
	num(&ia, "cache_hit_count", int64(d.IACacheHits))
	num(&ia, "remote_read_segment_count", int64(d.IARemoteSegmentReads))
	if d.IARemoteSegmentBytes > 0 {
		ia = append(ia, "remote_read_segment_bytes: "+formatBytes(d.IARemoteSegmentBytes))
	}
	if d.IARemoteSegmentWait > 0 {
		ia = append(ia, "remote_read_segment_wait_time: "+FormatDuration(d.IARemoteSegmentWait))
	}
	if len(ia) > 0 {
		top = append(top, "ia: {"+strings.Join(ia, ", ")+"}")
	}
	num(&rocks, "delete_skipped_count", int64(d.RocksdbDeleteSkipped))
	num(&rocks, "key_skipped_count", int64(d.RocksdbKeySkipped))
	num(&block, "cache_hit_count", int64(d.RocksdbBlockCacheHits))
	num(&block, "read_count", int64(d.RocksdbBlockReads))
	if d.RocksdbReadByte > 0 {
		block = append(block, "read_byte: "+formatBytes(d.RocksdbReadByte))
	}
	if d.RocksdbBlockReadTime > 0 {
		block = append(block, "read_time: "+FormatDuration(d.RocksdbBlockReadTime))
	}
	rocks = append(rocks, "block: {"+strings.Join(block, ", ")+"}")
	top = append(top, "rocksdb: {"+strings.Join(rocks, ", ")+"}")
	return "scan_detail: {" + strings.Join(top, ", ") + "}"
}

// WriteDetail is TiKV's account of where a write's time went
// (kvrpcpb.WriteDetail), summed over the RPCs merged into it (client-go's
// util.WriteDetail): the scheduler, the raft log and the apply.
type WriteDetail struct {
	// The scheduler: latch wait, processing, flow-control throttling and
	// pessimistic lock wait.
	SchedulerLatchWait, SchedulerProcess, SchedulerThrottle, PessimisticLockWait time.Duration
	// The raft log: the store loop's batch wait, the wait before the
	// proposal is sent, persisting it and waiting for the peers to commit
	// it.
	StoreBatchWait, ProposeSendWait, PersistLog, CommitLog time.Duration
	// Within persisting the log: the wait for the raft db's write leader,
	// its log sync and its memtable write.
	RaftDBWriteLeaderWait, RaftDBSyncLog, RaftDBWriteMemtable time.Duration
	// The apply: its batch wait and applying the log; within applying,
	// the apply mutex, the wait for the KV db's write leader, and its WAL
	// and memtable writes.
	ApplyBatchWait, ApplyLog                                                time.Duration
	ApplyMutexLock, ApplyWriteLeaderWait, ApplyWriteWAL, ApplyWriteMemtable time.Duration
}

// MergePB adds one response's write detail.
func (d *WriteDetail) MergePB(pb *kvrpcpb.WriteDetail) {
	if pb == nil {
		return
	}
	d.SchedulerLatchWait += time.Duration(pb.LatchWaitNanos)
	d.SchedulerProcess += time.Duration(pb.ProcessNanos)
	d.SchedulerThrottle += time.Duration(pb.ThrottleNanos)
	d.PessimisticLockWait += time.Duration(pb.PessimisticLockWaitNanos)
	d.StoreBatchWait += time.Duration(pb.StoreBatchWaitNanos)
	d.ProposeSendWait += time.Duration(pb.ProposeSendWaitNanos)
	d.PersistLog += time.Duration(pb.PersistLogNanos)
	d.CommitLog += time.Duration(pb.CommitLogNanos)
	d.ApplyBatchWait += time.Duration(pb.ApplyBatchWaitNanos)
	d.ApplyLog += time.Duration(pb.ApplyLogNanos)
	d.RaftDBWriteLeaderWait += time.Duration(pb.RaftDbWriteLeaderWaitNanos)
	d.RaftDBSyncLog += time.Duration(pb.RaftDbSyncLogNanos)
	d.RaftDBWriteMemtable += time.Duration(pb.RaftDbWriteMemtableNanos)
	d.ApplyMutexLock += time.Duration(pb.ApplyMutexLockNanos)
	d.ApplyWriteLeaderWait += time.Duration(pb.ApplyWriteLeaderWaitNanos)
	d.ApplyWriteWAL += time.Duration(pb.ApplyWriteWalNanos)
	d.ApplyWriteMemtable += time.Duration(pb.ApplyWriteMemtableNanos)
}

// ExecDetails is what TiKV reported about the execution of the RPCs
// merged into it (kvrpcpb.ExecDetailsV2): time, scan and write details,
// and for reads how TiKV's read pool scheduled them.
type ExecDetails struct {
	Time  TimeDetail
	Scan  ScanDetail
	Write WriteDetail
	// ReadPool is read_pool_task_details: sent by TiKVs that serve the
	// read from the read pool, empty otherwise (writes, older TiKVs).
	ReadPool PoolTaskDetails
}

// MergePB adds one response's exec details; nil adds nothing.
func (d *ExecDetails) MergePB(pb *kvrpcpb.ExecDetailsV2) {
	if pb == nil {
		return
	}
	d.Time.MergePB(pb.TimeDetailV2, pb.TimeDetail)
	d.Scan.MergePB(pb.ScanDetailV2)
	d.Write.MergePB(pb.WriteDetail)
	d.ReadPool.MergePB(pb.ReadPoolTaskDetails)
}

// RequestDetail describes one RPC (client-go's util.ReqDetailInfo): how
// long it took as the client saw it, where it went and what TiKV reported.
type RequestDetail struct {
	// Duration is the attempt's round trip, from send to answer.
	Duration time.Duration
	// RegionID, StoreID and StoreAddr say where it went.
	RegionID, StoreID uint64
	StoreAddr         string
	// Exec is TiKV's exec details of the answer.
	Exec ExecDetails
}

// FormatDuration prints d rounded for people: two decimals of its unit
// below ten units, one above ("9.41ms", "10.4ms", "6s"); at or below 1µs
// d as it is (client-go's util.FormatDuration rule).
func FormatDuration(d time.Duration) string {
	if d <= time.Microsecond {
		return d.String()
	}
	unit := time.Microsecond
	switch {
	case d >= time.Second:
		unit = time.Second
	case d >= time.Millisecond:
		unit = time.Millisecond
	}
	whole := d / unit * unit
	frac := float64(d%unit) / float64(unit)
	if d < 10*unit {
		frac = math.Round(frac*100) / 100
	} else {
		frac = math.Round(frac*10) / 10
	}
	return (whole + time.Duration(frac*float64(unit))).String()
}

// formatBytes prints n bytes with a binary unit ("15 Bytes", "1.5 KB").
func formatBytes(n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " Bytes"
	}
	units := []string{"KB", "MB", "GB", "TB"}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) + " " + units[i]
}
