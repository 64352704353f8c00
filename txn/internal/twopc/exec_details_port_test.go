package twopc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// Merging two responses' time details sums every field, the gRPC times
// included; merging nothing changes nothing.
//
// ports client-go's TestTimeDetailMerge and TestTimeDetailMergeNil
// (util/execdetails_test.go): our details are merged from the responses,
// so the second struct of its Merge is a second response here.
func TestTimeDetailMergePB(t *testing.T) {
	ms := func(n int) uint64 { return uint64(time.Duration(n) * time.Millisecond) }
	var d twopc.TimeDetail
	d.MergePB(&kvrpcpb.TimeDetailV2{
		ProcessWallTimeNs: ms(10), ProcessSuspendWallTimeNs: ms(2), WaitWallTimeNs: ms(5),
		KvReadWallTimeNs: ms(3), KvGrpcProcessTimeNs: ms(1), KvGrpcWaitTimeNs: ms(4), TotalRpcWallTimeNs: ms(20),
	}, nil)
	d.MergePB(&kvrpcpb.TimeDetailV2{
		ProcessWallTimeNs: ms(15), ProcessSuspendWallTimeNs: ms(3), WaitWallTimeNs: ms(7),
		KvReadWallTimeNs: ms(4), KvGrpcProcessTimeNs: ms(2), KvGrpcWaitTimeNs: ms(5), TotalRpcWallTimeNs: ms(30),
	}, nil)
	want := twopc.TimeDetail{
		Process: 25 * time.Millisecond, Suspend: 5 * time.Millisecond, Wait: 12 * time.Millisecond,
		KvRead: 7 * time.Millisecond, KvGrpcProcess: 3 * time.Millisecond, KvGrpcWait: 9 * time.Millisecond,
		TotalRPC: 50 * time.Millisecond,
	}
	if d != want {
		t.Fatalf("merged %+v, want %+v", d, want)
	}
	for _, s := range []string{"tikv_grpc_process_time: 3ms", "tikv_grpc_wait_time: 9ms", "tikv_wall_time: 50ms"} {
		if !strings.Contains(d.String(), s) {
			t.Errorf("%q lacks %q", d.String(), s)
		}
	}
	d.MergePB(nil, nil)
	if d != want {
		t.Fatalf("after merging nothing: %+v", d)
	}
}

// Merging two responses' scan details sums the keys, the snapshot time and
// every RocksDB counter.
//
// ports client-go's TestScanDetailMerge (util/execdetails_test.go)
func TestScanDetailMergePB(t *testing.T) {
	ms := func(n int) uint64 { return uint64(time.Duration(n) * time.Millisecond) }
	var d twopc.ScanDetail
	d.MergePB(&kvrpcpb.ScanDetailV2{
		TotalVersions: 100, ProcessedVersions: 50, ProcessedVersionsSize: 1000,
		RocksdbDeleteSkippedCount: 10, RocksdbKeySkippedCount: 20, RocksdbBlockCacheHitCount: 30,
		RocksdbBlockReadCount: 40, RocksdbBlockReadByte: 5000, RocksdbBlockReadNanos: ms(1), GetSnapshotNanos: ms(2),
	})
	d.MergePB(&kvrpcpb.ScanDetailV2{
		TotalVersions: 200, ProcessedVersions: 80, ProcessedVersionsSize: 2000,
		RocksdbDeleteSkippedCount: 15, RocksdbKeySkippedCount: 25, RocksdbBlockCacheHitCount: 35,
		RocksdbBlockReadCount: 45, RocksdbBlockReadByte: 6000, RocksdbBlockReadNanos: ms(3), GetSnapshotNanos: ms(4),
	})
	want := twopc.ScanDetail{
		TotalKeys: 300, ProcessedKeys: 130, ProcessedKeysSize: 3000,
		RocksdbDeleteSkipped: 25, RocksdbKeySkipped: 45, RocksdbBlockCacheHits: 65,
		RocksdbBlockReads: 85, RocksdbReadByte: 11000, RocksdbBlockReadTime: 4 * time.Millisecond,
		GetSnapshot: 6 * time.Millisecond,
	}
	if d != want {
		t.Fatalf("merged %+v, want %+v", d, want)
	}
}

// The IA counters of a scan detail are read from the response, summed
// over responses, and printed in their own "ia" group before RocksDB's.
//
// ports client-go's TestScanDetailMergeFromScanDetailV2IncludesIAFields
// and TestScanDetailMergeIncludesIAFields (util/execdetails_test.go)
func TestScanDetailIAFields(t *testing.T) {
	us := func(n int) uint64 { return uint64(time.Duration(n) * time.Microsecond) }
	var d twopc.ScanDetail
	d.MergePB(&kvrpcpb.ScanDetailV2{
		ProcessedVersions: 10, ProcessedVersionsSize: 20, TotalVersions: 30,
		RocksdbDeleteSkippedCount: 4, RocksdbKeySkippedCount: 5, RocksdbBlockCacheHitCount: 6,
		RocksdbBlockReadCount: 7, RocksdbBlockReadByte: 8, RocksdbBlockReadNanos: us(9), GetSnapshotNanos: us(7),
		IaCacheHitCount: 2, IaRemoteReadSegmentCount: 3, IaRemoteReadSegmentBytes: 128, IaRemoteReadSegmentNanos: us(5),
	})
	if d.IACacheHits != 2 || d.IARemoteSegmentReads != 3 || d.IARemoteSegmentBytes != 128 || d.IARemoteSegmentWait != 5*time.Microsecond {
		t.Fatalf("IA fields %+v", d)
	}
	s := d.String()
	for _, part := range []string{
		"total_process_keys: 10", "total_process_keys_size: 20", "total_keys: 30", "get_snapshot_time",
		"ia: {cache_hit_count: 2, remote_read_segment_count: 3, remote_read_segment_bytes: 128 Bytes, remote_read_segment_wait_time: 5µs}",
		"rocksdb: {delete_skipped_count: 4, key_skipped_count: 5, block: {cache_hit_count: 6, read_count: 7, read_byte: 8 Bytes, read_time",
	} {
		if !strings.Contains(s, part) {
			t.Errorf("%q lacks %q", s, part)
		}
	}
	if strings.Index(s, "ia: {") > strings.Index(s, "rocksdb: {") {
		t.Errorf("%q: the ia group comes after rocksdb's", s)
	}

	var sum twopc.ScanDetail
	sum.MergePB(&kvrpcpb.ScanDetailV2{IaCacheHitCount: 1, IaRemoteReadSegmentCount: 2, IaRemoteReadSegmentBytes: 64, IaRemoteReadSegmentNanos: us(3)})
	sum.MergePB(&kvrpcpb.ScanDetailV2{IaCacheHitCount: 4, IaRemoteReadSegmentCount: 5, IaRemoteReadSegmentBytes: 256, IaRemoteReadSegmentNanos: us(7)})
	if sum.IACacheHits != 5 || sum.IARemoteSegmentReads != 7 || sum.IARemoteSegmentBytes != 320 || sum.IARemoteSegmentWait != 10*time.Microsecond {
		t.Fatalf("summed IA fields %+v", sum)
	}
	if strings.Contains(twopc.ScanDetail{ProcessedKeys: 1}.String(), "ia:") {
		t.Error("an ia group printed without IA counters")
	}
}

// Merging two responses' write details sums every stage: scheduler, raft
// log (raft db included) and apply (its mutex and KV db writes included).
//
// ports client-go's TestWriteDetailMerge (util/execdetails_test.go)
func TestWriteDetailMergePB(t *testing.T) {
	ms := func(n int) uint64 { return uint64(time.Duration(n) * time.Millisecond) }
	pb := &kvrpcpb.WriteDetail{
		StoreBatchWaitNanos: ms(1), ProposeSendWaitNanos: ms(2), PersistLogNanos: ms(3),
		RaftDbWriteLeaderWaitNanos: ms(4), RaftDbSyncLogNanos: ms(5), RaftDbWriteMemtableNanos: ms(6),
		CommitLogNanos: ms(7), ApplyBatchWaitNanos: ms(8), ApplyLogNanos: ms(9), ApplyMutexLockNanos: ms(10),
		ApplyWriteLeaderWaitNanos: ms(11), ApplyWriteWalNanos: ms(12), ApplyWriteMemtableNanos: ms(13),
		LatchWaitNanos: ms(14), ProcessNanos: ms(15), ThrottleNanos: ms(16), PessimisticLockWaitNanos: ms(17),
	}
	var d twopc.WriteDetail
	d.MergePB(pb)
	d.MergePB(pb)
	d.MergePB(nil)
	m := func(n int) time.Duration { return time.Duration(2*n) * time.Millisecond }
	want := twopc.WriteDetail{
		StoreBatchWait: m(1), ProposeSendWait: m(2), PersistLog: m(3),
		RaftDBWriteLeaderWait: m(4), RaftDBSyncLog: m(5), RaftDBWriteMemtable: m(6),
		CommitLog: m(7), ApplyBatchWait: m(8), ApplyLog: m(9), ApplyMutexLock: m(10),
		ApplyWriteLeaderWait: m(11), ApplyWriteWAL: m(12), ApplyWriteMemtable: m(13),
		SchedulerLatchWait: m(14), SchedulerProcess: m(15), SchedulerThrottle: m(16), PessimisticLockWait: m(17),
	}
	if d != want {
		t.Fatalf("merged %+v, want %+v", d, want)
	}
}

// TimeDetail prints only its non-zero times, in client-go's order.
//
// ports client-go's TestTimeDetail (util/misc_test.go)
func TestTimeDetailString(t *testing.T) {
	d := twopc.TimeDetail{KvRead: 2 * time.Millisecond, TotalRPC: 3 * time.Millisecond}
	if got, want := d.String(), "time_detail: {total_kv_read_wall_time: 2ms, tikv_wall_time: 3ms}"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	d = twopc.TimeDetail{
		Process: 2 * time.Millisecond, Suspend: 3 * time.Millisecond, Wait: 4 * time.Millisecond,
		KvRead: 5 * time.Millisecond, KvGrpcProcess: 6 * time.Millisecond, KvGrpcWait: 7 * time.Millisecond,
		TotalRPC: 8 * time.Millisecond,
	}
	want := "time_detail: {total_process_time: 2ms, total_suspend_time: 3ms, total_wait_time: 4ms, " +
		"total_kv_read_wall_time: 5ms, tikv_grpc_process_time: 6ms, tikv_grpc_wait_time: 7ms, tikv_wall_time: 8ms}"
	if got := d.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
