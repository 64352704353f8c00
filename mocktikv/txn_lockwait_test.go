package mocktikv

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/deadlock"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/mocktikv/internal/lockwait"
	"github.com/tikvgo/tikv/transport"
)

// Lock waiting and deadlock detection, exercised by concurrent clients, each
// goroutine playing one transaction: over real gRPC (one connection per
// client) and through the in-process Sender.

// lwClient is one client of a cluster: it sends a request to the leader of
// the (single) region and returns the response.
type lwClient func(ctx context.Context, cmd transport.Cmd, msg transport.Message) (transport.Message, error)

// lwTransport builds a cluster and its clients one way.
type lwTransport struct {
	name   string
	served bool
}

var lwTransports = []lwTransport{{"grpc", true}, {"in-process", false}}

// cluster returns a fresh cluster whose lock manager has opts, served if
// the transport is gRPC, closed when the test ends.
func (tr lwTransport) cluster(t *testing.T, opts ...lockwait.Option) *Cluster {
	t.Helper()
	c := NewCluster()
	if len(opts) > 0 {
		c.txn = newTxnState(opts...)
	}
	if tr.served {
		noErr(t, c.Serve())
	}
	t.Cleanup(c.Close)
	return c
}

// client returns a new client of c: its own gRPC connection, or the
// in-process Sender.
func (tr lwTransport) client(t *testing.T, c *Cluster) lwClient {
	t.Helper()
	// Every request is addressed to the region of "k" as it is when sent
	// (the tests' keys share one region until a test splits it).
	if !tr.served {
		return func(ctx context.Context, cmd transport.Cmd, msg transport.Message) (transport.Message, error) {
			rctx := addressed(c, cmd, msg)
			resp, err := c.Sender().Send(ctx, &transport.Request{Cmd: cmd, Target: transport.Target{StoreID: rctx.Peer.StoreId}, Msg: cmd.WithContext(msg, rctx)})
			if err != nil {
				return nil, err
			}
			return resp.Msg, nil
		}
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
		case *kvrpcpb.FlushRequest:
			return unary(ctx, cli.KvFlush, m)
		case *kvrpcpb.BufferBatchGetRequest:
			return unary(ctx, cli.KvBufferBatchGet, m)
		case *kvrpcpb.GetRequest:
			return unary(ctx, cli.KvGet, m)
		}
		return nil, fmt.Errorf("lwClient: no gRPC method for %T", msg)
	}
}

// addressed is the Context for msg: the region of "k" as it is now, keeping
// the resource group tag msg carries.
func addressed(c *Cluster, cmd transport.Cmd, msg transport.Message) *kvrpcpb.Context {
	rctx := txnCtx(c, "k")
	rctx.ResourceGroupTag = cmd.Context(msg).GetResourceGroupTag()
	return rctx
}

func unary[Q, R transport.Message](ctx context.Context, f func(context.Context, Q, ...grpc.CallOption) (R, error), req Q) (transport.Message, error) {
	resp, err := f(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// lockOpts are the knobs of a PessimisticLockRequest the tests turn.
type lockOpts struct {
	waitMs    int64 // wait_timeout
	force     bool  // WakeUpModeForceLock
	firstLock bool  // is_first_lock
	tag       string
}

func lockReq(key string, start, fut uint64, o lockOpts) *kvrpcpb.PessimisticLockRequest {
	req := &kvrpcpb.PessimisticLockRequest{
		Context:      &kvrpcpb.Context{ResourceGroupTag: []byte(o.tag)},
		PrimaryLock:  []byte(key),
		StartVersion: start, ForUpdateTs: fut, LockTtl: 3000,
		WaitTimeout: o.waitMs, IsFirstLock: o.firstLock,
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_PessimisticLock, Key: []byte(key)}},
	}
	if o.force {
		req.WakeUpMode = kvrpcpb.PessimisticLockWakeUpMode_WakeUpModeForceLock
	}
	return req
}

func (cl lwClient) lock(ctx context.Context, req *kvrpcpb.PessimisticLockRequest) (*kvrpcpb.PessimisticLockResponse, error) {
	resp, err := cl(ctx, transport.CmdPessimisticLock, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kvrpcpb.PessimisticLockResponse), nil
}

// mustLock acquires key for txn start at once.
func (cl lwClient) mustLock(t *testing.T, key string, start, fut uint64) {
	t.Helper()
	r := must(cl.lock(timeout(t), lockReq(key, start, fut, lockOpts{waitMs: -1})))(t)
	if len(r.Errors) > 0 || r.RegionError != nil {
		t.Fatalf("lock %s by %d: %v", key, start, r)
	}
}

// release rolls back txn start's pessimistic lock on key.
func (cl lwClient) release(ctx context.Context, key string, start, fut uint64) error {
	_, err := cl(ctx, transport.CmdPessimisticRollback, &kvrpcpb.PessimisticRollbackRequest{StartVersion: start, ForUpdateTs: fut, Keys: [][]byte{[]byte(key)}})
	return err
}

// commitPut turns txn start's pessimistic lock on key into a Put committed
// at commitTS.
func (cl lwClient) commitPut(t *testing.T, key string, start, fut, commitTS uint64) {
	t.Helper()
	pw := must(cl(timeout(t), transport.CmdPrewrite, &kvrpcpb.PrewriteRequest{
		PrimaryLock: []byte(key), StartVersion: start, ForUpdateTs: fut, LockTtl: 3000, MinCommitTs: start + 1,
		Mutations:          []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte(key), Value: []byte(fmt.Sprint(start))}},
		PessimisticActions: []kvrpcpb.PrewriteRequest_PessimisticAction{kvrpcpb.PrewriteRequest_DO_PESSIMISTIC_CHECK},
	}))(t).(*kvrpcpb.PrewriteResponse)
	if len(pw.Errors) > 0 {
		t.Fatalf("prewrite %d: %v", start, pw.Errors)
	}
	cm := must(cl(timeout(t), transport.CmdCommit, &kvrpcpb.CommitRequest{StartVersion: start, CommitVersion: commitTS, Keys: [][]byte{[]byte(key)}}))(t).(*kvrpcpb.CommitResponse)
	if cm.Error != nil {
		t.Fatalf("commit %d: %v", start, cm.Error)
	}
}

// waitQueued waits until n requests wait in c's lock manager.
func waitQueued(t *testing.T, c *Cluster, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := len(c.txn.waits.Dump())
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lock waiters, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// lockResult is one client's answer.
type lockResult struct {
	start uint64
	resp  *kvrpcpb.PessimisticLockResponse
	err   error
}

// TestLockWaitWakeUpOrder: three transactions wait on a key; they are woken
// in start_ts order, not arrival order (lock_waiting_queue.rs is a
// priority queue by start_ts), each by the release of the previous one.
// Legacy waiters answer WriteConflict(PessimisticRetry) and the client
// retries; force-lock waiters acquire the lock on wake-up.
func TestLockWaitWakeUpOrder(t *testing.T) {
	for _, tr := range lwTransports {
		for _, force := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/force=%v", tr.name, force), func(t *testing.T) {
				// No delayed wake-up: each release wakes only the head, so
				// the order is observable.
				c := tr.cluster(t, lockwait.WithWakeUpDelay(time.Hour))
				holder := tr.client(t, c)
				holder.mustLock(t, "k", 10, 10)

				type event struct {
					start uint64
					ke    *kvrpcpb.KeyError
					res   *kvrpcpb.PessimisticLockKeyResult
				}
				events := make(chan event, 3)
				errs := make(chan error, 3)
				var wg sync.WaitGroup
				for i, start := range []uint64{30, 20, 40} {
					cl := tr.client(t, c)
					wg.Go(func() {
						ctx := timeout(t)
						r, err := cl.lock(ctx, lockReq("k", start, start, lockOpts{force: force}))
						if err != nil {
							errs <- err
							return
						}
						ev := event{start: start}
						fut := start
						if force {
							// The lock is ours now, with a conflict.
							if len(r.Errors) > 0 || len(r.Results) != 1 {
								errs <- fmt.Errorf("txn %d: %v", start, r)
								return
							}
							ev.res = r.Results[0]
							fut = r.Results[0].LockedWithConflictTs
						} else {
							// The legacy answer; the client retries with a
							// fresh for_update_ts and gets the lock.
							if len(r.Errors) != 1 {
								errs <- fmt.Errorf("txn %d: %v", start, r)
								return
							}
							ev.ke = r.Errors[0]
							fut = 100
							r, err = cl.lock(ctx, lockReq("k", start, fut, lockOpts{waitMs: -1}))
							if err != nil || len(r.Errors) > 0 {
								errs <- fmt.Errorf("txn %d retry: %v %v", start, r, err)
								return
							}
						}
						events <- ev
						// Releasing the lock wakes the next waiter.
						if err := cl.release(ctx, "k", start, fut); err != nil {
							errs <- err
						}
					})
					// Arrival order 30, 20, 40.
					waitQueued(t, c, i+1)
				}
				holder.commitPut(t, "k", 10, 10, 50)
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				close(events)
				var order []uint64
				prev := uint64(10)
				for ev := range events {
					order = append(order, ev.start)
					if force {
						eq(t, ev.res.Type, kvrpcpb.PessimisticLockKeyResultType_LockResultLockedWithConflict, "txn %d result", ev.start)
						eq(t, ev.res.LockedWithConflictTs, uint64(50), "txn %d locked_with_conflict_ts", ev.start)
						continue
					}
					// Woken by the release of the previous holder: the
					// committed txn 10, then each rolled-back waiter.
					commitTS := uint64(0)
					if prev == 10 {
						commitTS = 50
					}
					eqProto(t, ev.ke.Conflict, &kvrpcpb.WriteConflict{
						StartTs: ev.start, ConflictTs: prev, ConflictCommitTs: commitTS,
						Key: []byte("k"), Primary: []byte("k"), Reason: kvrpcpb.WriteConflict_PessimisticRetry,
					}, fmt.Sprintf("txn %d conflict", ev.start))
					eq(t, ev.ke.Retryable != "", true, "txn %d: retryable set", ev.start)
					prev = ev.start
				}
				eq(t, fmt.Sprint(order), "[20 30 40]", "wake-up order")
				eq(t, len(c.txn.waits.Dump()), 0, "waiters left")
			})
		}
	}
}

// TestLockWaitDelayedWakeUp: with TiKV's default wake-up-delay-duration, one
// commit answers every legacy waiter: the head at once, the others after
// the delay, all with the WriteConflict of that commit.
func TestLockWaitDelayedWakeUp(t *testing.T) {
	for _, tr := range lwTransports {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.cluster(t)
			holder := tr.client(t, c)
			holder.mustLock(t, "k", 10, 10)
			results := make(chan lockResult, 3)
			var wg sync.WaitGroup
			for i, start := range []uint64{30, 20, 40} {
				cl := tr.client(t, c)
				wg.Go(func() {
					r, err := cl.lock(timeout(t), lockReq("k", start, start, lockOpts{}))
					results <- lockResult{start, r, err}
				})
				waitQueued(t, c, i+1)
			}
			holder.commitPut(t, "k", 10, 10, 15)
			wg.Wait()
			close(results)
			var order []uint64
			for r := range results {
				noErr(t, r.err)
				order = append(order, r.start)
				eq(t, len(r.resp.Errors), 1, "txn %d errors", r.start)
				wc := r.resp.Errors[0].Conflict
				eq(t, wc.GetConflictTs(), uint64(10), "txn %d conflict_ts", r.start)
				eq(t, wc.GetConflictCommitTs(), uint64(15), "txn %d conflict_commit_ts", r.start)
				eq(t, wc.GetStartTs(), r.start, "txn %d start_ts", r.start)
			}
			eq(t, order[0], uint64(20), "the head (smallest start_ts) is answered first")
		})
	}
}

// TestLockWaitTimeout: a waiter whose wait_timeout passes answers
// KeyError.locked with the blocking lock (+ results=[Failed] in force mode);
// waiter_manager.rs.
func TestLockWaitTimeout(t *testing.T) {
	for _, tr := range lwTransports {
		for _, force := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/force=%v", tr.name, force), func(t *testing.T) {
				c := tr.cluster(t)
				tr.client(t, c).mustLock(t, "k", 10, 10)
				began := time.Now()
				r := must(tr.client(t, c).lock(timeout(t), lockReq("k", 20, 20, lockOpts{waitMs: 100, force: force})))(t)
				if d := time.Since(began); d < 100*time.Millisecond {
					t.Fatalf("answered after %v, before the wait timeout", d)
				}
				eq(t, len(r.Errors), 1, "errors")
				l := r.Errors[0].Locked
				eq(t, l.GetLockVersion(), uint64(10), "blocking txn")
				eqBytes(t, l.GetKey(), []byte("k"), "locked key")
				eq(t, l.GetLockType(), kvrpcpb.Op_PessimisticLock, "lock type")
				eq(t, l.GetDurationToLastUpdateMs(), uint64(0), "never updated")
				if force {
					eq(t, len(r.Results), 1, "results")
					eq(t, r.Results[0].Type, kvrpcpb.PessimisticLockKeyResultType_LockResultFailed, "result")
				} else {
					eq(t, len(r.Results), 0, "results")
				}
				eq(t, len(c.txn.waits.Dump()), 0, "waiters left")
			})
		}
	}
}

// TestLockWaitNoWait: a negative wait_timeout answers at once with the lock
// and never queues (WaitTimeout::from_encoded).
func TestLockWaitNoWait(t *testing.T) {
	for _, tr := range lwTransports {
		for _, force := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/force=%v", tr.name, force), func(t *testing.T) {
				c := tr.cluster(t)
				tr.client(t, c).mustLock(t, "k", 10, 10)
				began := time.Now()
				r := must(tr.client(t, c).lock(timeout(t), lockReq("k", 20, 20, lockOpts{waitMs: -1, force: force})))(t)
				if d := time.Since(began); d >= lockwait.DefaultWaitForLockTimeout {
					t.Fatalf("no-wait request answered after %v", d)
				}
				eq(t, r.Errors[0].GetLocked().GetLockVersion(), uint64(10), "locked by txn 10")
				eq(t, len(r.Results) == 1 && r.Results[0].Type == kvrpcpb.PessimisticLockKeyResultType_LockResultFailed, force, "results=[Failed] iff force")
				eq(t, len(c.txn.waits.Dump()), 0, "never queued")
			})
		}
	}
}

// hold starts a request expected to wait and returns its result channel.
func hold(t *testing.T, cl lwClient, ctx context.Context, req *kvrpcpb.PessimisticLockRequest) <-chan lockResult {
	ch := make(chan lockResult, 1)
	go func() {
		r, err := cl.lock(ctx, req)
		ch <- lockResult{req.StartVersion, r, err}
	}()
	return ch
}

func edge(txn, waitFor uint64, key, tag string) *deadlock.WaitForEntry {
	return &deadlock.WaitForEntry{Txn: txn, WaitForTxn: waitFor, Key: []byte(key), KeyHash: lockwait.KeyHash([]byte(key)), ResourceGroupTag: []byte(tag)}
}

// TestLockWaitDeadlock: the request that would close a cycle of waits is
// answered KeyError.deadlock at once (deadlock.rs): lock_ts and lock_key
// are what it waited for, deadlock_key_hash the key of the cycle's edge
// into its own txn, and the wait chain runs from the edge leaving lock_ts
// to its own edge, last. The other waiters are not failed.
func TestLockWaitDeadlock(t *testing.T) {
	type holding struct {
		start uint64
		key   string
	}
	for _, c := range []struct {
		name string
		// Each txn holds key; waits lists, in order, "txn waits for key".
		holds    []holding
		waits    []holding
		closing  holding // the request that closes the cycle
		hashKey  string
		chain    []*deadlock.WaitForEntry
		lockedTS uint64
	}{
		{
			name:    "two txns",
			holds:   []holding{{10, "a"}, {20, "b"}},
			waits:   []holding{{10, "b"}},
			closing: holding{20, "a"}, hashKey: "b", lockedTS: 10,
			chain: []*deadlock.WaitForEntry{edge(10, 20, "b", "t10"), edge(20, 10, "a", "t20")},
		},
		{
			name:    "three txns",
			holds:   []holding{{10, "a"}, {20, "b"}, {30, "c"}},
			waits:   []holding{{10, "b"}, {20, "c"}},
			closing: holding{30, "a"}, hashKey: "c", lockedTS: 10,
			chain: []*deadlock.WaitForEntry{edge(10, 20, "b", "t10"), edge(20, 30, "c", "t20"), edge(30, 10, "a", "t30")},
		},
	} {
		for _, tr := range lwTransports {
			for _, force := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/force=%v", c.name, tr.name, force), func(t *testing.T) {
					cl := tr.cluster(t)
					clients := map[uint64]lwClient{}
					for _, h := range c.holds {
						clients[h.start] = tr.client(t, cl)
						clients[h.start].mustLock(t, h.key, h.start, h.start)
					}
					tag := func(start uint64) string { return fmt.Sprintf("t%d", start) }
					var waiting []<-chan lockResult
					for i, w := range c.waits {
						waiting = append(waiting, hold(t, clients[w.start], timeout(t), lockReq(w.key, w.start, w.start, lockOpts{force: force, tag: tag(w.start)})))
						waitQueued(t, cl, i+1)
					}
					r := must(clients[c.closing.start].lock(timeout(t), lockReq(c.closing.key, c.closing.start, c.closing.start, lockOpts{force: force, tag: tag(c.closing.start)})))(t)
					eq(t, len(r.Errors), 1, "errors of the closing request")
					eqProto(t, r.Errors[0], &kvrpcpb.KeyError{Deadlock: &kvrpcpb.Deadlock{
						LockTs: c.lockedTS, LockKey: []byte(c.closing.key),
						DeadlockKeyHash: lockwait.KeyHash([]byte(c.hashKey)),
						WaitChain:       c.chain,
					}}, "deadlock error")
					eq(t, len(r.Results) == 1 && r.Results[0].Type == kvrpcpb.PessimisticLockKeyResultType_LockResultFailed, force, "results=[Failed] iff force")
					eq(t, len(cl.txn.waits.Dump()), len(c.waits), "the others still wait")

					// The failed txn rolls back; the waits unwind, none of
					// them a deadlock.
					for i := len(c.holds) - 1; i >= 0; i-- {
						h := c.holds[i]
						noErr(t, clients[h.start].release(timeout(t), h.key, h.start, 100))
						if i == 0 {
							break
						}
						got := <-waiting[i-1]
						noErr(t, got.err)
						for _, e := range got.resp.Errors {
							if e.Deadlock != nil {
								t.Fatalf("txn %d got a second deadlock: %v", got.start, e)
							}
						}
						if force {
							eq(t, len(got.resp.Errors), 0, "txn %d acquires after the rollback", got.start)
						} else {
							eq(t, got.resp.Errors[0].GetConflict().GetConflictTs(), h.start, "txn %d woken by the rollback", got.start)
						}
					}
				})
			}
		}
	}
}

// TestLockWaitIsFirstLock: a request that is its transaction's first lock
// is never checked for deadlock (LockManager::wait_for): it waits instead.
func TestLockWaitIsFirstLock(t *testing.T) {
	tr := lwTransports[1]
	c := tr.cluster(t)
	a, b := tr.client(t, c), tr.client(t, c)
	a.mustLock(t, "a", 10, 10)
	b.mustLock(t, "b", 20, 20)
	w := hold(t, a, timeout(t), lockReq("b", 10, 10, lockOpts{}))
	waitQueued(t, c, 1)
	r := must(b.lock(timeout(t), lockReq("a", 20, 20, lockOpts{waitMs: 50, firstLock: true})))(t)
	eq(t, r.Errors[0].GetLocked().GetLockVersion(), uint64(10), "times out instead of a deadlock")
	noErr(t, b.release(timeout(t), "b", 20, 20))
	eq(t, (<-w).resp.Errors[0].GetConflict().GetConflictTs(), uint64(20), "woken")
}

// TestLockWaitCanceled: a waiter whose RPC ctx ends leaves the queue and the
// deadlock detector; no goroutine is left behind and a later request of the
// txn it waited for sees no false deadlock.
func TestLockWaitCanceled(t *testing.T) {
	for _, tr := range lwTransports {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.cluster(t)
			a, b := tr.client(t, c), tr.client(t, c)
			a.mustLock(t, "a", 10, 10)
			b.mustLock(t, "b", 20, 20)
			// Every goroutine that serves or sends b's next request must go.
			ignore := goleak.IgnoreCurrent()

			ctx, cancel := context.WithCancel(context.Background())
			w := hold(t, b, ctx, lockReq("a", 20, 20, lockOpts{}))
			waitQueued(t, c, 1)
			cancel()
			r := <-w
			if tr.served {
				eq(t, status.Code(r.err), codes.Canceled, "canceled RPC")
			} else {
				noErr(t, r.err)
				eq(t, r.resp.Errors[0].GetLocked().GetLockVersion(), uint64(10), "canceled in-process wait: the no-wait answer")
			}
			waitQueued(t, c, 0)
			goleak.VerifyNone(t, ignore)

			// Were the edge 20 -> 10 left behind, this would be a deadlock.
			r2 := must(a.lock(timeout(t), lockReq("b", 10, 10, lockOpts{waitMs: 50})))(t)
			eq(t, r2.Errors[0].GetDeadlock() == nil, true, "no deadlock")
			eq(t, r2.Errors[0].GetLocked().GetLockVersion(), uint64(20), "times out on txn 20's lock")
		})
	}
}

// TestLockWaitClusterClose: closing the cluster ends every wait.
func TestLockWaitClusterClose(t *testing.T) {
	tr := lwTransports[1]
	c := tr.cluster(t)
	a := tr.client(t, c)
	a.mustLock(t, "k", 10, 10)
	w := hold(t, tr.client(t, c), timeout(t), lockReq("k", 20, 20, lockOpts{}))
	waitQueued(t, c, 1)
	c.Close()
	r := <-w
	noErr(t, r.err)
	eq(t, r.resp.Errors[0].GetLocked().GetLockVersion(), uint64(10), "the no-wait answer")
}

// TestLockWaitResumeRegionError: a woken force-lock request re-checks its
// region (acquire_pessimistic_lock_resumed.rs); if the region changed while
// it waited, it answers region_error together with results=[Failed], the
// only response mixing the two.
func TestLockWaitResumeRegionError(t *testing.T) {
	for _, tr := range lwTransports {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.cluster(t)
			holder := tr.client(t, c)
			holder.mustLock(t, "k", 10, 10)
			w := hold(t, tr.client(t, c), timeout(t), lockReq("k", 20, 20, lockOpts{force: true}))
			waitQueued(t, c, 1)
			must(c.SplitTxn([]byte("m")))(t)
			noErr(t, holder.release(timeout(t), "k", 10, 10))
			r := <-w
			noErr(t, r.err)
			eq(t, r.resp.RegionError.GetEpochNotMatch() != nil, true, "EpochNotMatch after the split")
			eq(t, len(r.resp.Results), 1, "results")
			eq(t, r.resp.Results[0].Type, kvrpcpb.PessimisticLockKeyResultType_LockResultFailed, "result")
			eq(t, len(r.resp.Errors), 0, "no key errors")
		})
	}
}

// TestLockWaitTimeoutVirtual checks the deadline rules in virtual time
// (waiter_manager.rs normalize_deadline, cancel_for_timeout): wait_timeout 0
// waits the 1 s wait-for-lock-timeout, a larger one is capped at it, a
// smaller one is kept; and a waiter whose key got a new holder while it
// waited reports that holder's lock with duration_to_last_update_ms.
func TestLockWaitTimeoutVirtual(t *testing.T) {
	for _, c := range []struct {
		waitMs int64
		want   time.Duration
	}{{0, time.Second}, {5000, time.Second}, {300, 300 * time.Millisecond}} {
		t.Run(fmt.Sprint(c.waitMs), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := lwTransports[1]
				cl := tr.cluster(t)
				tr.client(t, cl).mustLock(t, "k", 10, 10)
				began := time.Now()
				r := must(tr.client(t, cl).lock(t.Context(), lockReq("k", 20, 20, lockOpts{waitMs: c.waitMs})))(t)
				eq(t, time.Since(began), c.want, "waited")
				eq(t, r.Errors[0].GetLocked().GetLockVersion(), uint64(10), "locked by txn 10")
			})
		})
	}
	t.Run("new holder", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tr := lwTransports[1]
			cl := tr.cluster(t)
			holder := tr.client(t, cl)
			holder.mustLock(t, "k", 10, 10)
			// Force-lock txn 20 is the head; txn 30 waits behind it.
			w20 := hold(t, tr.client(t, cl), t.Context(), lockReq("k", 20, 20, lockOpts{force: true}))
			synctest.Wait()
			w30 := hold(t, tr.client(t, cl), t.Context(), lockReq("k", 30, 30, lockOpts{waitMs: 500}))
			synctest.Wait()
			time.Sleep(100 * time.Millisecond)
			noErr(t, holder.release(t.Context(), "k", 10, 10))
			r20 := <-w20
			eq(t, r20.resp.Results[0].GetType(), kvrpcpb.PessimisticLockKeyResultType_LockResultNormal, "txn 20 acquires")
			r30 := <-w30
			l := r30.resp.Errors[0].GetLocked()
			eq(t, l.GetLockVersion(), uint64(20), "txn 30 times out on the new holder")
			eq(t, l.GetDurationToLastUpdateMs(), uint64(400), "ms since the holder changed")
		})
	})
}

// TestLockWaitBatchCommands: a waiting PessimisticLock inside a
// BatchCommands stream does not hold up the stream; the release sent on the
// same stream wakes it, and both are answered by request id.
func TestLockWaitBatchCommands(t *testing.T) {
	c := lwTransports[0].cluster(t)
	rctx := txnCtx(c, "k")
	lwTransports[0].client(t, c).mustLock(t, "k", 10, 10)
	stream := openBatch(timeout(t), t, c, rctx.Peer.StoreId)
	wait := lockReq("k", 20, 20, lockOpts{})
	wait.Context = rctx
	noErr(t, stream.Send(&tikvpb.BatchCommandsRequest{RequestIds: []uint64{1}, Requests: []*tikvpb.BatchCommandsRequest_Request{wrapBatchRequest(t, transport.CmdPessimisticLock, wait)}}))
	waitQueued(t, c, 1)
	release := &kvrpcpb.PessimisticRollbackRequest{Context: rctx, StartVersion: 10, ForUpdateTs: 10, Keys: [][]byte{[]byte("k")}}
	noErr(t, stream.Send(&tikvpb.BatchCommandsRequest{RequestIds: []uint64{2}, Requests: []*tikvpb.BatchCommandsRequest_Request{wrapBatchRequest(t, transport.CmdPessimisticRollback, release)}}))
	got := recvIDs(t, stream, 2)
	eq(t, got[2].GetPessimisticRollback() != nil, true, "release answered")
	wc := got[1].GetPessimisticLock().GetErrors()[0].GetConflict()
	eq(t, wc.GetConflictTs(), uint64(10), "the waiter is woken by the release")
	noErr(t, stream.CloseSend())
}
