package mocktikv

import (
	"fmt"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// TestHeartbeatPiggybackMinCommitTS ports TiKV's
// test_heartbeat_piggyback_min_commit_ts (commands/txn_heart_beat.rs) over
// the three transports, and adds what readers see: a heartbeat raises a
// flushed (pipelined) lock's TTL and min_commit_ts, so that a read below
// the new min_commit_ts passes the lock (check_ts_conflict) while one
// above it meets the lock; a lower min_commit_ts never lowers it; a
// prewritten (generation 0) lock's min_commit_ts is left alone.
func TestHeartbeatPiggybackMinCommitTS(t *testing.T) {
	for _, v := range allVias {
		t.Run(string(v), func(t *testing.T) {
			c := NewCluster()
			if v != viaSender {
				noErr(t, c.Serve())
			}
			t.Cleanup(c.Close)
			ctx := timeout(t)
			store := c.StoreIDs()[0]
			call := func(cmd transport.Cmd, req transport.Message) transport.Message {
				t.Helper()
				return must(callVia(ctx, t, c, v, store, cmd, req))(t)
			}
			put := func(k string) []*kvrpcpb.Mutation {
				return []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: []byte("v")}}
			}
			fl := call(transport.CmdFlush, &kvrpcpb.FlushRequest{Context: txnCtx(c, "k1"), PrimaryKey: []byte("k1"),
				StartTs: 5, MinCommitTs: 6, Generation: 1, LockTtl: 100, Mutations: put("k1")}).(*kvrpcpb.FlushResponse)
			eq(t, len(fl.Errors), 0, "flush: %v", fl.Errors)
			pw := call(transport.CmdPrewrite, &kvrpcpb.PrewriteRequest{Context: txnCtx(c, "k2"), PrimaryLock: []byte("k2"),
				StartVersion: 5, MinCommitTs: 6, LockTtl: 100, Mutations: put("k2")}).(*kvrpcpb.PrewriteResponse)
			eq(t, len(pw.Errors), 0, "prewrite: %v", pw.Errors)

			heartbeat := func(k string, minCommit uint64) *kvrpcpb.TxnHeartBeatResponse {
				t.Helper()
				r := call(transport.CmdTxnHeartBeat, &kvrpcpb.TxnHeartBeatRequest{Context: txnCtx(c, k), PrimaryLock: []byte(k),
					StartVersion: 5, AdviseLockTtl: 3333, MinCommitTs: minCommit}).(*kvrpcpb.TxnHeartBeatResponse)
				if r.Error != nil || r.RegionError != nil {
					t.Fatalf("heartbeat %s: %v", k, r)
				}
				return r
			}
			// blocked reports whether a read of k at ts meets the lock.
			blocked := func(k string, ts uint64) bool {
				t.Helper()
				r := call(transport.CmdGet, &kvrpcpb.GetRequest{Context: txnCtx(c, k), Key: []byte(k), Version: ts}).(*kvrpcpb.GetResponse)
				return r.Error.GetLocked() != nil
			}
			minCommit := func(k string) uint64 {
				t.Helper()
				r := call(transport.CmdScanLock, &kvrpcpb.ScanLockRequest{Context: txnCtx(c, k), StartKey: []byte(k),
					MaxVersion: 100, Limit: 1}).(*kvrpcpb.ScanLockResponse)
				if len(r.Locks) != 1 || string(r.Locks[0].Key) != k {
					t.Fatalf("scan lock %s: %v", k, r)
				}
				return r.Locks[0].MinCommitTs
			}
			eq(t, blocked("k1", 8), true, "a read at 8 before the heartbeat")
			eq(t, heartbeat("k1", 10).LockTtl, uint64(3333), "lock ttl")
			eq(t, minCommit("k1"), uint64(10), "min_commit_ts after the heartbeat")
			eq(t, blocked("k1", 8), false, "a read at 8 below the pushed min_commit_ts")
			eq(t, blocked("k1", 12), true, "a read at 12 above it")
			heartbeat("k1", 7)
			eq(t, minCommit("k1"), uint64(10), "a lower min_commit_ts is ignored")

			heartbeat("k2", 10)
			eq(t, minCommit("k2"), uint64(6), "a prewritten lock's min_commit_ts")
			eq(t, blocked("k2", 8), true, "a read at 8 of the prewritten lock")
		})
	}
}

// TestBroadcastTxnStatus: BroadcastTxnStatus over the three transports
// feeds the transaction status cache as TiKV's update_txn_status_cache
// does: a pipelined transaction's min commit ts while it runs (only ever
// raised), then its commit; a completion leaves the ongoing-large part,
// and the commit stays known to the normal part; a status TiKV would
// assert on changes nothing.
func TestBroadcastTxnStatus(t *testing.T) {
	for _, v := range allVias {
		t.Run(string(v), func(t *testing.T) {
			c := NewCluster(WithStores(2))
			if v != viaSender {
				noErr(t, c.Serve())
			}
			t.Cleanup(c.Close)
			ctx := timeout(t)
			send := func(store uint64, sts ...*kvrpcpb.TxnStatus) {
				t.Helper()
				resp := must(callVia(ctx, t, c, v, store, transport.CmdBroadcastTxnStatus,
					&kvrpcpb.BroadcastTxnStatusRequest{Context: &kvrpcpb.Context{}, TxnStatus: sts}))(t)
				if _, ok := resp.(*kvrpcpb.BroadcastTxnStatusResponse); !ok {
					t.Fatalf("response %T", resp)
				}
			}
			state := func(start uint64) string {
				s, ok := c.TxnStatus(start)
				if !ok {
					return "none"
				}
				return fmt.Sprintf("%d@%d", s.Kind, s.TS)
			}
			ids := c.StoreIDs()
			send(ids[0], &kvrpcpb.TxnStatus{StartTs: 10, MinCommitTs: 20})
			eq(t, state(10), fmt.Sprintf("%d@20", TxnCacheOngoing), "ongoing")
			send(ids[1], &kvrpcpb.TxnStatus{StartTs: 10, MinCommitTs: 15})
			eq(t, state(10), fmt.Sprintf("%d@20", TxnCacheOngoing), "a lower min commit ts is ignored")
			send(ids[1], &kvrpcpb.TxnStatus{StartTs: 10, MinCommitTs: 30})
			eq(t, state(10), fmt.Sprintf("%d@30", TxnCacheOngoing), "raised")
			send(ids[0], &kvrpcpb.TxnStatus{StartTs: 10, CommitTs: 25})
			eq(t, state(10), fmt.Sprintf("%d@30", TxnCacheOngoing), "a commit ts below the min commit ts is refused")
			send(ids[0], &kvrpcpb.TxnStatus{StartTs: 10, IsCompleted: true})
			eq(t, state(10), fmt.Sprintf("%d@30", TxnCacheOngoing), "an ongoing completion is refused")
			send(ids[0], &kvrpcpb.TxnStatus{StartTs: 10, MinCommitTs: 30, CommitTs: 40})
			eq(t, state(10), fmt.Sprintf("%d@40", TxnCacheCommitted), "committed")
			send(ids[0], &kvrpcpb.TxnStatus{StartTs: 10, RolledBack: true})
			eq(t, state(10), fmt.Sprintf("%d@40", TxnCacheCommitted), "a committed txn stays committed")
			send(ids[1], &kvrpcpb.TxnStatus{StartTs: 10, CommitTs: 40, IsCompleted: true})
			eq(t, state(10), fmt.Sprintf("%d@40", TxnCacheCommitted), "completed: the normal part keeps the commit")
			send(ids[0], &kvrpcpb.TxnStatus{StartTs: 50, MinCommitTs: 60}, &kvrpcpb.TxnStatus{StartTs: 70, MinCommitTs: 70})
			send(ids[0], &kvrpcpb.TxnStatus{StartTs: 50, RolledBack: true, IsCompleted: true})
			eq(t, state(50), fmt.Sprintf("%d@0", TxnCacheRolledBack), "rolled back")
			eq(t, state(70), fmt.Sprintf("%d@70", TxnCacheOngoing), "an ongoing txn at its start ts")
		})
	}
}
