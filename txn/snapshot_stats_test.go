package txn_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestSnapshotRuntimeStatsReads: a snapshot's installed runtime stats
// count its attempts per command, merge the exec details mocktikv returns
// (its measured wall times; the keys it read as processed keys, their
// bytes as their size), and record the waits on a live lock under
// txnLockFast; after SetRuntimeStats(nil) nothing more is recorded. In
// process and over gRPC alike.
func TestSnapshotRuntimeStatsReads(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(t *testing.T) {
			p := newPortCluster(t, grpc, nil)
			ctx := context.Background()
			p.commit("a", "1", "b", "22", "c", "333")
			snap := p.client.Snapshot(p.now())
			stats := &txn.SnapshotRuntimeStats{}
			snap.SetRuntimeStats(stats)
			if snap.RuntimeStats() != stats {
				t.Fatal("RuntimeStats does not return the installed stats")
			}
			if _, err := snap.Get(ctx, []byte("a")); err != nil {
				t.Fatal(err)
			}
			if _, err := snap.BatchGet(ctx, [][]byte{[]byte("b"), []byte("c")}); err != nil {
				t.Fatal(err)
			}
			if g, b := stats.RPCCount(transport.CmdGet), stats.RPCCount(transport.CmdBatchGet); g != 1 || b != 1 {
				t.Fatalf("rpcs: %d KvGet, %d KvBatchGet; want 1 each", g, b)
			}
			if stats.RPCTime(transport.CmdGet) <= 0 {
				t.Fatal("no KvGet time recorded")
			}
			sd := stats.ScanDetail()
			if sd.ProcessedKeys != 3 || sd.ProcessedKeysSize != 3+1+2+3 {
				t.Fatalf("scan detail %+v, want 3 keys of 9 bytes", sd)
			}
			if td := stats.TimeDetail(); td.TotalRPC <= 0 || td.Process <= 0 {
				t.Fatalf("time detail %+v, want TiKV's wall times", td)
			}
			s := stats.String()
			if !strings.HasPrefix(s, "KvBatchGet:{num_rpc:1, total_time:") || !strings.Contains(s, ",KvGet:{num_rpc:1, total_time:") ||
				!strings.Contains(s, "scan_detail: {total_process_keys: 3, total_process_keys_size: 9, rocksdb: {block: {}}}") {
				t.Fatalf("String() = %s", s)
			}

			// A live lock: the read waits under txnLockFast until it expires.
			p.lock(100*time.Millisecond, "d", "4")
			locked := p.client.Snapshot(p.now())
			lockStats := &txn.SnapshotRuntimeStats{}
			locked.SetRuntimeStats(lockStats)
			if _, err := locked.Get(ctx, []byte("d")); !errors.Is(err, kv.ErrNotFound) {
				t.Fatalf("get of the expired lock's key: %v", err)
			}
			if n, d := lockStats.BackoffCount("txnLockFast"), lockStats.BackoffTime("txnLockFast"); n == 0 || d <= 0 {
				t.Fatalf("txnLockFast backoffs %d over %v, want some", n, d)
			}
			if n := lockStats.RPCCount(transport.CmdGet); n < 2 {
				t.Fatalf("%d KvGet attempts, want the locked one and the one after", n)
			}
			if !strings.Contains(lockStats.String(), "txnLockFast_backoff:{num:") || !strings.Contains(lockStats.String(), "resolve_lock:{num:") {
				t.Fatalf("String() = %s", lockStats.String())
			}
			// The read handed the lock to the resolver at least once and
			// waited for it (client-go's ResolveLockDetail).
			if n, d := lockStats.ResolveLockCount(), lockStats.ResolveLockTime(); n == 0 || d <= 0 {
				t.Fatalf("resolve-lock %d over %v, want some", n, d)
			}
			if n := stats.ResolveLockCount(); n != 0 {
				t.Fatalf("reads that met no lock resolved %d times", n)
			}

			snap.SetRuntimeStats(nil)
			if _, err := snap.Get(ctx, []byte("b")); err != nil {
				t.Fatal(err)
			}
			if _, err := snap.Get(ctx, []byte("zz")); !errors.Is(err, kv.ErrNotFound) {
				t.Fatal(err)
			}
			if n := stats.RPCCount(transport.CmdGet); n != 1 {
				t.Fatalf("%d KvGet recorded after the stats were removed", n)
			}
		})
	}
}

// TestSnapshotRuntimeStatsReadPool: the read-pool task details mocktikv
// returns with its reads (one task per read, polled once on one dispatch,
// its handler's time as the task's and the poll's wall time) reach the
// snapshot's runtime stats, summed per read, and its String as
// "read_pool:{...}". In process and over gRPC alike, so the field
// survives the wire.
func TestSnapshotRuntimeStatsReadPool(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(t *testing.T) {
			p := newPortCluster(t, grpc, nil)
			ctx := context.Background()
			p.commit("a", "1", "b", "22")
			snap := p.client.Snapshot(p.now())
			stats := &txn.SnapshotRuntimeStats{}
			snap.SetRuntimeStats(stats)
			if rp := stats.PoolTaskDetail(); !rp.Empty() {
				t.Fatalf("read pool before any read: %+v", rp)
			}
			if _, err := snap.Get(ctx, []byte("a")); err != nil {
				t.Fatal(err)
			}
			if _, err := snap.BatchGet(ctx, [][]byte{[]byte("a"), []byte("b")}); err != nil {
				t.Fatal(err)
			}
			rp := stats.PoolTaskDetail()
			if rp.Tasks != 2 || rp.Polls != 2 || rp.MinPolls != 1 || rp.Dispatches != 2 || rp.MaxDispatches != 1 {
				t.Fatalf("read pool %+v, want 2 tasks of one poll and one dispatch each", rp)
			}
			if rp.TaskWall <= 0 || rp.TaskWallSamples != 2 || rp.MinTaskWall <= 0 || rp.MaxTaskWall < rp.MinTaskWall {
				t.Fatalf("read pool wall times %+v, want the two reads' measured times", rp)
			}
			if rp.PollWall != rp.TaskWall || rp.QueueWait != 0 || rp.FairQueueSamples != 0 {
				t.Fatalf("read pool %+v: want poll wall = task wall, no queue wait, no fair queue", rp)
			}
			s := stats.String()
			if !strings.Contains(s, ", read_pool:{tasks:2, poll_count:{total:2, avg:1, max:1, min:1}, "+
				"dispatch_count:{total:2, max:1, min:1}, task_wall_time:{total:") ||
				!strings.HasSuffix(s, "}}") {
				t.Fatalf("String() = %s", s)
			}
		})
	}
}

// TestCommitDetailsExec: a commit's details carry the exec details TiKV
// (mocktikv, with its measured times) returned with the prewrite and the
// primary's commit, the slowest attempt of each with where it went, and
// the prewrite batch's backoff (client-go's SlowestPrewrite,
// CommitPrimary and the max prewrite backoff).
func TestCommitDetailsExec(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(t *testing.T) {
			p := newPortCluster(t, grpc, nil)
			p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Steps: []mocktikv.Step{mocktikv.Times(2, notSynced)}})
			d := p.commit("k", "v", "l", "w").CommitDetails()
			if d.PrewriteExec.Time.TotalRPC <= 0 || d.PrewriteExec.Write.SchedulerProcess <= 0 {
				t.Fatalf("prewrite exec %+v, want TiKV's times", d.PrewriteExec)
			}
			if d.CommitExec.Time.TotalRPC <= 0 || d.CommitExec.Write.SchedulerProcess <= 0 {
				t.Fatalf("commit exec %+v, want TiKV's times", d.CommitExec)
			}
			for name, r := range map[string]txn.RequestDetail{"slowest prewrite": d.SlowestPrewrite, "commit primary": d.CommitPrimaryRequest} {
				if r.Duration <= 0 || r.RegionID == 0 || r.StoreID == 0 || r.StoreAddr == "" || r.Exec.Time.TotalRPC <= 0 {
					t.Fatalf("%s: %+v", name, r)
				}
			}
			// Region errors carry no exec details: only the answered
			// prewrite's are merged.
			if d.PrewriteRPCs != 3 || d.SlowestPrewrite.Exec.Time.TotalRPC != d.PrewriteExec.Time.TotalRPC {
				t.Fatalf("%d prewrites; slowest %v of total %v", d.PrewriteRPCs, d.SlowestPrewrite.Exec.Time.TotalRPC, d.PrewriteExec.Time.TotalRPC)
			}
			if d.PrewriteBackoff < 6*time.Millisecond || !slices.Equal(d.PrewriteBackoffKinds, []string{"maxTsNotSynced", "maxTsNotSynced"}) {
				t.Fatalf("prewrite backoff %v %v, want 2ms+4ms under maxTsNotSynced", d.PrewriteBackoff, d.PrewriteBackoffKinds)
			}
			if d.CommitBackoff != 0 || len(d.CommitBackoffKinds) != 0 {
				t.Fatalf("commit backoff %v %v, want none", d.CommitBackoff, d.CommitBackoffKinds)
			}
		})
	}
}
