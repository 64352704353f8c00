package mocktikv

import (
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// fillExecDetails sets the exec_details_v2 of the answers TiKV fills it
// in, with what the mock can measure honestly: took, the time the handler
// ran, is the processing and the RPC's wall time (the mock has no queue,
// so no wait time), and the keys a read returned are its processed keys.
// TiKV's service (src/server/service/kv.rs) sets time_detail and
// time_detail_v2 with the RPC's total wall time; its point reads
// (future_get, future_batch_get) add the read's wall times and the scan
// detail of the versions read; its writes add write_detail from the
// scheduler's tracker. The mock reports no RocksDB counters and no total
// versions: it does not count the versions it skipped.
//
// Reads also carry read_pool_task_details, as a TiKV that runs them in
// its read pool sends: the mock serves a read as one task polled once on
// one dispatch, with no queue or wake wait (it has no pool to queue in),
// took as the task's and the poll's wall time, outside the fair queue.
// It reports no poll CPU time: it cannot measure the thread's CPU.
func fillExecDetails(req, resp transport.Message, took time.Duration) {
	switch r := resp.(type) {
	case *kvrpcpb.GetResponse:
		if r.RegionError != nil {
			return
		}
		var keys, size uint64
		if !r.NotFound && r.Error == nil {
			keys, size = 1, uint64(len(req.(*kvrpcpb.GetRequest).Key)+len(r.Value))
		}
		r.ExecDetailsV2 = readDetails(took, keys, size)
	case *kvrpcpb.BatchGetResponse:
		if r.RegionError != nil {
			return
		}
		var keys, size uint64
		for _, p := range r.Pairs {
			if p.Error == nil {
				keys++
				size += uint64(len(p.Key) + len(p.Value))
			}
		}
		r.ExecDetailsV2 = readDetails(took, keys, size)
	case *kvrpcpb.PrewriteResponse:
		if r.RegionError == nil {
			r.ExecDetailsV2 = writeDetails(took)
		}
	case *kvrpcpb.CommitResponse:
		if r.RegionError == nil {
			r.ExecDetailsV2 = writeDetails(took)
		}
	}
}

func readDetails(took time.Duration, keys, size uint64) *kvrpcpb.ExecDetailsV2 {
	ns := uint64(took.Nanoseconds())
	ms := uint64(took.Milliseconds())
	return &kvrpcpb.ExecDetailsV2{
		TimeDetail:   &kvrpcpb.TimeDetail{ProcessWallTimeMs: ms, KvReadWallTimeMs: ms, TotalRpcWallTimeNs: ns},
		TimeDetailV2: &kvrpcpb.TimeDetailV2{ProcessWallTimeNs: ns, KvReadWallTimeNs: ns, TotalRpcWallTimeNs: ns},
		ScanDetailV2: &kvrpcpb.ScanDetailV2{ProcessedVersions: keys, ProcessedVersionsSize: size},
		ReadPoolTaskDetails: &kvrpcpb.PoolTaskDetails{
			PollCount: 1, DispatchCount: 1, TotalWallNanos: ns,
			PollWallNanos: ns, MaxPollWallNanos: ns, MinPollWallNanos: ns,
		},
	}
}

func writeDetails(took time.Duration) *kvrpcpb.ExecDetailsV2 {
	ns := uint64(took.Nanoseconds())
	return &kvrpcpb.ExecDetailsV2{
		TimeDetail:   &kvrpcpb.TimeDetail{TotalRpcWallTimeNs: ns},
		TimeDetailV2: &kvrpcpb.TimeDetailV2{TotalRpcWallTimeNs: ns},
		WriteDetail:  &kvrpcpb.WriteDetail{ProcessNanos: ns},
	}
}
