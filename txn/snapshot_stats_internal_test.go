package txn

import (
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// TestSnapshotRuntimeStats ports client-go's TestSnapshotRuntimeStats
// (integration_tests/snapshot_test.go): attempts and backoffs recorded
// twice add up, TiKV's exec details merge field by field, and String
// prints them in client-go's shape (our command names: KvGet), the
// read-pool task details last as "read_pool:{...}". The resolve-lock time
// part of client-go's string is not collected here.
func TestSnapshotRuntimeStats(t *testing.T) {
	var stats SnapshotRuntimeStats
	for range 2 {
		stats.recordRPC(transport.CmdGet, time.Second, nil)
		stats.recordRPC(transport.CmdGet, time.Millisecond, nil)
	}
	for range 2 {
		stats.recordBackoff("txnLockFast", 5*time.Millisecond)
	}
	want := "KvGet:{num_rpc:4, total_time:2s},txnLockFast_backoff:{num:2, total_time:10ms}"
	if got := stats.String(); got != want {
		t.Fatalf("String() =\n%s\nwant\n%s", got, want)
	}
	if n := stats.RPCCount(transport.CmdGet); n != 4 {
		t.Fatalf("RPCCount(KvGet) = %d, want 4", n)
	}
	if d := stats.RPCTime(transport.CmdGet); d != 2002*time.Millisecond {
		t.Fatalf("RPCTime(KvGet) = %v", d)
	}
	if n, d := stats.BackoffCount("txnLockFast"), stats.BackoffTime("txnLockFast"); n != 2 || d != 10*time.Millisecond {
		t.Fatalf("txnLockFast backoffs %d over %v", n, d)
	}

	detail := &kvrpcpb.ExecDetailsV2{
		TimeDetail: &kvrpcpb.TimeDetail{WaitWallTimeMs: 100, ProcessWallTimeMs: 100},
		ScanDetailV2: &kvrpcpb.ScanDetailV2{
			ProcessedVersions: 10, ProcessedVersionsSize: 10, TotalVersions: 15, GetSnapshotNanos: 500,
			RocksdbBlockReadCount: 20, RocksdbBlockReadByte: 15, RocksdbDeleteSkippedCount: 5,
			RocksdbKeySkippedCount: 1, RocksdbBlockCacheHitCount: 10,
		},
	}
	stats.mergeExec(detail)
	want = "KvGet:{num_rpc:4, total_time:2s},txnLockFast_backoff:{num:2, total_time:10ms}, " +
		"time_detail: {total_process_time: 100ms, total_wait_time: 100ms}, " +
		"scan_detail: {total_process_keys: 10, total_process_keys_size: 10, total_keys: 15, get_snapshot_time: 500ns, " +
		"rocksdb: {delete_skipped_count: 5, key_skipped_count: 1, block: {cache_hit_count: 10, read_count: 20, read_byte: 15 Bytes}}}"
	if got := stats.String(); got != want {
		t.Fatalf("after one detail, String() =\n%s\nwant\n%s", got, want)
	}
	stats.mergeExec(detail)
	want = "KvGet:{num_rpc:4, total_time:2s},txnLockFast_backoff:{num:2, total_time:10ms}, " +
		"time_detail: {total_process_time: 200ms, total_wait_time: 200ms}, " +
		"scan_detail: {total_process_keys: 20, total_process_keys_size: 20, total_keys: 30, get_snapshot_time: 1µs, " +
		"rocksdb: {delete_skipped_count: 10, key_skipped_count: 2, block: {cache_hit_count: 20, read_count: 40, read_byte: 30 Bytes}}}"
	if got := stats.String(); got != want {
		t.Fatalf("after two details, String() =\n%s\nwant\n%s", got, want)
	}

	// A response with only read-pool task details adds the read_pool part.
	stats.mergeExec(&kvrpcpb.ExecDetailsV2{ReadPoolTaskDetails: &kvrpcpb.PoolTaskDetails{PollCount: 2, DispatchCount: 1}})
	want += ", read_pool:{tasks:1, poll_count:{total:2, avg:2, max:2, min:2}, " +
		"dispatch_count:{total:1, max:1, min:1}, " +
		"fair_queue:{enabled:false, waited_task_slices:{total:0, max:0, min:0}}}"
	if got := stats.String(); got != want {
		t.Fatalf("after the read-pool detail, String() =\n%s\nwant\n%s", got, want)
	}
	if rp := stats.PoolTaskDetail(); rp.Tasks != 1 || rp.Polls != 2 || rp.Dispatches != 1 {
		t.Fatalf("PoolTaskDetail() = %+v", rp)
	}

	// Merge adds another collector's counts (a statement's snapshots).
	var sum SnapshotRuntimeStats
	sum.Merge(&stats)
	sum.Merge(&stats)
	if n, p := sum.RPCCount(transport.CmdGet), sum.ScanDetail().ProcessedKeys; n != 8 || p != 40 {
		t.Fatalf("merged twice: %d KvGet, %d processed keys; want 8, 40", n, p)
	}
	if rp := sum.PoolTaskDetail(); rp.Tasks != 2 || rp.Polls != 4 || rp.MinPolls != 2 {
		t.Fatalf("merged twice: read pool %+v, want 2 tasks of 2 polls", rp)
	}
}

// TestFormatDuration: the rounding rule of the stats' durations
// (client-go's util.FormatDuration cases).
func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Microsecond:             "1µs",
		500 * time.Nanosecond:        "500ns",
		9412345 * time.Nanosecond:    "9.41ms",
		10412345 * time.Nanosecond:   "10.4ms",
		5999 * time.Millisecond:      "6s",
		100450 * time.Nanosecond:     "100.5µs",
		2002 * time.Millisecond:      "2s",
		1234567890 * time.Nanosecond: "1.23s",
	} {
		if got := formatDurationForTest(d); got != want {
			t.Errorf("FormatDuration(%d) = %s, want %s", d, got, want)
		}
	}
}

var formatDurationForTest = twopc.FormatDuration
