package mocktikv

import (
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/mocktikv/internal/mvcc"
	"github.com/tikvgo/tikv/transport"
)

// txnCtx is the Context a client builds for a transactional key: the
// region containing its stored (memcomparable) form, at its leader.
func txnCtx(c *Cluster, key string) *kvrpcpb.Context {
	r, leader := c.RegionByKey(mvcc.EncodeKey([]byte(key)))
	return &kvrpcpb.Context{RegionId: r.Id, RegionEpoch: r.RegionEpoch, Peer: leader}
}

func TestTxnGRPCTwoPhaseCommit(t *testing.T) {
	c := Start(t)
	cli := dialStore(t, c, c.StoreIDs()[0])
	ctx := timeout(t)
	rctx := txnCtx(c, "a")
	pw := must(cli.KvPrewrite(ctx, &kvrpcpb.PrewriteRequest{
		Context: rctx, PrimaryLock: []byte("a"), StartVersion: 10, LockTtl: 3000, MinCommitTs: 11,
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("a"), Value: []byte("1")}, {Op: kvrpcpb.Op_Put, Key: []byte("b"), Value: []byte("2")}},
	}))(t)
	eq(t, len(pw.Errors), 0, "prewrite errors")

	get := must(cli.KvGet(ctx, &kvrpcpb.GetRequest{Context: rctx, Key: []byte("b"), Version: 20}))(t)
	eq(t, get.Error.GetLocked().GetLockVersion(), uint64(10), "reader meets the lock")
	eqBytes(t, get.Error.GetLocked().GetPrimaryLock(), []byte("a"), "lock's primary")

	cm := must(cli.KvCommit(ctx, &kvrpcpb.CommitRequest{Context: rctx, StartVersion: 10, CommitVersion: 15, Keys: [][]byte{[]byte("a"), []byte("b")}}))(t)
	eq(t, cm.CommitVersion, uint64(15), "commit version")

	get = must(cli.KvGet(ctx, &kvrpcpb.GetRequest{Context: rctx, Key: []byte("b"), Version: 20, NeedCommitTs: true}))(t)
	eqBytes(t, get.Value, []byte("2"), "value")
	eq(t, get.CommitTs, uint64(15), "commit ts")

	bg := must(cli.KvBatchGet(ctx, &kvrpcpb.BatchGetRequest{Context: rctx, Keys: [][]byte{[]byte("a"), []byte("x"), []byte("b")}, Version: 20}))(t)
	eq(t, len(bg.Pairs), 2, "not-found keys omitted")

	sc := must(cli.KvScan(ctx, &kvrpcpb.ScanRequest{Context: rctx, StartKey: []byte("a"), Limit: 10, Version: 20}))(t)
	eq(t, len(sc.Pairs), 2, "scan")

	info := must(cli.MvccGetByKey(ctx, &kvrpcpb.MvccGetByKeyRequest{Context: rctx, Key: []byte("a")}))(t)
	eq(t, len(info.Info.Writes), 1, "mvcc writes")
	byTS := must(cli.MvccGetByStartTs(ctx, &kvrpcpb.MvccGetByStartTsRequest{Context: rctx, StartTs: 10}))(t)
	eqBytes(t, byTS.Key, []byte("a"), "first key of txn 10")
}

func TestTxnGRPCRegionChecks(t *testing.T) {
	c := Start(t)
	must(c.SplitTxn([]byte("m")))(t)
	cli := dialStore(t, c, c.StoreIDs()[0])
	ctx := timeout(t)
	left := txnCtx(c, "a")

	// Out-of-region point access is an abort (a TiKV quirk), except for
	// an RC read, which gets KeyNotInRegion with the stored key.
	pw := must(cli.KvPrewrite(ctx, &kvrpcpb.PrewriteRequest{Context: left, PrimaryLock: []byte("z"), StartVersion: 10,
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("z"), Value: []byte("1")}}}))(t)
	if len(pw.Errors) != 1 || !strings.Contains(pw.Errors[0].Abort, "not in region") {
		t.Fatalf("prewrite outside the region: %v", pw)
	}
	get := must(cli.KvGet(ctx, &kvrpcpb.GetRequest{Context: left, Key: []byte("z"), Version: 20}))(t)
	eq(t, get.RegionError == nil && get.Error.GetAbort() != "", true, "SI get outside: abort")
	rc := *left
	rc.IsolationLevel = kvrpcpb.IsolationLevel_RC
	get = must(cli.KvGet(ctx, &kvrpcpb.GetRequest{Context: &rc, Key: []byte("z"), Version: 20}))(t)
	eqBytes(t, get.RegionError.GetKeyNotInRegion().GetKey(), mvcc.EncodeKey([]byte("z")), "RC get outside: KeyNotInRegion")

	// A scan bound past the region's end is InvalidReqRange (abort).
	sc := must(cli.KvScan(ctx, &kvrpcpb.ScanRequest{Context: left, StartKey: []byte("a"), EndKey: []byte("z"), Limit: 10, Version: 20}))(t)
	eq(t, sc.Error.GetAbort() != "" && len(sc.Pairs) == 1, true, "scan across the region end")

	// ScanLock's first seek must be in the region.
	sl := must(cli.KvScanLock(ctx, &kvrpcpb.ScanLockRequest{Context: left, StartKey: []byte("z"), MaxVersion: 100}))(t)
	eq(t, sl.RegionError.GetKeyNotInRegion() != nil, true, "scan lock outside")

	// A stale epoch is EpochNotMatch for txn commands too.
	stale := *left
	stale.RegionEpoch = &metapb.RegionEpoch{}
	cm := must(cli.KvCommit(ctx, &kvrpcpb.CommitRequest{Context: &stale, StartVersion: 10, CommitVersion: 11, Keys: [][]byte{[]byte("a")}}))(t)
	eq(t, cm.RegionError.GetEpochNotMatch() != nil, true, "epoch not match")

	// ResolveLock over the whole region leaves the other region alone.
	right := txnCtx(c, "z")
	for _, k := range []string{"a", "z"} {
		pw = must(cli.KvPrewrite(ctx, &kvrpcpb.PrewriteRequest{Context: txnCtx(c, k), PrimaryLock: []byte("a"), StartVersion: 30, LockTtl: 100,
			Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: []byte("v")}}}))(t)
		eq(t, len(pw.Errors), 0, "prewrite")
	}
	must(cli.KvResolveLock(ctx, &kvrpcpb.ResolveLockRequest{Context: left, StartVersion: 30}))(t)
	sl = must(cli.KvScanLock(ctx, &kvrpcpb.ScanLockRequest{Context: right, MaxVersion: 100}))(t)
	eq(t, len(sl.Locks), 1, "the right region's lock remains")
	sl = must(cli.KvScanLock(ctx, &kvrpcpb.ScanLockRequest{Context: left, MaxVersion: 100}))(t)
	eq(t, len(sl.Locks), 0, "the left region's lock is resolved")
}

func TestTxnGRPCAdminCommands(t *testing.T) {
	c := Start(t)
	cli := dialStore(t, c, c.StoreIDs()[0])
	ctx := timeout(t)
	rctx := txnCtx(c, "a")
	for i, k := range []string{"a", "b", "c", "d"} {
		pw := must(cli.KvPrewrite(ctx, &kvrpcpb.PrewriteRequest{Context: rctx, PrimaryLock: []byte(k), StartVersion: uint64(10 + i), LockTtl: 100,
			Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: []byte("v")}}}))(t)
		eq(t, len(pw.Errors), 0, "prewrite")
	}

	// KvGC is UNIMPLEMENTED in TiKV.
	_, err := cli.KvGC(ctx, &kvrpcpb.GCRequest{Context: rctx, SafePoint: 5})
	eq(t, status.Code(err), codes.Unimplemented, "KvGC")

	// An empty end key is not "unbounded" for KvDeleteRange.
	dr := must(cli.KvDeleteRange(ctx, &kvrpcpb.DeleteRangeRequest{Context: rctx, StartKey: []byte("a")}))(t)
	eq(t, dr.RegionError.GetMessage() != "", true, "empty end key")
	dr = must(cli.KvDeleteRange(ctx, &kvrpcpb.DeleteRangeRequest{Context: rctx, StartKey: []byte("a"), EndKey: []byte("b"), NotifyOnly: true}))(t)
	eq(t, dr.Error, "", "notify only")
	dr = must(cli.KvDeleteRange(ctx, &kvrpcpb.DeleteRangeRequest{Context: rctx, StartKey: []byte("a"), EndKey: []byte("b")}))(t)
	eq(t, dr.Error, "", "delete range")
	ud := must(cli.UnsafeDestroyRange(ctx, &kvrpcpb.UnsafeDestroyRangeRequest{StartKey: []byte("c"), EndKey: []byte("d")}))(t)
	eq(t, ud.Error, "", "unsafe destroy range")
	sl := must(cli.KvScanLock(ctx, &kvrpcpb.ScanLockRequest{Context: rctx, MaxVersion: 100}))(t)
	var left []string
	for _, l := range sl.Locks {
		left = append(left, string(l.Key))
	}
	eq(t, strings.Join(left, ","), "b,d", "locks left after the range deletions")

	hb := must(cli.KvTxnHeartBeat(ctx, &kvrpcpb.TxnHeartBeatRequest{Context: rctx, PrimaryLock: []byte("b"), StartVersion: 11, AdviseLockTtl: 500}))(t)
	eq(t, hb.LockTtl, uint64(500), "heartbeat")
	cs := must(cli.KvCheckTxnStatus(ctx, &kvrpcpb.CheckTxnStatusRequest{Context: rctx, PrimaryKey: []byte("b"), LockTs: 11, CurrentTs: 11}))(t)
	eq(t, cs.LockTtl, uint64(500), "check txn status sees the live lock")
	br := must(cli.KvBatchRollback(ctx, &kvrpcpb.BatchRollbackRequest{Context: rctx, StartVersion: 11, Keys: [][]byte{[]byte("b")}}))(t)
	eq(t, br.Error == nil, true, "rollback")
	cl := must(cli.KvCleanup(ctx, &kvrpcpb.CleanupRequest{Context: rctx, Key: []byte("d"), StartVersion: 13}))(t)
	eq(t, cl.Error == nil, true, "cleanup")
	sec := must(cli.KvCheckSecondaryLocks(ctx, &kvrpcpb.CheckSecondaryLocksRequest{Context: rctx, StartVersion: 13, Keys: [][]byte{[]byte("d")}}))(t)
	eq(t, len(sec.Locks), 0, "rolled back")
}

// TestTxnPessimisticLockInProcess runs the pessimistic commands through the
// in-process Sender, the path BatchCommands shares.
func TestTxnPessimisticLockInProcess(t *testing.T) {
	c := NewCluster()
	send := func(cmd transport.Cmd, msg transport.Message) transport.Message {
		t.Helper()
		r, leader := c.RegionByKey(mvcc.EncodeKey([]byte("k")))
		resp, err := c.Sender().Send(timeout(t), &transport.Request{Cmd: cmd, Target: transport.Target{StoreID: leader.StoreId},
			Msg: cmd.WithContext(msg, &kvrpcpb.Context{RegionId: r.Id, RegionEpoch: r.RegionEpoch, Peer: leader})})
		noErr(t, err)
		return resp.Msg
	}
	lock := func(start uint64) *kvrpcpb.PessimisticLockResponse {
		return send(transport.CmdPessimisticLock, &kvrpcpb.PessimisticLockRequest{
			PrimaryLock: []byte("k"), StartVersion: start, ForUpdateTs: start, LockTtl: 1000, WaitTimeout: -1, ReturnValues: true,
			Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte("k")}},
		}).(*kvrpcpb.PessimisticLockResponse)
	}
	r := lock(10)
	eq(t, len(r.Errors), 0, "first lock")
	eq(t, len(r.Values), 1, "return values")
	r = lock(20)
	eq(t, r.Errors[0].GetLocked().GetLockVersion(), uint64(10), "no-wait: locked by txn 10")
	send(transport.CmdPessimisticRollback, &kvrpcpb.PessimisticRollbackRequest{StartVersion: 10, ForUpdateTs: 10, Keys: [][]byte{[]byte("k")}})
	r = lock(20)
	eq(t, len(r.Errors), 0, "lock after the rollback")
}
