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

// nsOf is d in a protobuf's nanosecond field.
func nsOf(d time.Duration) uint64 { return uint64(d.Nanoseconds()) }

// wantString fails t when got is not want, showing both.
func wantString(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("String():\n got %s\nwant %s", got, want)
	}
}

// Every part of a full aggregate is printed with its average over the
// right divisor: polls per task, task wall per sampled task, queue wait
// per dispatch, wake wait per re-dispatch (6 dispatches of 2 tasks: 4),
// waited slices per fair-queue dispatch, poll CPU and wall per poll.
//
// ports client-go's TestPoolTaskDetailsStringUsesAverageTimes
// (util/execdetails_test.go)
func TestPoolTaskDetailsStringUsesAverageTimes(t *testing.T) {
	ms := time.Millisecond
	d := twopc.PoolTaskDetails{
		Tasks: 2, Polls: 8, MaxPolls: 5, MinPolls: 3,
		Dispatches: 6, MaxDispatches: 4, MinDispatches: 2,
		TaskWall: 20 * ms, TaskWallSamples: 2, MaxTaskWall: 12 * ms, MinTaskWall: 8 * ms,
		QueueWait: 12 * ms, MaxQueueWait: 4 * ms, MinQueueWait: ms,
		WakeWait: 8 * ms, MaxWakeWait: 3 * ms, MinWakeWait: ms,
		FairQueueSamples: 6, FairQueueWaitedSlices: 18, MaxFairQueueWaited: 5, MinFairQueueWaited: 2,
		PollCPU: 8 * ms, MaxPollCPU: 2 * ms, MinPollCPU: 500 * time.Microsecond,
		PollWall: 12 * ms, MaxPollWall: 3 * ms, MinPollWall: 750 * time.Microsecond,
	}
	wantString(t, d.String(), "{tasks:2, poll_count:{total:8, avg:4, max:5, min:3}, "+
		"dispatch_count:{total:6, max:4, min:2}, "+
		"task_wall_time:{total:20ms, avg:10ms, max:12ms, min:8ms}, "+
		"queue_wait:{total:12ms, avg:2ms, max:4ms, min:1ms}, "+
		"wake_wait:{total:8ms, avg:2ms, max:3ms, min:1ms}, "+
		"fair_queue:{enabled:true, waited_task_slices:{total:18, avg:3, max:5, min:2}}, "+
		"poll_cpu:{total:8ms, avg:1ms, max:2ms, min:500µs}, "+
		"poll_wall:{total:12ms, avg:1.5ms, max:3ms, min:750µs}}")
}

// Times that sum to zero are left out; the counts and the fair-queue part
// are always printed.
//
// ports client-go's TestPoolTaskDetailsStringOmitsZeroTimes
// (util/execdetails_test.go)
func TestPoolTaskDetailsStringOmitsZeroTimes(t *testing.T) {
	d := twopc.PoolTaskDetails{Tasks: 1, Polls: 2, MaxPolls: 2, MinPolls: 2, Dispatches: 2, MaxDispatches: 2, MinDispatches: 2}
	wantString(t, d.String(), "{tasks:1, poll_count:{total:2, avg:2, max:2, min:2}, "+
		"dispatch_count:{total:2, max:2, min:2}, "+
		"fair_queue:{enabled:false, waited_task_slices:{total:0, max:0, min:0}}}")
}

// A queue wait with no dispatch to divide by is printed without an
// average rather than dividing by zero.
//
// ports client-go's TestPoolTaskDetailsStringOmitsAverageWithNoSamples
// (util/execdetails_test.go)
func TestPoolTaskDetailsStringOmitsAverageWithNoSamples(t *testing.T) {
	ms2 := 2 * time.Millisecond
	d := twopc.PoolTaskDetails{Tasks: 1, QueueWait: ms2, MaxQueueWait: ms2, MinQueueWait: ms2}
	wantString(t, d.String(), "{tasks:1, poll_count:{total:0, avg:0, max:0, min:0}, "+
		"dispatch_count:{total:0, max:0, min:0}, "+
		"queue_wait:{total:2ms, max:2ms, min:2ms}, "+
		"fair_queue:{enabled:false, waited_task_slices:{total:0, max:0, min:0}}}")
}

// Merging responses one by one: each is a task; a response with no task
// wall time is no wall-time sample; one outside the fair queue adds
// nothing to it, whatever slice counts it sends. Merging an aggregate
// adds its tasks the same way.
//
// ports client-go's TestPoolTaskDetailsMergeFromPBAndMerge
// (util/execdetails_test.go)
func TestPoolTaskDetailsMergeFromPBAndMerge(t *testing.T) {
	ms, us := time.Millisecond, time.Microsecond
	var d twopc.PoolTaskDetails
	d.MergePB(&kvrpcpb.PoolTaskDetails{
		PollCount: 5, DispatchCount: 3, TotalWallNanos: nsOf(10 * ms),
		TotalQueueWaitNanos: nsOf(6 * ms), MaxQueueWaitNanos: nsOf(3 * ms), MinQueueWaitNanos: nsOf(ms),
		TotalWakeWaitNanos: nsOf(4 * ms), MaxWakeWaitNanos: nsOf(3 * ms), MinWakeWaitNanos: nsOf(ms),
		FairQueueEnabled: true, TotalFairQueueWaitedTaskSlices: 9, MaxFairQueueWaitedTaskSlices: 5, MinFairQueueWaitedTaskSlices: 1,
		PollCpuNanos: nsOf(5 * ms), MaxPollCpuNanos: nsOf(2 * ms), MinPollCpuNanos: nsOf(500 * us),
		PollWallNanos: nsOf(8 * ms), MaxPollWallNanos: nsOf(4 * ms), MinPollWallNanos: nsOf(ms),
	})
	d.MergePB(&kvrpcpb.PoolTaskDetails{
		PollCount: 2, DispatchCount: 1,
		TotalQueueWaitNanos: nsOf(2 * ms), MaxQueueWaitNanos: nsOf(2 * ms), MinQueueWaitNanos: nsOf(2 * ms),
		FairQueueEnabled: false, TotalFairQueueWaitedTaskSlices: 100, MaxFairQueueWaitedTaskSlices: 100, MinFairQueueWaitedTaskSlices: 100,
		PollCpuNanos: nsOf(2 * ms), MaxPollCpuNanos: nsOf(1500 * us), MinPollCpuNanos: nsOf(400 * us),
		PollWallNanos: nsOf(3 * ms), MaxPollWallNanos: nsOf(2 * ms), MinPollWallNanos: nsOf(800 * us),
	})
	want := twopc.PoolTaskDetails{
		Tasks: 2, Polls: 7, MaxPolls: 5, MinPolls: 2,
		Dispatches: 4, MaxDispatches: 3, MinDispatches: 1,
		TaskWall: 10 * ms, TaskWallSamples: 1, MaxTaskWall: 10 * ms, MinTaskWall: 10 * ms,
		QueueWait: 8 * ms, MaxQueueWait: 3 * ms, MinQueueWait: ms,
		WakeWait: 4 * ms, MaxWakeWait: 3 * ms, MinWakeWait: ms,
		FairQueueSamples: 3, FairQueueWaitedSlices: 9, MaxFairQueueWaited: 5, MinFairQueueWaited: 1,
		PollCPU: 7 * ms, MaxPollCPU: 2 * ms, MinPollCPU: 400 * us,
		PollWall: 11 * ms, MaxPollWall: 4 * ms, MinPollWall: 800 * us,
	}
	if d != want {
		t.Fatalf("after two responses\n got %+v\nwant %+v", d, want)
	}

	var other twopc.PoolTaskDetails
	other.MergePB(&kvrpcpb.PoolTaskDetails{
		PollCount: 8, DispatchCount: 4, TotalWallNanos: nsOf(20 * ms),
		TotalQueueWaitNanos: nsOf(12 * ms), MaxQueueWaitNanos: nsOf(5 * ms), MinQueueWaitNanos: nsOf(2 * ms),
		TotalWakeWaitNanos: nsOf(6 * ms), MaxWakeWaitNanos: nsOf(4 * ms), MinWakeWaitNanos: nsOf(2 * ms),
		FairQueueEnabled: true, TotalFairQueueWaitedTaskSlices: 8, MaxFairQueueWaitedTaskSlices: 4, MinFairQueueWaitedTaskSlices: 0,
		PollCpuNanos: nsOf(8 * ms), MaxPollCpuNanos: nsOf(3 * ms), MinPollCpuNanos: nsOf(300 * us),
		PollWallNanos: nsOf(10 * ms), MaxPollWallNanos: nsOf(5 * ms), MinPollWallNanos: nsOf(700 * us),
	})
	d.Merge(other)
	want = twopc.PoolTaskDetails{
		Tasks: 3, Polls: 15, MaxPolls: 8, MinPolls: 2,
		Dispatches: 8, MaxDispatches: 4, MinDispatches: 1,
		TaskWall: 30 * ms, TaskWallSamples: 2, MaxTaskWall: 20 * ms, MinTaskWall: 10 * ms,
		QueueWait: 20 * ms, MaxQueueWait: 5 * ms, MinQueueWait: ms,
		WakeWait: 10 * ms, MaxWakeWait: 4 * ms, MinWakeWait: ms,
		// The fair queue's zero minimum is a real sample and wins.
		FairQueueSamples: 7, FairQueueWaitedSlices: 17, MaxFairQueueWaited: 5, MinFairQueueWaited: 0,
		PollCPU: 15 * ms, MaxPollCPU: 3 * ms, MinPollCPU: 300 * us,
		PollWall: 21 * ms, MaxPollWall: 5 * ms, MinPollWall: 700 * us,
	}
	if d != want {
		t.Fatalf("after merging an aggregate\n got %+v\nwant %+v", d, want)
	}
}

// A minimum counts only once a sample of its kind exists: a response that
// did not wait does not pin the wait minima to zero, while one that did
// wait with a zero minimum keeps it zero. Merging responses in turn and
// merging per-response aggregates agree.
//
// ports client-go's TestPoolTaskDetailsMergeMinimumPresence
// (util/execdetails_test.go)
func TestPoolTaskDetailsMergeMinimumPresence(t *testing.T) {
	ms := time.Millisecond
	both := func(t *testing.T, first, second *kvrpcpb.PoolTaskDetails) twopc.PoolTaskDetails {
		t.Helper()
		var seq, left, right twopc.PoolTaskDetails
		seq.MergePB(first)
		seq.MergePB(second)
		left.MergePB(first)
		right.MergePB(second)
		left.Merge(right)
		if seq != left {
			t.Fatalf("responses in turn %+v, aggregates %+v", seq, left)
		}
		return seq
	}

	t.Run("absent wait samples do not pin minimum to zero", func(t *testing.T) {
		d := both(t,
			&kvrpcpb.PoolTaskDetails{
				PollCount: 2, DispatchCount: 1, TotalWallNanos: nsOf(3 * ms),
				PollCpuNanos: nsOf(ms), MaxPollCpuNanos: nsOf(ms),
				PollWallNanos: nsOf(2 * ms), MaxPollWallNanos: nsOf(2 * ms),
			},
			&kvrpcpb.PoolTaskDetails{
				PollCount: 3, DispatchCount: 2, TotalWallNanos: nsOf(25 * ms),
				TotalQueueWaitNanos: nsOf(10 * ms), MaxQueueWaitNanos: nsOf(7 * ms), MinQueueWaitNanos: nsOf(3 * ms),
				TotalWakeWaitNanos: nsOf(2 * ms), MaxWakeWaitNanos: nsOf(2 * ms), MinWakeWaitNanos: nsOf(2 * ms),
				FairQueueEnabled: true, TotalFairQueueWaitedTaskSlices: 4, MaxFairQueueWaitedTaskSlices: 3, MinFairQueueWaitedTaskSlices: 1,
				PollCpuNanos: nsOf(6 * ms), MaxPollCpuNanos: nsOf(3 * ms), MinPollCpuNanos: nsOf(ms),
				PollWallNanos: nsOf(9 * ms), MaxPollWallNanos: nsOf(4 * ms), MinPollWallNanos: nsOf(2 * ms),
			})
		if d.MinQueueWait != 3*ms || d.MinWakeWait != 2*ms || d.MinFairQueueWaited != 1 {
			t.Fatalf("minima queue %v, wake %v, fair %d; want 3ms, 2ms, 1", d.MinQueueWait, d.MinWakeWait, d.MinFairQueueWaited)
		}
		// The first response was polled, so its zero poll minima are
		// samples, not absences.
		if d.MinPollCPU != 0 || d.MinPollWall != 0 {
			t.Fatalf("poll minima cpu %v, wall %v; want 0", d.MinPollCPU, d.MinPollWall)
		}
	})

	t.Run("recorded zero minimum remains zero", func(t *testing.T) {
		d := both(t,
			&kvrpcpb.PoolTaskDetails{
				PollCount: 3, DispatchCount: 3, TotalWallNanos: nsOf(10 * ms),
				TotalQueueWaitNanos: nsOf(ms), MaxQueueWaitNanos: nsOf(ms),
				TotalWakeWaitNanos: nsOf(ms), MaxWakeWaitNanos: nsOf(ms),
				FairQueueEnabled: true,
				PollCpuNanos:     nsOf(ms), MaxPollCpuNanos: nsOf(ms),
				PollWallNanos: nsOf(ms), MaxPollWallNanos: nsOf(ms),
			},
			&kvrpcpb.PoolTaskDetails{
				PollCount: 2, DispatchCount: 2, TotalWallNanos: nsOf(10 * ms),
				TotalQueueWaitNanos: nsOf(4 * ms), MaxQueueWaitNanos: nsOf(3 * ms), MinQueueWaitNanos: nsOf(ms),
				TotalWakeWaitNanos: nsOf(ms), MaxWakeWaitNanos: nsOf(ms), MinWakeWaitNanos: nsOf(ms),
				FairQueueEnabled: true, TotalFairQueueWaitedTaskSlices: 3, MaxFairQueueWaitedTaskSlices: 2, MinFairQueueWaitedTaskSlices: 1,
				PollCpuNanos: nsOf(2 * ms), MaxPollCpuNanos: nsOf(ms), MinPollCpuNanos: nsOf(ms),
				PollWallNanos: nsOf(2 * ms), MaxPollWallNanos: nsOf(ms), MinPollWallNanos: nsOf(ms),
			})
		if d.MinQueueWait != 0 || d.MinWakeWait != 0 || d.MinFairQueueWaited != 0 || d.MinPollCPU != 0 || d.MinPollWall != 0 {
			t.Fatalf("minima %+v; want the first response's zeros kept", d)
		}
	})
}

// Count averages print at most two decimals with trailing zeros dropped.
//
// ports client-go's TestPoolTaskDetailsStringFormatsFractionalCountAverages
// (util/execdetails_test.go)
func TestPoolTaskDetailsStringFormatsFractionalCountAverages(t *testing.T) {
	d := twopc.PoolTaskDetails{
		Tasks: 3, Polls: 8, MaxPolls: 5, MinPolls: 1,
		Dispatches: 3, MaxDispatches: 1, MinDispatches: 1,
		FairQueueSamples: 3, FairQueueWaitedSlices: 7, MaxFairQueueWaited: 4,
	}
	wantString(t, d.String(), "{tasks:3, poll_count:{total:8, avg:2.67, max:5, min:1}, "+
		"dispatch_count:{total:3, max:1, min:1}, "+
		"fair_queue:{enabled:true, waited_task_slices:{total:7, avg:2.33, max:4, min:0}}}")
}

// Fair-queue dispatches that waited behind no other slice still show the
// queue as enabled, with a zero average.
//
// ports client-go's TestPoolTaskDetailsStringKeepsZeroFairQueueWait
// (util/execdetails_test.go)
func TestPoolTaskDetailsStringKeepsZeroFairQueueWait(t *testing.T) {
	d := twopc.PoolTaskDetails{
		Tasks: 1, Polls: 2, MaxPolls: 2, MinPolls: 2,
		Dispatches: 2, MaxDispatches: 2, MinDispatches: 2, FairQueueSamples: 2,
	}
	wantString(t, d.String(), "{tasks:1, poll_count:{total:2, avg:2, max:2, min:2}, "+
		"dispatch_count:{total:2, max:2, min:2}, "+
		"fair_queue:{enabled:true, waited_task_slices:{total:0, avg:0, max:0, min:0}}}")
}

// The zero value is empty and prints nothing; nil and empty merges leave
// details unchanged; a copy (our Clone: the details are a plain value) is
// independent of the original.
//
// ports client-go's TestPoolTaskDetailsEmptyAndClone
// (util/execdetails_test.go): its nil *PoolTaskDetails is our zero value.
func TestPoolTaskDetailsEmptyAndClone(t *testing.T) {
	var d twopc.PoolTaskDetails
	if !d.Empty() || d.String() != "" {
		t.Fatalf("zero value: Empty %v, String %q", d.Empty(), d.String())
	}
	d.MergePB(nil)
	if !d.Empty() {
		t.Fatal("merging a nil response made the details non-empty")
	}
	d.MergePB(&kvrpcpb.PoolTaskDetails{PollCount: 1, DispatchCount: 1})
	if d.Empty() {
		t.Fatal("a merged response left the details empty")
	}

	clone := d
	clone.Polls++
	if d.Polls == clone.Polls {
		t.Fatal("changing a copy changed the original")
	}

	before := d
	d.Merge(twopc.PoolTaskDetails{})
	d.MergePB(nil)
	if d != before {
		t.Fatalf("empty merges changed the details: %+v, was %+v", d, before)
	}

	// Through ExecDetails: the read-pool part is merged with the rest.
	var e twopc.ExecDetails
	e.MergePB(&kvrpcpb.ExecDetailsV2{ReadPoolTaskDetails: &kvrpcpb.PoolTaskDetails{PollCount: 2, DispatchCount: 1}})
	if e.ReadPool.Tasks != 1 || e.ReadPool.Polls != 2 {
		t.Fatalf("ExecDetails.ReadPool = %+v, want the response's task", e.ReadPool)
	}
}
