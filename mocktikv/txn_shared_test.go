package mocktikv

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/deadlock"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tikvgo/tikv/mocktikv/internal/lockwait"
	"github.com/tikvgo/tikv/transport"
)

// Shared locks through the whole server: lock waiting on SharedLocks,
// deadlocks through them, and the transactional commands, over gRPC and
// in process (TiKV's SharedLocks, acquire_pessimistic_lock.rs,
// lock_waiting_queue.rs).

// shClient is a client of every command these tests send: the in-process
// Sender, or its own gRPC connection.
func shClient(t *testing.T, tr lwTransport, c *Cluster) lwClient {
	t.Helper()
	if !tr.served {
		return tr.client(t, c)
	}
	conn := must(grpc.NewClient(c.StoreAddr(c.StoreIDs()[0]), grpc.WithTransportCredentials(insecure.NewCredentials())))(t)
	t.Cleanup(func() { conn.Close() })
	cli := tikvpb.NewTikvClient(conn)
	return func(ctx context.Context, cmd transport.Cmd, msg transport.Message) (transport.Message, error) {
		msg = cmd.WithContext(msg, addressed(c, cmd, msg))
		switch m := msg.(type) {
		case *kvrpcpb.PessimisticLockRequest:
			return unary(ctx, cli.KvPessimisticLock, m)
		case *kvrpcpb.PessimisticRollbackRequest:
			return unary(ctx, cli.KVPessimisticRollback, m)
		case *kvrpcpb.PrewriteRequest:
			return unary(ctx, cli.KvPrewrite, m)
		case *kvrpcpb.CommitRequest:
			return unary(ctx, cli.KvCommit, m)
		case *kvrpcpb.GetRequest:
			return unary(ctx, cli.KvGet, m)
		case *kvrpcpb.ScanLockRequest:
			return unary(ctx, cli.KvScanLock, m)
		case *kvrpcpb.CheckTxnStatusRequest:
			return unary(ctx, cli.KvCheckTxnStatus, m)
		case *kvrpcpb.BatchRollbackRequest:
			return unary(ctx, cli.KvBatchRollback, m)
		case *kvrpcpb.ResolveLockRequest:
			return unary(ctx, cli.KvResolveLock, m)
		}
		return nil, fmt.Errorf("shClient: no gRPC method for %T", msg)
	}
}

// slock is a shared pessimistic lock request of txn start on key, with
// primary p<start> (a shared-locked key is never a primary).
func slock(key string, start uint64, o lockOpts) *kvrpcpb.PessimisticLockRequest {
	req := lockReq(key, start, start, o)
	req.PrimaryLock = []byte(fmt.Sprintf("p%d", start))
	req.Mutations[0].Op = kvrpcpb.Op_SharedPessimisticLock
	return req
}

// xlock is an exclusive pessimistic lock request with primary p<start>.
func xlock(key string, start uint64, o lockOpts) *kvrpcpb.PessimisticLockRequest {
	req := lockReq(key, start, start, o)
	req.PrimaryLock = []byte(fmt.Sprintf("p%d", start))
	return req
}

func (cl lwClient) mustLockReq(t *testing.T, req *kvrpcpb.PessimisticLockRequest) {
	t.Helper()
	r := must(cl.lock(timeout(t), req))(t)
	if len(r.Errors) > 0 || r.RegionError != nil {
		t.Fatalf("lock by %d: %v", req.StartVersion, r)
	}
}

// lockHolders renders a LockInfo as "SharedLock[10,20]" or "Op@ts".
func lockHolders(l *kvrpcpb.LockInfo) string {
	if l == nil {
		return "none"
	}
	if l.LockType != kvrpcpb.Op_SharedLock {
		return fmt.Sprintf("%s@%d", l.LockType, l.LockVersion)
	}
	var hs []string
	for _, h := range l.SharedLockInfos {
		hs = append(hs, fmt.Sprint(h.LockVersion))
	}
	return "SharedLock[" + strings.Join(hs, ",") + "]"
}

// lockedBy is the holders of the first error's lock.
func lockedBy(r *kvrpcpb.PessimisticLockResponse) string {
	if len(r.Errors) == 0 {
		return "no error"
	}
	return lockHolders(r.Errors[0].GetLocked())
}

// TestSharedLockWait: an exclusive request meeting shared holders fails at
// once the first time, marking the container shrink-only; then it waits
// for the last holder, not woken while others remain; new shared requests
// queue behind it. Shared waiters at the head of a queue are woken
// together (pop_for_waking_up).
func TestSharedLockWait(t *testing.T) {
	for _, tr := range lwTransports {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.cluster(t, lockwait.WithWakeUpDelay(time.Hour))
			cl := shClient(t, tr, c)
			cl.mustLockReq(t, slock("k", 10, lockOpts{waitMs: -1}))
			cl.mustLockReq(t, slock("k", 20, lockOpts{waitMs: -1}))

			r := must(cl.lock(timeout(t), xlock("k", 30, lockOpts{})))(t)
			eq(t, lockedBy(r), "SharedLock[10,20]", "first exclusive request fails at once")
			eq(t, len(c.txn.waits.Dump()), 0, "and does not wait")

			w30 := hold(t, shClient(t, tr, c), timeout(t), xlock("k", 30, lockOpts{}))
			waitQueued(t, c, 1)
			w40 := hold(t, shClient(t, tr, c), timeout(t), slock("k", 40, lockOpts{}))
			waitQueued(t, c, 2)

			noErr(t, cl.release(timeout(t), "k", 10, 10))
			eq(t, len(c.txn.waits.Dump()), 2, "one holder left: nobody woken")
			noErr(t, cl.release(timeout(t), "k", 20, 20))
			got := <-w30
			noErr(t, got.err)
			eq(t, got.resp.Errors[0].GetConflict().GetConflictTs(), uint64(20), "the head is woken by the last holder's release")
			eq(t, len(c.txn.waits.Dump()), 1, "the shared request still waits")
			cl.mustLockReq(t, xlock("k", 30, lockOpts{waitMs: -1}))
			noErr(t, cl.release(timeout(t), "k", 30, 30))
			got = <-w40
			noErr(t, got.err)
			eq(t, got.resp.Errors[0].GetConflict().GetConflictTs(), uint64(30), "the shared request is woken next")
		})
	}
	t.Run("shared group", func(t *testing.T) {
		tr := lwTransports[1]
		c := tr.cluster(t, lockwait.WithWakeUpDelay(time.Hour))
		cl := shClient(t, tr, c)
		cl.mustLockReq(t, xlock("k", 10, lockOpts{waitMs: -1}))
		var shared []<-chan lockResult
		for i, start := range []uint64{20, 30} {
			shared = append(shared, hold(t, cl, timeout(t), slock("k", start, lockOpts{})))
			waitQueued(t, c, i+1)
		}
		w40 := hold(t, cl, timeout(t), xlock("k", 40, lockOpts{}))
		waitQueued(t, c, 3)
		r := must(cl.lock(timeout(t), slock("k", 50, lockOpts{waitMs: -1})))(t)
		eq(t, lockedBy(r), "PessimisticLock@10", "a shared request is blocked by an exclusive lock")

		noErr(t, cl.release(timeout(t), "k", 10, 10))
		for _, ch := range shared {
			got := <-ch
			eq(t, got.resp.Errors[0].GetConflict().GetConflictTs(), uint64(10), "shared waiter %d woken", got.start)
		}
		eq(t, len(c.txn.waits.Dump()), 1, "the exclusive waiter behind them still waits")
		// Woken shared requests retry and share the key.
		cl.mustLockReq(t, slock("k", 20, lockOpts{waitMs: -1}))
		cl.mustLockReq(t, slock("k", 30, lockOpts{waitMs: -1}))
		noErr(t, cl.release(timeout(t), "k", 20, 20))
		noErr(t, cl.release(timeout(t), "k", 30, 30))
		got := <-w40
		eq(t, got.resp.Errors[0].GetConflict().GetConflictTs(), uint64(30), "the exclusive waiter is woken by the last holder")
	})
	t.Run("force-lock resume meets shared locks", func(t *testing.T) {
		// A resumed force-lock request that meets a SharedLocks fails the
		// key with KeyIsLocked instead of waiting again, and does not make
		// the container shrink-only (acquire_pessimistic_lock_resumed.rs,
		// scheduler.rs on_wait_for_lock_after_resuming).
		c := lwTransports[1].cluster(t)
		cl := shClient(t, lwTransports[1], c)
		cl.mustLockReq(t, slock("k", 10, lockOpts{waitMs: -1}))
		req := xlock("k", 30, lockOpts{force: true})
		req.Context = txnCtx(c, "k")
		w := c.txn.waits.Enqueue(lockwait.Request{Key: []byte("k"), StartTS: 30, Lock: &kvrpcpb.LockInfo{Key: []byte("k"), LockVersion: 5}, AllowLockWithConflict: true})
		defer w.Done()
		resp, requeued := c.resumePessimisticLock(req.Context.Peer.StoreId, req, w)
		eq(t, requeued, false, "not requeued")
		eq(t, lockedBy(resp), "SharedLock[10]", "KeyIsLocked of the container")
		eq(t, len(resp.Results) == 1 && resp.Results[0].Type == kvrpcpb.PessimisticLockKeyResultType_LockResultFailed, true, "results=[Failed]")
		// Not shrink-only: another shared holder may still join.
		cl.mustLockReq(t, slock("k", 20, lockOpts{waitMs: -1}))
	})
}

// TestSharedLockDeadlock: a wait for a SharedLocks waits for every holder,
// so a cycle through one holder is a deadlock (waiter_manager.rs checks one
// edge per holder).
func TestSharedLockDeadlock(t *testing.T) {
	for _, tr := range lwTransports {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.cluster(t)
			cl10, cl20 := shClient(t, tr, c), shClient(t, tr, c)
			cl10.mustLockReq(t, slock("a", 10, lockOpts{waitMs: -1}))
			cl20.mustLockReq(t, slock("a", 20, lockOpts{waitMs: -1}))
			cl20.mustLockReq(t, xlock("b", 20, lockOpts{waitMs: -1}))
			w10 := hold(t, cl10, timeout(t), xlock("b", 10, lockOpts{tag: "t10"}))
			waitQueued(t, c, 1)

			// Txn 20 wants "a" exclusively: the first try marks it
			// shrink-only, the second waits for 10 and itself, and the
			// wait for 10 closes the cycle.
			r := must(cl20.lock(timeout(t), xlock("a", 20, lockOpts{tag: "t20"})))(t)
			eq(t, lockedBy(r), "SharedLock[10,20]", "first try")
			r = must(cl20.lock(timeout(t), xlock("a", 20, lockOpts{tag: "t20"})))(t)
			eqProto(t, r.Errors[0], &kvrpcpb.KeyError{Deadlock: &kvrpcpb.Deadlock{
				LockTs: 10, LockKey: []byte("a"), DeadlockKeyHash: lockwait.KeyHash([]byte("b")),
				WaitChain: []*deadlock.WaitForEntry{edge(10, 20, "b", "t10"), edge(20, 10, "a", "t20")},
			}}, "deadlock")

			noErr(t, cl20.release(timeout(t), "b", 20, 20))
			got := <-w10
			eq(t, got.resp.Errors[0].GetConflict().GetConflictTs(), uint64(20), "txn 10 woken")
		})
	}
}

// TestSharedLockWaitTimeout: a wait for a SharedLocks times out with the
// container as the lock (KeyIsLocked of SharedLocks::into_lock_info).
func TestSharedLockWaitTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := lwTransports[1]
		c := tr.cluster(t)
		cl := shClient(t, tr, c)
		cl.mustLockReq(t, slock("k", 10, lockOpts{waitMs: -1}))
		must(cl.lock(t.Context(), xlock("k", 30, lockOpts{})))(t)
		began := time.Now()
		r := must(cl.lock(t.Context(), xlock("k", 30, lockOpts{waitMs: 300})))(t)
		eq(t, time.Since(began), 300*time.Millisecond, "waited")
		l := r.Errors[0].GetLocked()
		eq(t, lockHolders(l), "SharedLock[10]", "timed out on the container")
		eqBytes(t, l.GetKey(), []byte("k"), "key")
		eqBytes(t, l.SharedLockInfos[0].GetPrimaryLock(), []byte("p10"), "holder's primary")
	})
}

// TestSharedLockTxn: a shared lock's life through the transactional
// commands: readers pass it, it is prewritten with Op_SharedLock next to
// the transaction's primary and committed as a Lock record, status checks
// on it are PrimaryMismatch, and rollback / ResolveLock take one holder
// out at a time.
func TestSharedLockTxn(t *testing.T) {
	for _, tr := range lwTransports {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.cluster(t)
			cl := shClient(t, tr, c)
			send := func(cmd transport.Cmd, msg transport.Message) transport.Message {
				t.Helper()
				return must(cl(timeout(t), cmd, msg))(t)
			}
			cl.commitPut(t, "k", 1, 1, 2)
			for _, start := range []uint64{10, 20, 30} {
				cl.mustLockReq(t, slock("k", start, lockOpts{waitMs: -1}))
				cl.mustLockReq(t, xlock(fmt.Sprintf("p%d", start), start, lockOpts{waitMs: -1}))
			}
			get := send(transport.CmdGet, &kvrpcpb.GetRequest{Key: []byte("k"), Version: 100}).(*kvrpcpb.GetResponse)
			eqBytes(t, get.Value, []byte("1"), "a read passes the shared locks")

			sl := send(transport.CmdScanLock, &kvrpcpb.ScanLockRequest{MaxVersion: 100, StartKey: []byte("k"), EndKey: []byte("l")}).(*kvrpcpb.ScanLockResponse)
			eq(t, len(sl.Locks) == 1 && lockHolders(sl.Locks[0]) == "SharedLock[10,20,30]", true, "scan lock")

			cts := send(transport.CmdCheckTxnStatus, &kvrpcpb.CheckTxnStatusRequest{PrimaryKey: []byte("k"), LockTs: 10, CurrentTs: 100, RollbackIfNotExist: true}).(*kvrpcpb.CheckTxnStatusResponse)
			eq(t, lockHolders(cts.Error.GetPrimaryMismatch().GetLockInfo()), "SharedLock[10,20,30]", "check_txn_status on a shared key")

			// Txn 10 commits: the shared key and its primary.
			pw := send(transport.CmdPrewrite, &kvrpcpb.PrewriteRequest{
				PrimaryLock: []byte("p10"), StartVersion: 10, ForUpdateTs: 10, LockTtl: 3000, MinCommitTs: 11,
				Mutations: []*kvrpcpb.Mutation{
					{Op: kvrpcpb.Op_Put, Key: []byte("p10"), Value: []byte("x")},
					{Op: kvrpcpb.Op_SharedLock, Key: []byte("k")},
				},
				PessimisticActions: []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK, kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK},
			}).(*kvrpcpb.PrewriteResponse)
			eq(t, len(pw.Errors), 0, "prewrite errors")
			cm := send(transport.CmdCommit, &kvrpcpb.CommitRequest{StartVersion: 10, CommitVersion: 15, Keys: [][]byte{[]byte("p10"), []byte("k")}}).(*kvrpcpb.CommitResponse)
			eq(t, cm.Error, (*kvrpcpb.KeyError)(nil), "commit")

			// Txn 20 rolls back; txn 30 is resolved as committed.
			rb := send(transport.CmdBatchRollback, &kvrpcpb.BatchRollbackRequest{StartVersion: 20, Keys: [][]byte{[]byte("k"), []byte("p20")}}).(*kvrpcpb.BatchRollbackResponse)
			eq(t, rb.Error, (*kvrpcpb.KeyError)(nil), "rollback")
			sl = send(transport.CmdScanLock, &kvrpcpb.ScanLockRequest{MaxVersion: 100, StartKey: []byte("k"), EndKey: []byte("l")}).(*kvrpcpb.ScanLockResponse)
			eq(t, len(sl.Locks) == 1 && lockHolders(sl.Locks[0]) == "SharedLock[30]", true, "one holder left")
			rl := send(transport.CmdResolveLock, &kvrpcpb.ResolveLockRequest{StartVersion: 30, CommitVersion: 35}).(*kvrpcpb.ResolveLockResponse)
			eq(t, rl.Error, (*kvrpcpb.KeyError)(nil), "resolve")
			sl = send(transport.CmdScanLock, &kvrpcpb.ScanLockRequest{MaxVersion: 100}).(*kvrpcpb.ScanLockResponse)
			eq(t, len(sl.Locks), 0, "no locks left")

			info := c.txn.store.MvccGetByKey([]byte("k"))
			var ws []string
			for _, w := range info.Writes {
				ws = append(ws, fmt.Sprintf("%s@%d", w.Type, w.CommitTs))
			}
			eq(t, strings.Join(ws, " "), "Rollback@20 Lock@15 Put@2", "k's records")
		})
	}
}
